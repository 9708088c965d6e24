"""Sweeps: reading many watched invoices 100 per request instead of one GET each.

When many watched invoices are visible to the account, ``GET /invoices``
filtered on every status a watched invoice moves through (so none drops out
of the list while the sweep pages through it) sees all of them in
``ceil(n / 100)`` requests. A sweep never finishes a watch by itself: each
change it shows is confirmed by one GET (``CONFIRM``), and an invoice the
sweep cannot see (another account's, say) falls back to polls of its own.

A sweep starts at most once per interval; under a tight budget its pages are
paced by the budget gate, so sweeps then run back to back. Before each one, a
one-item ``format=paginated`` page (its totals and counts per status) says how
many pages a sweep takes and skips the sweep when nothing moved since the last
one started — never trusted for long: every ``_MAX_SKIPPED_SWEEPS`` skips a
full sweep runs anyway, and a skip never finishes a watch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import anyio

from ..errors import RateLimitError, RequestFinanceError
from ..models.invoice import Invoice, InvoicePage, InvoiceStatus
from .budget import BudgetGate, RequestKind
from .events import utc_at
from .watch import Outcome, Watch, judge_status

if TYPE_CHECKING:
    import random

    from ..client import RequestFinanceClient
    from .schedule import IntervalPolicy

__all__ = ["SWEEP_STATUSES", "SWEEP_PAGE_SIZE", "Sweeper", "SweepHost"]

SWEEP_STATUSES: tuple[InvoiceStatus, ...] = (
    InvoiceStatus.PENDING,
    InvoiceStatus.OPEN,
    InvoiceStatus.ACCEPTED,
    InvoiceStatus.DECLARED_PAID,
    InvoiceStatus.PAID,
    InvoiceStatus.REJECTED,
    InvoiceStatus.CANCELED,
)
SWEEP_PAGE_SIZE = 100
_SETTLE_S = 0.2  # after a burst of watch() calls, wait this long before sweeping
_CREATED_MARGIN_S = 1.0
_MAX_SKIPPED_SWEEPS = 10


class SweepHost(Protocol):
    """What a sweeper needs of its poller."""

    @property
    def watches(self) -> dict[str, Watch]: ...

    def confirm(self, watch: Watch) -> None: ...

    def reschedule(self, watch: Watch, now: float) -> None: ...

    def schedule(self, watch: Watch, at: float) -> None: ...

    def schedule_by(self, watch: Watch, at: float) -> None: ...

    def set_sweepable(self, watch: Watch, sweepable: bool) -> None: ...

    async def baseline(self, watch: Watch, invoice: Invoice) -> None: ...

    def count_failure(self, error: RequestFinanceError) -> None: ...


def _fingerprint(page: InvoicePage) -> tuple[int | None, tuple[tuple[str, int], ...]]:
    return page.total_filtered, tuple(sorted(page.status_counts.items()))


class Sweeper:
    """Decides when to sweep, runs the sweeps, and hands what they see to the poller."""

    def __init__(
        self,
        host: SweepHost,
        *,
        api: RequestFinanceClient,
        gate: BudgetGate,
        policy: IntervalPolicy,
        rng: random.Random,
        clock: Callable[[], float],
        mode: bool | None,
        min_watches: int,
        efficiency: float,
    ) -> None:
        self._host = host
        self._api = api
        self._gate = gate
        self._policy = policy
        self._rng = rng
        self._clock = clock
        self._mode = mode  # None: decide by cost; True: always; False: never
        self.min_watches = min_watches
        self._efficiency = efficiency
        self._kick = anyio.Event()
        self._last_fingerprint: tuple[int | None, tuple[tuple[str, int], ...]] | None = None
        self._skipped = 0
        self.sweeping = False
        self.sweeps = 0
        self.requests = 0
        self.probes_skipped = 0
        self.pages_per_sweep: int | None = None

    @property
    def enabled(self) -> bool:
        return self._mode is not False

    def kick(self) -> None:
        """Many watches were just added: sweep soon rather than at the next interval."""
        self._kick.set()

    async def _token(self) -> None:
        await self._gate.acquire(lambda: RequestKind.SWEEP)
        self.requests += 1

    # -- the loop --------------------------------------------------------------------
    async def run(self) -> None:
        """Sweep when worthwhile, forever (cancelled with the poller).

        A sweep starts at most once per interval. Under a tight budget a sweep
        itself takes longer than that (its pages are paced by the gate), so the
        sweeps then run back to back, at the period the plan expects.
        """
        last_start = -math.inf
        while True:
            wait = last_start + self._policy.interval_s - self._clock()
            if wait > 0:
                with anyio.move_on_after(wait):
                    await self._kick.wait()
            if self._kick.is_set():
                self._kick = anyio.Event()
                await anyio.sleep(min(_SETTLE_S, self._policy.lowest / 2))
            last_start = self._clock()
            try:
                await self.sweep_once()
            except RequestFinanceError as error:
                # The transport's retries are spent: until a sweep succeeds again,
                # the watches it covered poll on their own (stop() schedules them),
                # or a listing that keeps failing would leave them unwatched.
                self._host.count_failure(error)
                self.stop()
                if isinstance(error, RateLimitError) and error.retry_after:
                    await anyio.sleep(error.retry_after)

    async def sweep_once(self) -> None:
        """One sweep (or a probe that shows it can be skipped)."""
        watches = self._host.watches
        candidates = [w for w in watches.values() if not w.has(Watch.UNSWEEPABLE | Watch.FINISHED)]
        if self._mode is None and len(candidates) < self.min_watches:
            self.stop()
            return
        if not candidates:
            return
        created = [w.created_at for w in candidates]
        start: float | None = None
        if all(c is not None for c in created):
            start = min(c for c in created if c is not None) - _CREATED_MARGIN_S
        created_from = utc_at(start) if start is not None else None
        if self._mode is None or self.sweeping:
            # One cheap request: how many pages a sweep would take, and whether
            # anything moved since the last sweep started.
            await self._token()
            probe = await self._api.invoices.page(
                take=1, status=SWEEP_STATUSES, created_from=created_from
            )
            total = probe.total_filtered if probe.total_filtered is not None else 0
            pages = max(1, math.ceil(total / SWEEP_PAGE_SIZE))
            self.pages_per_sweep = pages
            if self._mode is None and pages > len(candidates) * self._efficiency:
                self.stop()
                return
            fingerprint = _fingerprint(probe)
            if (
                fingerprint == self._last_fingerprint
                and self._skipped < _MAX_SKIPPED_SWEEPS
                and all(w.has(Watch.KNOWN) for w in candidates)
            ):
                # Nothing moved: spend the budget elsewhere, look again next time.
                self._skipped += 1
                self.probes_skipped += 1
                return
            self._last_fingerprint = fingerprint
        self._skipped = 0
        await self._sweep(candidates, created_from)

    async def _sweep(self, candidates: list[Watch], created_from: datetime | None) -> None:
        self.sweeping = True
        watches = self._host.watches
        began = self._clock()
        seen: set[str] = set()
        listing = self._api.invoices.list(
            status=SWEEP_STATUSES, created_from=created_from, take=SWEEP_PAGE_SIZE
        ).before_each_page(self._token)
        async for invoice in listing:
            watch = watches.get(invoice.request_id or "") or watches.get(invoice.id)
            if watch is None or watch.has(Watch.FINISHED):
                continue
            seen.add(watch.key)
            self._host.set_sweepable(watch, True)
            await self._seen(watch, invoice, began)
        self.sweeps += 1
        now = self._clock()
        for watch in candidates:
            if watch.key in seen or watch.has(Watch.FINISHED):
                continue
            # Within the listed creation range (every candidate is) yet not listed:
            # the sweep cannot see it (another account's invoice, say). Poll it alone.
            self._host.set_sweepable(watch, False)
            if not watch.has(Watch.IN_FLIGHT):
                self._host.schedule(watch, now + self._rng.uniform(0, self._policy.lowest / 4))

    async def _seen(self, watch: Watch, invoice: Invoice, now: float) -> None:
        host = self._host
        if not watch.has(Watch.KNOWN):
            # A baseline, not a change: nothing to confirm unless it is already over.
            await host.baseline(watch, invoice)
            overdue = watch.due_at is not None and now >= watch.due_at
            if judge_status(invoice.status).outcome is Outcome.FINISH or overdue:
                host.confirm(watch)
            elif not watch.has(Watch.IN_FLIGHT):
                host.reschedule(watch, now)
            return
        if invoice.status != watch.status:
            host.confirm(watch)
        elif not watch.has(Watch.IN_FLIGHT):
            # Seen and unchanged: from now on the sweep keeps an eye on it, so its own
            # routine poll is dropped (the due-date check stays).
            host.reschedule(watch, now)

    def stop(self) -> None:
        """Sweeps are not worthwhile (now): every watch they would read polls on its own."""
        was_sweeping, self.sweeping = self.sweeping, False
        self._last_fingerprint = None
        now = self._clock()
        at = now + self._rng.uniform(0, self._policy.lowest / 4)
        for watch in self._host.watches.values():
            if watch.has(Watch.IN_FLIGHT | Watch.QUEUED | Watch.FINISHED):
                continue
            # Unread watches waited for a sweep; sweepable ones relied on the sweeps.
            if not watch.has(Watch.KNOWN) or (was_sweeping and watch.has(Watch.SWEEPABLE)):
                self._host.schedule_by(watch, at)
