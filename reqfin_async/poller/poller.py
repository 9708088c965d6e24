"""``StatusPoller``: watch invoices until they are paid, rejected, canceled or overdue.

No task per watch: one scheduler pops due watches from a timer wheel into
ready queues (confirmations first, then due-date checks, then routine polls)
and hands them to a bounded pool of workers (``handoff.py``; backpressure:
when every worker is busy, watches simply wait, late). Every request passes
the budget gate (``budget.py``), which spends the rate the API allows where
it buys the most, and then the client's one rate limiter.
When many watched invoices are visible to the account, sweeps of
``GET /invoices`` (``sweep.py``) replace the per-invoice polls.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from .._callbacks import call_back
from .._http.options import RetryPolicy
from .._log import get_logger
from ..errors import RateLimitError, RequestFinanceError
from ..models.invoice import Invoice, InvoiceStatus
from .budget import Budget, BudgetGate, RequestKind
from .codec import decode_change, decode_result, encode_change, encode_result
from .events import EventHub, FinishReason, StatusChange, Subscription, WatchResult, utc_at
from .fleet import FleetLink
from .handoff import Handoff
from .plan import Plan, make_plan
from .schedule import IntervalPolicy, TimerWheel
from .stats import LagSampler, PollerStats
from .stores.base import Claim, FleetEvent, SharedWatchStore, WatchRecord, WatchStore
from .stores.memory import MemoryWatchStore
from .sweep import SWEEP_STATUSES, Sweeper
from .watch import Outcome, Watch, judge_error, judge_status

if TYPE_CHECKING:
    from ..client import RequestFinanceClient
    from ..webhooks import WebhookEvent

__all__ = ["StatusPoller", "PollerClosedError", "SWEEP_STATUSES", "OnChange", "OnFinish"]

OnChange = Callable[[StatusChange], Awaitable[None] | None]
OnFinish = Callable[[WatchResult], Awaitable[None] | None]

_FIRST_SPREAD_S = 1.0
_FIRST_SWEEP_FALLBACK_S = 30.0
_PLAN_EVERY_S = 1.0
# watch_many() lets the event loop run between slices of this many watches (~10 ms).
_REGISTER_SLICE = 2048
# A ready-queue entry is live when its watch is queued, not finished, not in flight.
_STALE = Watch.QUEUED | Watch.FINISHED | Watch.IN_FLIGHT

_log = get_logger(name="poller")


class PollerClosedError(RequestFinanceError, RuntimeError):
    """The poller stopped before the watch waited on finished."""


def _last_event_at(invoice: Invoice, default: float) -> float:
    """When the invoice last changed, by its events and payment date, else ``default``."""
    moments = [e.date for e in invoice.events if e.date is not None]
    if invoice.payment_metadata is not None and invoice.payment_metadata.payment_date:
        moments.append(invoice.payment_metadata.payment_date)
    if invoice.creation_date is not None:
        moments.append(invoice.creation_date)
    return max(moments).timestamp() if moments else default


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class StatusPoller:
    """Watches invoices until paid, rejected, canceled or overdue.

    ::

        async with StatusPoller(client, interval=30.0) as poller:
            await poller.watch(request_id)              # returns at once
            async for change in poller.changes(stop_when_idle=True):
                print(change.request_id, change.old_status, "->", change.new_status)
            result = await poller.wait_final(request_id)

    A watch ends with ``paid``, ``rejected`` or ``canceled``; with ``overdue``
    when the due date has passed (after one last check that it was not paid);
    with ``unwatched``; or with ``failed`` when the invoice is gone (404) or
    access is refused for good (401/403). Network errors, 5xx and 429 are
    retried with backoff and never end a watch.

    ``paid_grace_s``: since late 2025 a payment can be reverted (``paid`` back
    to ``open``). By default ``paid`` ends the watch at once, which is what most
    services want (ship on payment). With ``paid_grace_s > 0`` a paid invoice
    stays under watch that long: a reversal is reported as a change and the
    watch goes on; the watch ends ``paid`` only when the grace has passed.
    """

    def __init__(
        self,
        client: RequestFinanceClient,
        *,
        interval: float = 30.0,
        min_interval: float | None = None,
        max_interval: float | None = None,
        jitter: float = 0.1,
        concurrency: int = 16,
        store: WatchStore | None = None,
        sweep: bool | None = None,
        sweep_min_watches: int = 50,
        sweep_efficiency: float = 0.5,
        budget: Budget | None = None,
        budget_share: float = 1.0,
        paid_grace_s: float = 0.0,
        overdue_grace_s: float = 1.0,
        on_change: OnChange | None = None,
        on_finish: OnFinish | None = None,
        event_buffer: int = 1024,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if paid_grace_s < 0 or overdue_grace_s < 0:
            raise ValueError("grace periods must not be negative")
        self._client = client
        # The poller retries on its own schedule, so one attempt per request:
        # a worker never sleeps inside the transport while others wait.
        self._api = client.with_options(retry=RetryPolicy.none())
        self._policy = IntervalPolicy(
            interval_s=interval,
            min_interval_s=min_interval,
            max_interval_s=max_interval,
            jitter=jitter,
        )
        self._concurrency = concurrency
        self._store = store if store is not None else MemoryWatchStore()
        self._paid_grace_s = paid_grace_s
        self._overdue_grace_s = overdue_grace_s
        self._on_change = on_change
        self._on_finish = on_finish
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        # One budget for every request of the poller; the client's limiter still
        # paces everything the client sends, the poller's and the application's.
        shared = self._store if isinstance(self._store, SharedWatchStore) else None
        self._fleet = (
            FleetLink(self, shared, capacity=concurrency * 2, budget=budget, clock=clock)
            if shared
            else None
        )
        # A fleet meters through its store's budget, which learns from every answer's
        # rate-limit headers (or from the given budget); with neither, nothing to meter.
        fleet_metered = shared is not None and (
            budget is not None or client.transport.limiter is not None
        )
        self._gate = BudgetGate(
            limiter=client.transport.limiter,
            budget=budget,
            share=budget_share,
            shared_reserve=shared.reserve_call if shared and fleet_metered else None,
        )
        if shared is not None:
            # A fleet's sweeps would need one sweeper elected across processes; until
            # then every watch of a shared store is polled on its own.
            sweep = False
        self._sweeper = Sweeper(
            self,
            api=self._api,
            gate=self._gate,
            policy=self._policy,
            rng=self._rng,
            clock=clock,
            mode=sweep,
            min_watches=sweep_min_watches,
            efficiency=sweep_efficiency,
        )
        self._plan = make_plan(
            rate=None,
            reserved_rate=0.0,
            sweeping=False,
            sweepable=0,
            singles=0,
            pages=None,
            interval_s=interval,
        )

        self._watches: dict[str, Watch] = {}
        self._sweepable = 0  # live watches a sweep sees (set_sweepable, _retire)
        self._aliases: dict[str, str] = {}  # an invoice's other id -> the key it is watched by
        self._wheel = TimerWheel()
        self._changes: EventHub[StatusChange] = EventHub(event_buffer)
        self._outcomes: EventHub[WatchResult] = EventHub(event_buffer)
        self._waiters: dict[str, anyio.Event] = {}
        self._idle = anyio.Event()
        self._idle.set()
        self._wake = anyio.Event()
        self._sleep_until = math.inf
        # Popped from the wheel, waiting for a token and a worker, by kind of request.
        self._ready: dict[RequestKind, deque[Watch]] = {
            RequestKind.CONFIRM: deque(),
            RequestKind.DUE: deque(),
            RequestKind.POLL: deque(),
        }
        self._tg: TaskGroup | None = None
        self._state = "new"
        self._started_at = clock()

        self._requests = 0
        self._errors = 0
        self._rate_limited = 0
        self._change_count = 0
        self._confirmations = 0
        self._pushed = 0
        self._finished: Counter[str] = Counter()
        self._lag = LagSampler()

    # -- lifecycle ---------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError("a StatusPoller runs once: create a new one")
        await self._store.open()
        try:
            now = self._clock()
            for record in await self._store.load_active():
                self._adopt(record, now)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._store.close()
            raise
        handoff = Handoff[Watch]()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._state = "running"
        self._started_at = self._clock()
        tg.start_soon(self._schedule_loop, handoff)
        for _ in range(self._concurrency):
            tg.start_soon(self._worker, handoff)
        if self._sweeper.enabled:
            tg.start_soon(self._sweeper.run)
        tg.start_soon(self._plan_loop)
        if self._fleet is not None:
            limiter = self._client.transport.limiter
            if limiter is not None and self._fleet.learns_budget:
                limiter.add_listener(self._fleet.observe)
            for loop in (
                self._fleet.run_claims,
                self._fleet.run_renewals,
                self._fleet.run_flush,
                self._fleet.run_events,
                self._fleet.run_count,
                self._fleet.run_fixed_budget,
            ):
                tg.start_soon(loop)
        _log.info("poller_started", watching=len(self._watches), concurrency=self._concurrency)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        tg, self._tg = self._tg, None
        self._state = "closed"
        try:
            if tg is not None:
                tg.cancel_scope.cancel()
                if exc is None or isinstance(exc, anyio.get_cancelled_exc_class()):
                    # A cancellation may come from a crashed poller task: the task
                    # group turns it into that task's error.
                    return await tg.__aexit__(exc_type, exc, tb)
                # The caller's own exception: stop the tasks and let it propagate as
                # it is, not wrapped in an ExceptionGroup by the task group.
                await tg.__aexit__(None, None, None)
            return None
        finally:
            self._changes.close()
            self._outcomes.close()
            for event in self._waiters.values():
                event.set()
            self._waiters.clear()
            self._idle.set()
            with anyio.CancelScope(shield=True):
                if self._fleet is not None:
                    limiter = self._client.transport.limiter
                    if limiter is not None:
                        limiter.remove_listener(self._fleet.observe)
                    await self._fleet.release_all()
                await self._store.close()
            _log.info("poller_stopped", watching=len(self._watches))

    def _check_running(self) -> None:
        if self._state != "running":
            raise RuntimeError("use the StatusPoller inside `async with` (it is not running)")

    # -- watching ----------------------------------------------------------------
    async def watch(self, id_or_request_id: str, due_date: datetime | None = None) -> bool:
        """Start watching an invoice (by id or ``requestId``); returns at once.

        A repeated watch of the same id is ignored (``False``), as is an id whose
        watch already finished in this poller's store. Without ``due_date`` the
        due date is read from the invoice.
        """
        added = await self.watch_many([(id_or_request_id, due_date)])
        return bool(added)

    async def watch_many(self, items: Iterable[str | tuple[str, datetime | None]]) -> list[str]:
        """Watch many invoices in one go (one store write); returns the ids newly watched.

        A hundred thousand take about half a second: the event loop runs between
        slices of a few thousand, so an application's other tasks are not held.
        """
        self._check_running()
        now = self._clock()
        records: list[WatchRecord] = []
        batch: set[str] = set()
        for count, item in enumerate(items, 1):
            if count % _REGISTER_SLICE == 0:
                await anyio.lowlevel.checkpoint()
            key, due = (item, None) if isinstance(item, str) else item
            if not isinstance(key, str) or not key.strip():
                raise ValueError(f"an invoice id must be a non-empty string, got {key!r}")
            if due is not None and due.tzinfo is None:
                raise ValueError(f"due_date of {key!r} must be timezone-aware")
            if key in self._watches or key in batch or key in self._aliases:
                continue
            batch.add(key)
            records.append(WatchRecord(key=key, due_at=_ts(due), changed_at=now))
        if not records:
            return []
        if self._fleet is not None:
            # The fleet's store schedules them; whichever poller claims one polls it.
            added = await self._store.add(records)
            self._fleet.kick()
            return added
        wanted = set(await self._store.add(records))
        accepted: list[str] = []

        def adopt(record: WatchRecord) -> None:
            # A concurrent watch() of the same id may have adopted it meanwhile: one
            # watch per id, or every change would be reported twice.
            if record.key in wanted and record.key not in self._watches:
                self._adopt(record, now)
                accepted.append(record.key)

        index = 0
        try:
            for index, record in enumerate(records):
                if index and index % _REGISTER_SLICE == 0:
                    await anyio.lowlevel.checkpoint()
                adopt(record)
        except BaseException:
            # Cancelled between two slices: the rest are stored, so they are watched too.
            for record in records[index:]:
                adopt(record)
            raise
        if accepted and len(self._watches) >= self._sweeper.min_watches:
            self._sweeper.kick()
        return accepted

    @staticmethod
    def _watch_from(record: WatchRecord, now: float) -> Watch:
        watch = Watch(record.key, record.due_at, record.changed_at or now)
        watch.created_at = record.created_at
        watch.failures = record.failures
        if record.status is not None:
            watch.status = record.status
            watch.flags |= Watch.KNOWN
        return watch

    def _adopt(self, record: WatchRecord, now: float) -> None:
        watch = self._watch_from(record, now)
        if not self._watches:
            self._idle = anyio.Event()
        self._watches[record.key] = watch
        self.schedule(watch, now + self._first_delay())

    def _first_delay(self) -> float:
        if self._sweeper.enabled and len(self._watches) >= self._sweeper.min_watches:
            # Many watches: the next sweep will most likely read them all at once, so
            # their own first GET waits for it. The sweeper polls at once those it
            # cannot see, and all of them when it decides not to sweep; this later
            # time is only the fallback should sweeps keep failing.
            fallback = max(self._policy.highest, _FIRST_SWEEP_FALLBACK_S)
            return fallback * self._rng.uniform(0.9, 1.1)
        # A few: spread their first polls a little, but not for long.
        return self._rng.uniform(0.0, min(_FIRST_SPREAD_S, self._policy.lowest / 4))

    async def unwatch(self, id_or_request_id: str) -> bool:
        """Stop watching; the watch ends with reason ``unwatched``. ``False`` if not watched."""
        watch = self._watches.get(id_or_request_id)
        if watch is None and self._fleet is not None:
            # Held elsewhere or idle in the store: its holder's next write is refused.
            if not await self._fleet.store.is_active(id_or_request_id):
                return False
            watch = Watch(id_or_request_id, None, self._clock())
        if watch is None or watch.has(Watch.FINISHED):
            return False
        await self._finish(watch, FinishReason.UNWATCHED)
        return True

    async def push(self, event: WebhookEvent) -> bool:
        """Apply a pushed webhook event to its watch at once; ``False`` if not watched.

        ::

            app.add_subapp("/hooks", webhook_app(poller.push, secret=secret))

        The event is never trusted alone: an event whose status differs from the
        last one seen triggers one confirming GET right away, and that answer
        decides. So a duplicate (same status) costs nothing and an old event
        arriving late changes nothing, while polling remains the safety net.
        """
        self._check_running()
        invoice = event.invoice
        watch = self._watches.get(invoice.request_id or "") or self._watches.get(invoice.id)
        if watch is not None and watch.has(Watch.FINISHED):
            watch = None
        if watch is not None and watch.has(Watch.KNOWN) and invoice.status == watch.status:
            self._pushed += 1
            return True  # nothing new
        if self._fleet is not None:
            # Through the store, even for a watch held here: the flag outlives the
            # hand-back of a poll under way, and whichever poller holds it next
            # confirms at once.
            keys = [k for k in (invoice.request_id, invoice.id) if k]
            watched = await self._fleet.store.request_confirm(keys)
            if watched:
                self._pushed += 1
                self._fleet.kick()
            return bool(watched)
        if watch is None:
            return False
        self._pushed += 1
        self.confirm(watch)
        return True

    async def forget(self, id_or_request_id: str) -> None:
        """Drop a finished watch's recorded outcome, so that the invoice can be watched anew."""
        key = self._aliases.get(id_or_request_id, id_or_request_id)
        if key in self._watches:
            raise ValueError(f"{id_or_request_id!r} is still watched: unwatch it first")
        await self._store.forget(key)
        # Its other id, merged into it, may be watched anew too.
        for alias in [a for a, target in self._aliases.items() if target == key]:
            del self._aliases[alias]
        self._aliases.pop(id_or_request_id, None)

    # -- results and events --------------------------------------------------------
    def changes(self, *, stop_when_idle: bool = False) -> Subscription[StatusChange]:
        """Every status change observed from now on, in order per invoice.

        Each subscriber gets every event through its own bounded buffer; a full
        buffer makes the poller wait. The iteration ends when the poller stops,
        or with ``stop_when_idle=True`` once no watch is left.
        """
        return self._changes.subscribe(until_idle=stop_when_idle, idle_now=self._idle_now())

    def outcomes(self, *, stop_when_idle: bool = False) -> Subscription[WatchResult]:
        """Every watch result from now on (paid, rejected, ..., overdue, failed)."""
        return self._outcomes.subscribe(until_idle=stop_when_idle, idle_now=self._idle_now())

    def _idle_now(self) -> bool:
        # In a fleet, idle means the whole fleet's watches are done: the fleet link
        # says so once the store counts none (see fleet_idle).
        return not self._watches if self._fleet is None else self._fleet.idle

    async def wait_final(self, id_or_request_id: str) -> WatchResult:
        """The result of a watch, waiting for it to finish (at once if it already has).

        Raises ``KeyError`` for an id never watched and ``PollerClosedError`` if
        the poller stops first. Bound the wait with ``anyio.fail_after``::

            with anyio.fail_after(60):
                result = await poller.wait_final(request_id)
        """
        key = self._aliases.get(id_or_request_id, id_or_request_id)
        if self._fleet is not None:
            return await self._wait_final_in_fleet(key)
        while key in self._watches:
            if self._state == "closed":  # nothing would ever wake this wait
                raise PollerClosedError(f"the poller stopped before {key!r} finished")
            await self._waiters.setdefault(key, anyio.Event()).wait()
            if key in self._watches and self._state == "closed":
                # Woken by the poller stopping (its store may be closed already).
                raise PollerClosedError(f"the poller stopped before {key!r} finished")
            key = self._aliases.get(key, key)  # merged into its twin meanwhile
        result = await self._store.result(key)
        if result is not None:
            return result
        if key in self._watches or self._state == "closed":
            raise PollerClosedError(f"the poller stopped before {key!r} finished")
        raise KeyError(f"{key!r} is not watched by this poller")

    async def _wait_final_in_fleet(self, key: str) -> WatchResult:
        assert self._fleet is not None
        store = self._fleet.store
        # Any poller may finish it: wake on a local or a fleet event, and look again
        # now and then (an event can be missed while the store is unreachable).
        while True:
            try:
                result = await store.result(key)
                if result is not None:
                    return result
                if self._state == "closed":
                    raise PollerClosedError(f"the poller stopped before {key!r} finished")
                if not await store.is_active(key):
                    result = await store.result(key)  # finished in between?
                    if result is not None:
                        return result
                    raise KeyError(f"{key!r} is not watched by this fleet")
            except (ConnectionError, OSError):
                # The store is unreachable for now: the watch is still there, and so
                # will its outcome be. Wait as for an event, then look again.
                if self._state == "closed":
                    raise PollerClosedError(f"the poller stopped before {key!r} finished") from None
            with anyio.move_on_after(1.0):
                await self._waiters.setdefault(key, anyio.Event()).wait()
            self._waiters.pop(key, None)

    async def results(self) -> list[WatchResult]:
        """Every finished watch's result that the store keeps, oldest first."""
        return await self._store.results()

    def status_counts(self) -> dict[str, int]:
        """How many watched invoices are in each last-seen status (``unknown`` before a read)."""
        counts: Counter[str] = Counter()
        for watch in self._watches.values():
            if not watch.has(Watch.FINISHED):
                counts[watch.status.value if watch.status is not None else "unknown"] += 1
        return dict(counts)

    def watching(self) -> list[str]:
        """The ids under watch now."""
        return [key for key, w in self._watches.items() if not w.has(Watch.FINISHED)]

    async def drain(self) -> None:
        """Wait until every watch has finished (bound it with ``anyio.fail_after``).

        With a shared store, every watch of the whole fleet.
        """
        if self._fleet is None:
            await self._idle.wait()
            return
        while True:
            try:
                if await self._fleet.store.count_active() == 0:
                    return
            except (ConnectionError, OSError):
                pass  # the store is unreachable for now: its watches are still there
            await anyio.sleep(0.2)

    def stats(self) -> PollerStats:
        """Counters and the detection lag percentiles so far."""
        return PollerStats(
            watching=self._fleet.active if self._fleet is not None else len(self._watches),
            finished=dict(self._finished),
            requests=self._requests + self._sweeper.requests,
            errors=self._errors,
            rate_limited=self._rate_limited,
            changes=self._change_count,
            sweeps=self._sweeper.sweeps,
            sweep_requests=self._sweeper.requests,
            sweeps_skipped=self._sweeper.probes_skipped,
            confirmations=self._confirmations,
            pushed=self._pushed,
            lag_p50_s=self._lag.percentile(50),
            lag_p99_s=self._lag.percentile(99),
            lag_max_s=self._lag.max if self._lag.count else None,
            sweeping=self._sweeper.sweeping,
            plan=self._plan,
            spent_per_hour=self._gate.per_hour(),
        )

    # -- scheduling ----------------------------------------------------------------
    @property
    def watches(self) -> dict[str, Watch]:
        """The live watches by key (for the sweeper; not a public API)."""
        return self._watches

    def schedule(self, watch: Watch, at: float, *, due_check: bool = False) -> None:
        """Poll ``watch`` at ``at``; a ``due_check`` is the last check after its due date."""
        if due_check:
            watch.flags |= Watch.DUE_CHECK
        else:
            watch.flags &= ~Watch.DUE_CHECK
        if self._fleet is not None:
            # Back to the fleet's store, due then; the lease ends when it is written.
            record = self._record(watch)
            record.failures = watch.failures
            self._fleet.park(record, at - self._clock())
            return
        self._wheel.schedule(watch, at)
        if at < self._sleep_until:
            self._wake.set()

    def set_sweepable(self, watch: Watch, sweepable: bool) -> None:
        """A sweep saw ``watch`` (``True``) or should have and did not (``False``)."""
        was = watch.has(Watch.SWEEPABLE)
        if sweepable:
            watch.flags = (watch.flags | Watch.SWEEPABLE) & ~Watch.UNSWEEPABLE
        else:
            watch.flags = (watch.flags | Watch.UNSWEEPABLE) & ~Watch.SWEEPABLE
        if was != sweepable and not watch.has(Watch.FINISHED):
            self._sweepable += 1 if sweepable else -1

    def _retire(self, watch: Watch) -> None:
        """Mark ``watch`` finished: nothing is done for it any more, and it leaves the plan."""
        if not watch.has(Watch.FINISHED):
            if watch.has(Watch.SWEEPABLE):
                self._sweepable -= 1
            watch.flags |= Watch.FINISHED

    def schedule_by(self, watch: Watch, at: float) -> None:
        """Poll ``watch`` at ``at`` at the latest (an earlier schedule stands)."""
        when = self._wheel.when(watch)
        if when is None or when > at:
            self.schedule(watch, at)

    def confirm(self, watch: Watch) -> None:
        """Poll ``watch`` as soon as possible, ahead of routine polls (a sweep or a
        webhook reported a change)."""
        watch.flags |= Watch.CONFIRM
        if watch.has(Watch.IN_FLIGHT | Watch.FINISHED):
            return  # the poll under way is followed by another (see _worker)
        self._wheel.cancel(watch)
        watch.flags |= Watch.QUEUED
        self._ready[RequestKind.CONFIRM].append(watch)  # may also sit in another queue
        self._wake.set()

    def reschedule(self, watch: Watch, now: float) -> None:
        """Schedule the next routine poll of ``watch`` after one that just happened."""
        due_at = watch.due_at
        if self._sweeper.sweeping and watch.has(Watch.SWEEPABLE):
            # The sweep keeps an eye on it; its own entry is the due-date check only.
            if due_at is not None:
                self.schedule(watch, max(now, due_at + self._overdue_grace_s), due_check=True)
            else:
                self._wheel.cancel(watch)
            return
        delay = self._policy.next_delay(
            now=now,
            changed_at=watch.changed_at,
            due_at=due_at,
            failures=watch.failures,
            rng=self._rng,
        )
        at = now + delay
        if due_at is not None and now < due_at < at:
            # The last check comes right after the due date.
            self.schedule(watch, due_at + self._overdue_grace_s, due_check=True)
        else:
            self.schedule(watch, at)

    def _collect_due(self, now: float) -> None:
        # With a shared store the claims go straight to the ready queues (adopt_claim).
        for watch in self._wheel.pop_due(now):
            if watch.has(Watch.FINISHED):
                continue
            # Taken off the wheel for good: a watch waiting for a token or a worker must
            # not be scheduled again (two workers would poll it at once).
            watch.flags |= Watch.QUEUED
            kind = RequestKind.DUE if watch.has(Watch.DUE_CHECK) else RequestKind.POLL
            self._ready[kind].append(watch)

    def _best_ready(self) -> RequestKind | None:
        """The most urgent kind of ready work, dropping entries already served."""
        for kind, queue in self._ready.items():
            while queue and (queue[0].flags & _STALE) != Watch.QUEUED:
                queue.popleft()  # served from another queue, or finished
            if queue:
                return kind
        return None

    def _ready_kind(self) -> RequestKind:
        return self._best_ready() or RequestKind.POLL

    async def _schedule_loop(self, handoff: Handoff[Watch]) -> None:
        while True:
            self._collect_due(self._clock())
            if self._best_ready() is None:
                await self._sleep_until_due()
                continue
            if not handoff.has_idle():
                await handoff.until_idle()
                continue  # more may have come due meanwhile
            # A worker, then a token, then the most urgent work at that moment: a
            # confirmation that came in meanwhile goes ahead of routine polls.
            await self._gate.acquire(self._ready_kind)
            kind = self._best_ready()
            if kind is None or not handoff.has_idle():
                continue
            watch = self._ready[kind].popleft()
            watch.flags = (watch.flags & ~Watch.QUEUED) | Watch.IN_FLIGHT
            # No checkpoint: every idle worker gets its watch in this pass of the loop.
            handoff.give(watch)

    async def _sleep_until_due(self) -> None:
        next_at = self._wheel.next_at()
        self._wake = wake = anyio.Event()
        if next_at is None:
            self._sleep_until = math.inf
            await wake.wait()
            return
        self._sleep_until = next_at
        delay = next_at - self._clock()
        if delay > 0:
            with anyio.move_on_after(delay):
                await wake.wait()

    async def _worker(self, handoff: Handoff[Watch]) -> None:
        while True:
            watch = await handoff.take()
            try:
                await self._poll(watch)
            finally:
                watch.flags &= ~Watch.IN_FLIGHT
            if watch.has(Watch.CONFIRM) and not watch.has(Watch.FINISHED):
                self.confirm(watch)  # a change was reported while the poll was out

    async def _plan_loop(self) -> None:
        """Refresh the plan, and the gate's shares with it, every second."""
        while True:
            self._plan = self._make_plan()
            self._gate.weights = {RequestKind(k): v for k, v in self._plan.weights.items()}
            await anyio.sleep(_PLAN_EVERY_S)

    def _make_plan(self) -> Plan:
        # Counted as watches come, go and are swept: a pass over a million watches
        # every second would hold the event loop for a tenth of a second.
        sweepable = self._sweepable
        singles = max(0, len(self._watches) - sweepable)
        elapsed = max(self._clock() - self._started_at, 1.0)
        spent = self._gate.spent
        reserved = (spent[RequestKind.CONFIRM] + spent[RequestKind.DUE]) / elapsed
        return make_plan(
            rate=self._gate.rate(),
            reserved_rate=reserved,
            sweeping=self._sweeper.sweeping,
            sweepable=sweepable,
            singles=singles,
            pages=self._sweeper.pages_per_sweep,
            interval_s=self._policy.interval_s,
        )

    # -- what the fleet link asks of its host ----------------------------------------
    def adopt_claim(self, claim: Claim) -> None:
        """A watch leased from the fleet's store: poll it."""
        record = claim.record
        watch = self._watch_from(record, self._clock())
        if claim.confirm:
            watch.flags |= Watch.CONFIRM
        overdue = watch.due_at is not None and self._clock() >= watch.due_at
        kind = RequestKind.CONFIRM if claim.confirm else RequestKind.DUE if overdue else None
        if kind is RequestKind.DUE:
            watch.flags |= Watch.DUE_CHECK
        self._watches[record.key] = watch
        watch.flags |= Watch.QUEUED
        self._ready[kind or RequestKind.POLL].append(watch)
        self._wake.set()

    def drop_local(self, key: str) -> None:
        """This process no longer holds ``key`` (handed back, or its lease was lost)."""
        watch = self._watches.pop(key, None)
        if watch is not None:
            # Whatever is under way for it is dropped: its next holder decides.
            self._retire(watch)
            watch.flags &= ~Watch.QUEUED

    def fleet_idle(self) -> None:
        """The fleet's store holds no active watch: end the ``stop_when_idle`` iterations."""
        self._changes.end_idle()
        self._outcomes.end_idle()

    async def remote_event(self, event: FleetEvent) -> None:
        """An event another poller of the fleet published: to our subscribers too."""
        if event.kind == "change":
            await self._changes.publish(decode_change(event.payload))
        elif event.kind == "result":
            result = decode_result(event.payload)
            waiter = self._waiters.pop(result.key, None)
            if waiter is not None:
                waiter.set()
            await self._outcomes.publish(result)

    # -- what the sweeper asks of its host -----------------------------------------
    async def baseline(self, watch: Watch, invoice: Invoice) -> None:
        """A first status read by a sweep: no change to report."""
        watch.flags |= Watch.KNOWN
        watch.status = invoice.status
        self._learn_dates(watch, invoice)
        await self._store.update(self._record(watch))

    def count_failure(self, error: RequestFinanceError) -> None:
        self._errors += 1
        if isinstance(error, RateLimitError):
            self._rate_limited += 1
        _log.warning("sweep_failed", error=type(error).__name__)

    # -- one poll ----------------------------------------------------------------------
    async def _poll(self, watch: Watch) -> None:
        if watch.has(Watch.FINISHED):
            return
        if watch.has(Watch.CONFIRM):
            watch.flags &= ~Watch.CONFIRM
            self._confirmations += 1
        watch.flags &= ~Watch.DUE_CHECK
        self._requests += 1
        asked_at = self._clock()
        try:
            invoice = await self._api.invoices.get(watch.key)
        except RequestFinanceError as error:
            await self._failed_poll(watch, error)
            return
        if watch.has(Watch.FINISHED):  # unwatched while the request was out
            return
        watch.failures = 0
        await self._observe(watch, invoice, self._clock(), asked_at=asked_at)

    async def _failed_poll(self, watch: Watch, error: RequestFinanceError) -> None:
        self._errors += 1
        if watch.has(Watch.FINISHED):
            return
        verdict = judge_error(error)
        if verdict.outcome is not Outcome.RETRY:
            _log.warning("watch_failed", key=watch.key, error=type(error).__name__)
            await self._finish(watch, FinishReason.FAILED, error=error)
            return
        watch.failures += 1
        now = self._clock()
        delay = self._policy.next_delay(
            now=now,
            changed_at=watch.changed_at,
            due_at=None,
            failures=watch.failures,
            rng=self._rng,
        )
        if isinstance(error, RateLimitError):
            self._rate_limited += 1
            if error.retry_after is not None:
                delay = max(delay, error.retry_after)
        self.schedule(watch, now + delay)

    async def _observe(
        self, watch: Watch, invoice: Invoice, now: float, *, asked_at: float
    ) -> None:
        """Apply a freshly read invoice to its watch: report, finish or reschedule.

        ``asked_at`` is when the request went out: only an answer to a request sent
        after the due date can show that the invoice was not paid in time.
        """
        first = not watch.has(Watch.KNOWN)
        if first and await self._merged_into_twin(watch, invoice):
            return
        watch.flags |= Watch.KNOWN
        dates_learned = self._learn_dates(watch, invoice)
        old, new = watch.status, invoice.status
        changed = new != old
        if changed:
            watch.status = new
            # A first read is a baseline: the invoice last changed when its newest event
            # says (an invoice open for days is polled less often), not now.
            watch.changed_at = (
                _last_event_at(invoice, now - self._policy.interval_s) if first else now
            )
        if changed or dates_learned:
            await self._store.update(self._record(watch))
        change: StatusChange | None = None
        if changed and not first:
            self._record_lag(invoice, now)
            change = StatusChange(
                key=watch.key,
                request_id=invoice.request_id,
                old_status=old,
                new_status=new,
                invoice=invoice,
                at=utc_at(now),
            )
        verdict = judge_status(new)
        if verdict.outcome is Outcome.FINISH and verdict.reason is not None:
            held = now - watch.changed_at
            if new is InvoiceStatus.PAID and held < self._paid_grace_s:
                if change is not None:
                    await self._emit(change)
                left = self._paid_grace_s - held
                self.schedule(watch, now + min(left, self._policy.interval_s))
                return
            if change is not None:
                change = dataclasses.replace(change, final=True)
            await self._finish(watch, verdict.reason, invoice=invoice, change=change)
            return
        if change is not None:
            await self._emit(change)
        if watch.due_at is not None and now >= watch.due_at:
            if asked_at >= watch.due_at:
                await self._finish(watch, FinishReason.OVERDUE, invoice=invoice)
                return
            # Asked before the due date, answered after it: the invoice may have been
            # paid in between. The last check is a request sent after the due date.
            self.schedule(watch, max(now, watch.due_at + self._overdue_grace_s), due_check=True)
            return
        self.reschedule(watch, now)

    async def _merged_into_twin(self, watch: Watch, invoice: Invoice) -> bool:
        """Whether ``watch`` turned out to be an invoice already watched under its other id.

        An invoice has two ids (``id`` and ``requestId``); watched once by each, it
        would be polled twice and every change reported twice. The later watch
        becomes an alias of the earlier one: no event of its own, and
        ``wait_final`` on either id gives the same result.
        """
        other = invoice.id if watch.key == invoice.request_id else invoice.request_id
        twin = self._watches.get(other) if other else None
        if twin is None or twin is watch or twin.has(Watch.FINISHED):
            return False
        self._retire(watch)
        self._wheel.cancel(watch)
        self._watches.pop(watch.key, None)
        self._aliases[watch.key] = twin.key
        await self._store.forget(watch.key)
        waiter = self._waiters.pop(watch.key, None)
        if waiter is not None:  # wake it: it now waits on the twin's key
            waiter.set()
        _log.info("watch_merged", key=watch.key, into=twin.key)
        return True

    def _learn_dates(self, watch: Watch, invoice: Invoice) -> bool:
        learned = False
        if watch.due_at is None and invoice.due_date is not None:
            watch.due_at = invoice.due_date.timestamp()
            learned = True
        if watch.created_at is None and invoice.creation_date is not None:
            watch.created_at = invoice.creation_date.timestamp()
            learned = True
        return learned

    def _record_lag(self, invoice: Invoice, now: float) -> None:
        # When did the change happen? The newest event, or the payment date.
        lag = now - _last_event_at(invoice, now)
        if 0.0 < lag < 86400.0:
            self._lag.add(lag)

    @staticmethod
    def _record(watch: Watch) -> WatchRecord:
        return WatchRecord(
            key=watch.key,
            status=watch.status,
            due_at=watch.due_at,
            changed_at=watch.changed_at,
            created_at=watch.created_at,
        )

    # -- reporting ---------------------------------------------------------------------
    async def _emit(self, change: StatusChange) -> None:
        if self._fleet is not None and not change.final:
            # In a fleet a change is reported once its new status is in the store
            # (with the watch's reschedule): a holder that loses the store before
            # writing it reports nothing, and the next holder reports it once.
            self._fleet.defer_change(change)
            return
        await self.emit_now(change)

    async def emit_now(self, change: StatusChange) -> None:
        """Report ``change``: callback, local subscribers, and the fleet's."""
        self._change_count += 1
        _log.debug(
            "status_changed",
            key=change.key,
            old=change.old_status.value if change.old_status is not None else None,
            new=change.new_status.value if change.new_status is not None else None,
        )
        if self._on_change is not None:
            await self._run_callback(self._on_change, change)
        await self._changes.publish(change)
        if self._fleet is not None:
            await self._fleet.publish(
                FleetEvent("change", self._fleet.owner, encode_change(change))
            )

    async def _run_callback(
        self, callback: Callable[..., Awaitable[None] | None], value: object
    ) -> None:
        try:
            await call_back(callback, value)
        except Exception as exc:  # a user's callback must not stop every other watch
            _log.error(
                "callback_failed", callback=getattr(callback, "__name__", "?"), error=repr(exc)
            )

    async def _finish(
        self,
        watch: Watch,
        reason: FinishReason,
        *,
        invoice: Invoice | None = None,
        error: BaseException | None = None,
        change: StatusChange | None = None,
    ) -> None:
        if watch.has(Watch.FINISHED):
            return
        self._retire(watch)
        self._wheel.cancel(watch)
        result = WatchResult(
            key=watch.key,
            request_id=invoice.request_id if invoice is not None else None,
            status=watch.status,
            reason=reason,
            at=utc_at(self._clock()),
            invoice=invoice,
            error=error,
        )
        # In a fleet, changes seen earlier wait for their status to be stored; the
        # result stores it, so they are reported with it (or dropped with it).
        deferred = self._fleet.take_deferred(watch.key) if self._fleet is not None else []
        try:
            # Recorded before it is published: at most one publication, even across
            # restarts, and across a fleet of pollers sharing the store.
            try:
                fresh = await self._store.finish(result)
            except (ConnectionError, OSError):
                if self._fleet is None:
                    raise
                # Unreachable store: not recorded, so not published. The watch is
                # still in the store; its next holder finishes it.
                fresh = False
            if fresh:
                for earlier in deferred:
                    await self.emit_now(earlier)
                if change is not None:
                    await self._emit(change)
                self._finished[reason.value] += 1
                _log.info("watch_finished", key=watch.key, reason=reason.value)
                if self._on_finish is not None:
                    await self._run_callback(self._on_finish, result)
                await self._outcomes.publish(result)
                if self._fleet is not None:
                    payload = encode_result(result)
                    await self._fleet.publish(FleetEvent("result", self._fleet.owner, payload))
        finally:
            if self._fleet is not None:
                self._fleet.forget(watch.key)
            self._watches.pop(watch.key, None)
            waiter = self._waiters.pop(watch.key, None)
            if waiter is not None:
                waiter.set()
            if not self._watches:
                self._idle.set()
                if self._fleet is None:
                    self._changes.end_idle()
                    self._outcomes.end_idle()
