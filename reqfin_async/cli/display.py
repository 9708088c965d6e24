"""The live progress line and the final tables of ``demo`` and ``watch``."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

import anyio

from ..poller import PollerStats, StatusPoller

__all__ = ["ProgressDisplay", "table"]

_REFRESH_S = 0.5
_PLAIN_EVERY_S = 5.0  # without a terminal, a line every few seconds is enough


class ProgressDisplay:
    """A one-line live view of a poller: watching, by status, finished, requests per second.

    On a terminal the line is redrawn in place; in a log or a pipe a line is
    printed every few seconds instead. ::

        async with anyio.create_task_group() as tg:
            tg.start_soon(ProgressDisplay(poller).run)
    """

    def __init__(self, poller: StatusPoller, *, out: TextIO | None = None) -> None:
        self._poller = poller
        self._out = out or sys.stdout
        self._live = self._out.isatty()
        self._started = time.monotonic()
        self._last_requests = 0
        self._last_at = self._started
        self._last_plain = 0.0

    def line(self) -> str:
        """The current state, with the request rate since the previous line."""
        stats = self._poller.stats()
        now = time.monotonic()
        rate = (stats.requests - self._last_requests) / max(now - self._last_at, 1e-6)
        self._last_requests, self._last_at = stats.requests, now
        statuses = self._poller.status_counts()
        by_status = " ".join(f"{name}={count}" for name, count in sorted(statuses.items()))
        finished = " ".join(f"{name}={count}" for name, count in sorted(stats.finished.items()))
        mode = " sweep" if stats.sweeping else ""
        return (
            f"[{now - self._started:5.1f}s] watching {stats.watching} ({by_status or '-'}) | "
            f"finished {stats.finished_total} ({finished or '-'}) | "
            f"{rate:5.1f} req/s{mode} | errors {stats.errors}, 429s {stats.rate_limited}"
            + plan_line(stats)
        )

    def render(self, *, final: bool = False) -> None:
        if self._live:
            self._out.write("\r\x1b[2K" + self.line() + ("\n" if final else ""))
        elif final or time.monotonic() - self._last_plain >= _PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            self._out.write(self.line() + "\n")
        self._out.flush()

    async def run(self) -> None:
        """Redraw until cancelled."""
        while True:
            self.render()
            await anyio.sleep(_REFRESH_S)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"


def plan_line(stats: PollerStats) -> str:
    """The budget plan, when the poller is metered: budget, revisits, lag, spending."""
    plan = stats.plan
    if plan is None or plan.rate_per_hour is None:
        return ""
    parts = [f"budget {plan.rate_per_hour:,.0f}/h"]
    if plan.sweepable:
        parts.append(f"sweep {plan.pages_per_sweep} pages every {_s(plan.sweep_revisit_s)}")
    if plan.singles:
        parts.append(f"{plan.singles} single every {_s(plan.single_revisit_s)}")
    parts.append(f"lag expected {_s(plan.expected_lag_s)} p99 seen {_s(stats.lag_p99_s)}")
    if stats.spent_per_hour:
        spent = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(stats.spent_per_hour.items()))
        parts.append(f"spent/h: {spent}")
    return "\n    " + " · ".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table with aligned columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    rule = "  ".join("-" * w for w in widths)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
