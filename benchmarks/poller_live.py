"""Pollers against the sandbox: detection lag, requests per transition, rate-limit share.

Every run gets a fresh sandbox process (``sandbox_processes``: the server never
shares the client's event loop) and a fresh ``RequestFinanceClient``, so each
poller meets the same empty server. Four pollers side by side: ``StatusPoller``
(sweep decided by cost, the default), ``StatusPoller(sweep=False)``, the naive
one-task-per-invoice loop and the boto-style waiter (``_baselines.py``).

**Detection lag** (1k, 3k, 10k watches polled every 5 s; quick: 1k, 2k every
second): the invoices are seeded open (due in an hour), watched, and once every
watch has been read once (``status_counts()`` has no ``unknown`` left),
invoices are flipped to ``paid`` through the control plane at a steady rate —
10 % of the watches per interval, the same invoices in the same order for
every poller. A flip's time is the ``paymentDate`` the sandbox stamps (the
moment the status changed, on the same host clock); its detection is when
``on_change`` reports it. The flips of the first interval are a warm-up and
discarded; the measured flips (one or more whole intervals of them) are dealt
round-robin into three rounds (quick: two), so that every round sees every
phase of a poller that works in bursts or sweeps; p50 and p99 per round, then
median and spread over rounds. Target: p99 ≤ interval + 1 s.

**Requests per detected transition** (same runs): every request the poller
sent from the first flip (every watch read by then) until the last flip was
seen, divided by the flips seen — one value per run. Both ends are quiet
points for every poller (a naive loop's burst of first reads is over; the last
detection ends the run), so the count does not depend on where a burst or a
sweep falls. It includes the warm-up interval and the tail after the last
flip, for every poller alike (each pays there what it pays per interval).
With and without the sweep.

**Share of an advertised rate limit** (a sandbox limiting the API key to 600
calls per 10 s window, three windows; quick: 300 per 3 s, two; 2,000 watches
polled every second with ``sweep=False`` — far more than the budget allows):
2xx answers per window ÷ limit, and 429s per window (the sandbox's count; the
poller's own count is in the note). One GET before the poller starts opens the
sandbox's window and teaches the client its budget, for both pollers alike;
the first window is a warm-up. ``StatusPoller`` and the naive loop run at the
same time, each with its own client and its own sandbox process: together they
send a few hundred requests a second at most, far below what either side
serves. They run while the lag runs do (their figures are set by the clock, not
by the CPU); the lag runs go ``StatusPoller`` first, so when the share runs end
before the lag runs, only ours share the machine with them.

A run that should take a moment waits on events (a detection, every watch
read); the sleeps are the measured spans themselves and the flip schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from reqfin_async import ApiKeyAuth, InvoiceStatus, RequestFinanceClient
from reqfin_async.poller import PollerStats, StatusChange
from reqfin_async.sandbox import SandboxConfig

from ._baselines import (
    NAIVE,
    STACKS,
    STATUS_POLLER,
    STATUS_POLLER_NO_SWEEP,
    Watcher,
    open_stack,
)
from ._harness import Figure, verdict
from ._server import (
    BENCH_CONFIG,
    ServerProcess,
    pay_on_schedule,
    sandbox_process,
    sandbox_processes,
    seed,
    server_stats,
)

__all__ = ["run", "LagRun", "lag_run", "share_run", "SHARE_TARGET_PCT"]

FLIP_SHARE = 0.10  # of the watches flipped per interval
INTERVAL_S = 5.0
# The issue asks for 2 s in a quick run; 1 s keeps `--quick` (every suite) near a minute.
QUICK_INTERVAL_S = 0.5
SHARE_TARGET_PCT = 95.0
_READ_TIMEOUT_S = 60.0
_UNBOUNDED = 10**12


def _label(count: int) -> str:
    return f"{count // 1000}k"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextlib.asynccontextmanager
async def _client(server: ServerProcess) -> AsyncIterator[RequestFinanceClient]:
    async with RequestFinanceClient(ApiKeyAuth(server.api_key), base_url=server.url) as client:
        yield client


async def _until_read(poller: Watcher, timeout_s: float) -> None:
    """Until every watch has been read once.

    The public API has no event for this, so ``status_counts()`` is looked at
    every 50 ms (cheap: one pass over the watches).
    """
    deadline = time.monotonic() + timeout_s
    while poller.status_counts().get("unknown", 0):
        if time.monotonic() > deadline:
            raise TimeoutError(f"watches still unread after {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


@dataclass
class LagRun:
    """One poller, one number of watches: detection lags and the requests it took."""

    stack: str
    watches: int
    interval: float
    lags: list[list[float]] = field(default_factory=list)  # per round, seconds
    requests: int = 0  # sent from the first flip until the last one was seen
    detected: int = 0
    undetected: int = 0
    stats: PollerStats | None = None

    def per_round(self, q: float) -> list[float]:
        return [_percentile(lags, q) for lags in self.lags if lags]

    def requests_per_transition(self) -> float:
        return self.requests / max(self.detected, 1)


async def lag_run(
    server: ServerProcess,
    stack: str,
    count: int,
    *,
    interval: float,
    measured_intervals: int,
    rounds: int,
) -> LagRun:
    """Watch ``count`` invoices with ``stack``; flip some to paid and time their detection.

    Flips run at a steady rate (``FLIP_SHARE`` of the watches per interval): one
    interval of warm-up (a ``StatusPoller`` polls a watch read for the first time
    twice as often during its first interval: the measured flips meet every
    poller in its steady state), then ``measured_intervals`` measured intervals. The
    measured flips are dealt round-robin into ``rounds`` rounds, so that every
    round spans whole intervals: a poller that polls in bursts (the naive loop's
    tasks all started together) or sweeps once per interval is seen at every
    phase in every round. Requests per transition: every request sent from the
    first flip (every watch read) until the last flip was seen, divided by the
    flips seen (a rate over a shorter span would depend on where a burst or a
    sweep falls).
    """
    per_interval = max(rounds, round(count * FLIP_SHARE))
    spacing = interval / per_interval
    warm = per_interval
    total = warm + measured_intervals * per_interval
    if total > count:
        raise ValueError(f"{total} flips asked of {count} watches")
    result = LagRun(stack, count, interval)
    detected: dict[str, float] = {}
    all_seen = asyncio.Event()

    def on_change(change: StatusChange) -> None:
        if change.new_status is InvoiceStatus.PAID and change.key not in detected:
            detected[change.key] = time.time()
            if len(detected) >= total:
                all_seen.set()

    keys = [i["requestId"] for i in await seed(server, count, dueInSeconds=3600)]
    order = random.Random(count).sample(keys, total)  # the same flips for every poller
    async with (
        _client(server) as client,
        aiohttp.ClientSession() as http,
        open_stack(stack, client, interval=interval, on_change=on_change) as poller,
    ):
        await poller.watch_many(keys)
        await _until_read(poller, _READ_TIMEOUT_S)
        before = poller.stats().requests
        flipped = await pay_on_schedule(http, server, order, spacing)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2 * interval + 5):
                await all_seen.wait()
        result.stats = poller.stats()
    result.requests = result.stats.requests - before
    measured = order[warm:]
    for n in range(rounds):
        chunk = measured[n::rounds]
        # A flip never seen counts as an infinite lag: it cannot hide in the percentiles.
        result.lags.append([detected.get(k, math.inf) - flipped[k] for k in chunk])
    result.detected = len(detected)
    result.undetected = total - len(detected)
    return result


@dataclass
class ShareRun:
    """One poller against a real rate limit: 2xx answers and 429s per window."""

    stack: str
    ok: list[int] = field(default_factory=list)  # per window, warm-up window excluded
    refused: list[int] = field(default_factory=list)
    poller_rate_limited: int = 0


def _ok(client: RequestFinanceClient) -> int:
    return sum(n for status, n in client.stats.by_status.items() if 200 <= status < 300)


async def share_run(
    stack: str, *, limit: int, window_s: float, windows: int, watches: int
) -> ShareRun:
    """Poll ``watches`` invoices every second under a budget of ``limit`` per ``window_s``."""
    config = SandboxConfig(
        api_key_limit=limit,
        rate_window_s=window_s,
        oauth_limit=_UNBOUNDED,
        unauthenticated_limit=_UNBOUNDED,
    )
    result = ShareRun(stack)
    async with sandbox_process(config) as server:
        keys = [i["requestId"] for i in await seed(server, watches, dueInSeconds=3600)]
        async with _client(server) as client, aiohttp.ClientSession() as http:
            started = time.monotonic()
            await client.invoices.get(keys[0])  # opens the window, teaches the budget
            async with open_stack(stack, client, interval=1.0) as poller:
                await poller.watch_many(keys)
                marks: list[tuple[int, int]] = []
                for n in range(windows + 2):  # start, end of the warm-up window, ...
                    delay = started + n * window_s - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)  # the measured span
                    marks.append((_ok(client), (await server_stats(http, server))["rateLimited"]))
                result.poller_rate_limited = poller.stats().rate_limited
    for (ok0, refused0), (ok1, refused1) in itertools.pairwise(marks[1:]):
        result.ok.append(ok1 - ok0)
        result.refused.append(refused1 - refused0)
    return result


async def run(*, quick: bool) -> list[Figure]:
    interval = QUICK_INTERVAL_S if quick else INTERVAL_S
    sizes = (1000,) if quick else (1000, 10_000)
    target = interval + 1.0
    limit, window_s, windows = (300, 3.0, 2) if quick else (600, 10.0, 3)
    # The share runs are wall-clock bound and light (a few hundred requests a second
    # at most, against their own sandboxes): they run while the lag runs do.
    shares_task = asyncio.ensure_future(
        asyncio.gather(
            *(
                share_run(stack, limit=limit, window_s=window_s, windows=windows, watches=2000)
                for stack in (STATUS_POLLER_NO_SWEEP, NAIVE)
            )
        )
    )
    runs: dict[tuple[str, int], LagRun] = {}
    for count in sizes:
        # A fresh sandbox per run, all started (and stopped) together.
        async with sandbox_processes(*(BENCH_CONFIG for _ in STACKS)) as servers:
            for stack, server in zip(STACKS, servers, strict=True):
                runs[(stack, count)] = await lag_run(
                    server,
                    stack,
                    count,
                    interval=interval,
                    measured_intervals=1,
                    rounds=2 if quick else 3,
                )

    shares = await shares_task

    figures: list[Figure] = []
    headline = sizes[-1]
    for q in (50, 99):
        for count in sizes:
            for stack in STACKS:
                lag = runs[(stack, count)]
                figure = Figure(
                    suite="poller-live",
                    name=f"{stack} lag p{q} @ {_label(count)}",
                    unit="s",
                    rounds=lag.per_round(q) or [float("nan")],
                    note=f"interval {interval:g} s, {len(lag.lags[0])} flips/round",
                    higher_is_better=False,
                )
                figure.tags = {
                    "plot": f"lag-p{q}",
                    "stack": stack,
                    "watches": count,
                    "target": target,
                }
                figure.note += "; " + (
                    verdict(figure.median, target, "s") if q == 99 else "no target"
                )
                if lag.undetected:
                    figure.note += f"; {lag.undetected} flips never seen"
                figures.append(figure)
    costs: dict[str, Figure] = {}
    for stack in STACKS:
        lag = runs[(stack, headline)]
        others = ", ".join(
            f"{_label(n)}: {runs[(stack, n)].requests_per_transition():.2f}"
            for n in sizes
            if n != headline
        )
        costs[stack] = Figure(
            suite="poller-live",
            name=f"{stack} requests/transition @ {_label(headline)}",
            unit="req",
            rounds=[lag.requests_per_transition()],
            note=f"one run, {FLIP_SHARE:.0%} of the watches change per interval, "
            "whole run; "
            f"no target; {others}",
            higher_is_better=False,
        )
    with_sweep = costs[STATUS_POLLER].median
    without = costs[STATUS_POLLER_NO_SWEEP].median
    costs[STATUS_POLLER].note += f"; {without / with_sweep:.1f}x fewer than sweep=False"
    sweeps = runs[(STATUS_POLLER, headline)].stats
    if sweeps is not None:
        costs[STATUS_POLLER].note += (
            f" ({sweeps.sweeps} sweeps, {sweeps.sweep_requests} sweep requests, "
            f"{sweeps.confirmations} confirmations in all)"
        )
    figures += costs.values()
    for share in shares:
        share_figure = Figure(
            suite="poller-live",
            name=f"{share.stack} rate-limit share",
            unit="%",
            rounds=[100 * ok / limit for ok in share.ok],
            note=f"2xx per window / {limit} per {window_s:g} s, 2,000 watches every 1 s",
        )
        share_figure.note += "; " + verdict(
            share_figure.median, SHARE_TARGET_PCT, "%", at_most=False
        )
        if quick:
            share_figure.note += "; short windows: the whole-second reset header weighs more"
        refused_figure = Figure(
            suite="poller-live",
            name=f"{share.stack} 429s",
            unit="per window",
            rounds=[float(n) for n in share.refused],
            note=f"sandbox count ({sum(share.refused)} in all; the poller counted "
            f"{share.poller_rate_limited}); target 0: "
            + ("met" if sum(share.refused) == 0 else "missed"),
            higher_is_better=False,
        )
        figures += [share_figure, refused_figure]
    return figures
