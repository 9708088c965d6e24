"""A poller's part in a fleet: claims, leases, write-behind rescheduling, fleet events.

With a ``SharedWatchStore`` the due schedule lives in the store. This process
claims due watches (each with a lease), polls them like any other, and hands
them back with their next due time; a background task renews the leases of
what it holds. Events it observes go to its own subscribers and, through the
store, to every other poller's.

When the store is unreachable the process stops claiming, keeps its leases'
deadlines honest — a watch whose lease it cannot renew is dropped before the
lease ends, since another poller may then claim it — and resumes when the
store is back. A final outcome is published only once the store recorded it,
so nothing is reported twice; a watch dropped half-way is still in the store,
so nothing is lost.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import NamedTuple, Protocol

import anyio

from .._log import get_logger
from .budget import Budget
from .events import StatusChange
from .stores.base import Claim, FleetEvent, SharedWatchStore, WatchRecord

__all__ = ["FleetLink", "FleetHost"]

_log = get_logger(name="fleet")

# A lease is let go this long before it ends when it cannot be renewed.
_LEASE_MARGIN_SHARE = 0.25
_FLUSH_EVERY_S = 0.05
_IDLE_CHECK_S = 1.0
_COUNT_EVERY_S = 1.0
_RETRY_MAX_S = 2.0
_DEADLINE_RESOLUTION_S = 0.005


class _Parked(NamedTuple):
    """A watch handed back, waiting to be written; its changes are reported once it is."""

    record: WatchRecord
    delay_s: float
    lease: int | None  # the lease it was polled under (None: not held then)
    changes: list[StatusChange]


class FleetHost(Protocol):
    """What the fleet link needs of its poller."""

    def adopt_claim(self, claim: Claim) -> None: ...

    def drop_local(self, key: str) -> None: ...

    async def remote_event(self, event: FleetEvent) -> None: ...

    async def emit_now(self, change: StatusChange) -> None: ...

    def fleet_idle(self) -> None: ...


class FleetLink:
    """Moves watches between a shared store and one poller."""

    def __init__(
        self,
        host: FleetHost,
        store: SharedWatchStore,
        *,
        capacity: int,
        budget: Budget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self.store = store
        self._capacity = capacity
        self._fixed_budget = budget
        self._clock = clock
        self.held: dict[str, float] = {}  # key -> lease end (this process's clock)
        # key -> the number of the claim that leased it: a watch handed back and claimed
        # again while a call about its old lease was under way is a new lease, which
        # that call's answer must not end.
        self._lease_of: dict[str, int] = {}
        self._numbers = itertools.count(1)
        self._outbox: list[_Parked] = []
        self._writing: list[_Parked] = []  # the batch being written now
        self._kick = anyio.Event()
        self._flush_kick = anyio.Event()
        # Changes observed here and not yet handed back with their watch (which then
        # carries them: they are reported once its new status is stored).
        self._deferred: dict[str, list[StatusChange]] = {}
        # The latest answer's budget headers, for the fleet (written with the next flush).
        self._budget: tuple[int | None, int, float | None] | None = None
        self.connected = True
        self.active = 0  # fleet-wide, refreshed every second
        self._zero_counts = 0  # consecutive counts that found no active watch

    @property
    def owner(self) -> str:
        return self.store.owner

    def kick(self) -> None:
        """New work may be due (watches added, a confirmation requested)."""
        self._zero_counts = 0
        self._kick.set()

    @property
    def idle(self) -> bool:
        """Whether the whole fleet has had no active watch for a count period."""
        return self._zero_counts >= 2

    def _went_offline(self, error: BaseException) -> None:
        if self.connected:
            self.connected = False
            _log.warning("store_unreachable", error=type(error).__name__)

    def _back_online(self) -> None:
        if not self.connected:
            self.connected = True
            _log.info("store_reachable")

    # -- claiming ---------------------------------------------------------------
    async def run_claims(self) -> None:
        retry = 0.1
        while True:
            room = self._capacity - len(self.held)
            wait: float | None = _IDLE_CHECK_S
            try:
                if room > 0:
                    claims = await self.store.claim(room)
                    self._back_online()
                    retry = 0.1
                    for claim in claims:
                        self.held[claim.record.key] = claim.lease_until
                        self._lease_of[claim.record.key] = next(self._numbers)
                        self._host.adopt_claim(claim)
                    if len(claims) == room:
                        continue  # more may be due: take them while there is room
                    wait = await self.store.next_due_in()
            except (ConnectionError, OSError) as error:
                self._went_offline(error)
                await anyio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX_S)
                continue
            delay = _IDLE_CHECK_S if wait is None else min(max(wait, 0.01), _IDLE_CHECK_S)
            with anyio.move_on_after(delay):
                await self._kick.wait()
            if self._kick.is_set():
                self._kick = anyio.Event()

    # -- leases ---------------------------------------------------------------------
    async def run_renewals(self) -> None:
        lease_s = self.store.lease_s
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run_deadlines)
            while True:
                await anyio.sleep(lease_s / 3)
                leases = {key: self._lease_of.get(key) for key in self.held}
                try:
                    if leases:
                        lost, until = await self.store.renew(list(leases))
                        self._back_online()
                        for key in lost:
                            self._drop(key, leases[key])
                        for key, lease in leases.items():
                            if key in self.held and self._lease_of.get(key) == lease:
                                self.held[key] = until
                except (ConnectionError, OSError) as error:
                    # Not renewed: each lease is let go before it ends (_run_deadlines).
                    self._went_offline(error)

    async def _run_deadlines(self) -> None:
        """Let go of every watch whose lease is about to end unrenewed.

        Past its end another poller may claim it, so this process stops working on it
        a margin before, by its own clock: whether the renewals fail at once (store
        down) or hang (a store that stopped answering, until the socket timeout).
        """
        margin = self.store.lease_s * _LEASE_MARGIN_SHARE
        while True:
            now = self._clock()
            for key, until in list(self.held.items()):
                if until - margin <= now:
                    self._drop(key)
            # A lease claimed from now on ends later than every lease held now.
            earliest = min(self.held.values(), default=now + self.store.lease_s)
            await anyio.sleep(max(earliest - margin - now, _DEADLINE_RESOLUTION_S))

    def _drop(self, key: str, lease: int | None = None) -> None:
        """Let go of ``key`` (of that lease of it only, if given) without handing it back."""
        if key not in self.held or (lease is not None and self._lease_of.get(key) != lease):
            return
        del self.held[key]
        self._lease_of.pop(key, None)
        # Its changes stay with its queued reschedule, which is still written: the store
        # applies it (and they are reported) unless another poller took the watch.
        self._host.drop_local(key)
        self.kick()  # room for another claim

    def _handed_back(self, key: str, lease: int | None) -> None:
        """The store took ``key`` back from this lease: no longer held here."""
        if key in self.held and self._lease_of.get(key) == lease:
            del self.held[key]
            self._lease_of.pop(key, None)
            self._host.drop_local(key)
            # Room for another claim: the claim loop must not wait for its idle check.
            self.kick()

    # -- the fleet's rate budget ---------------------------------------------------------
    def observe(self, limit: int | None, remaining: int, reset_s: float | None) -> None:
        """An answer told the credential's budget (a rate-limiter listener)."""
        self._budget = (limit, remaining, reset_s)
        self._flush_kick.set()

    @property
    def learns_budget(self) -> bool:
        """Whether the fleet's budget comes from the answers (not given up front)."""
        return self._fixed_budget is None

    async def run_fixed_budget(self) -> None:
        """A budget given rather than learned: tell the store, one window after another."""
        budget = self._fixed_budget
        if budget is None:
            return
        while True:
            self.observe(budget.calls, budget.calls, budget.window_s)
            await anyio.sleep(budget.window_s)

    async def _share_budget(self) -> None:
        budget, self._budget = self._budget, None
        if budget is None:
            return
        try:
            await self.store.observe_budget(*budget)
        except (ConnectionError, OSError) as error:
            self._went_offline(error)
            if self._budget is None:
                self._budget = budget  # still the latest: try again with the next flush

    # -- handing watches back -----------------------------------------------------------
    def park(self, record: WatchRecord, delay_s: float) -> None:
        """Queue a watch's next due time for the store (written within 50 ms).

        The changes deferred for it go with it: reported once this write is applied.
        """
        changes = self._deferred.pop(record.key, [])
        lease = self._lease_of.get(record.key)
        self._outbox.append(_Parked(record, max(0.0, delay_s), lease, changes))
        self._flush_kick.set()

    async def run_flush(self) -> None:
        while True:
            await self._flush_kick.wait()
            self._flush_kick = anyio.Event()
            await anyio.sleep(_FLUSH_EVERY_S)  # gather a batch
            await self.flush()

    async def flush(self) -> None:
        """Write the queued reschedules; keep them for later if the store is unreachable."""
        await self._share_budget()
        items, self._outbox = self._outbox, []
        # A reschedule from an older lease of a watch claimed again since must not end
        # the new lease: it is not written, and the store keeps the status it had, so
        # the new lease sees the change again and reports it once. One whose lease was
        # let go is still written: the store applies it only if no other poller took
        # the watch meanwhile.
        items = [p for p in items if self._lease_of.get(p.record.key) in (p.lease, None)]
        if not items:
            return
        self._writing = items
        try:
            lost = set(await self.store.reschedule([(p.record, p.delay_s) for p in items]))
        except (ConnectionError, OSError) as error:
            self._writing = []
            self._went_offline(error)
            now = self._clock()
            # Keep what can still be written within its lease; the rest is the
            # next holder's (the watch is still in the store, nothing is lost).
            for parked in items:
                key = parked.record.key
                if parked.lease is None or self._lease_of.get(key) != parked.lease:
                    continue  # let go already
                if self.held[key] > now:
                    self._outbox.append(parked)
                else:
                    self._drop(key, parked.lease)
            if self._outbox:
                self._flush_kick.set()
                await anyio.sleep(min(_RETRY_MAX_S, self.store.lease_s / 4))
            return
        self._writing = []
        self._back_online()
        for parked in items:
            self._handed_back(parked.record.key, parked.lease)
            if parked.record.key not in lost:
                for change in parked.changes:  # its new status is stored: report it now
                    await self._host.emit_now(change)

    def defer_change(self, change: StatusChange) -> None:
        """Report ``change`` after the watch's reschedule is written (see ``flush``)."""
        self._deferred.setdefault(change.key, []).append(change)

    def take_deferred(self, key: str) -> list[StatusChange]:
        """The changes of ``key`` still waiting: its watch finishes, and reports them."""
        changes: list[StatusChange] = []
        for parked in (*self._writing, *self._outbox):  # oldest first
            if parked.record.key == key:
                changes += parked.changes
                parked.changes.clear()
        return changes + self._deferred.pop(key, [])

    def forget(self, key: str) -> None:
        """The watch finished here: it is no longer held."""
        self._deferred.pop(key, None)
        self._lease_of.pop(key, None)
        if self.held.pop(key, None) is not None:
            self.kick()  # room for another claim

    async def release_all(self) -> None:
        """Shutting down: write what is queued and give back every lease at once."""
        try:
            await self.flush()
            if self.held:
                await self.store.release(list(self.held))
        except (ConnectionError, OSError) as error:
            _log.warning("leases_not_released", held=len(self.held), error=type(error).__name__)
        self.held.clear()
        self._lease_of.clear()

    # -- the fleet's events ---------------------------------------------------------------
    async def publish(self, event: FleetEvent) -> None:
        try:
            await self.store.publish(event)
        except (ConnectionError, OSError) as error:
            # At most once: the outcome itself is in the store for wait_final.
            self._went_offline(error)

    async def run_events(self) -> None:
        retry = 0.1
        while True:
            try:
                events = await self.store.read_events(block_s=_IDLE_CHECK_S)
                retry = 0.1
            except (ConnectionError, OSError) as error:
                self._went_offline(error)
                await anyio.sleep(retry)
                retry = min(retry * 2, _RETRY_MAX_S)
                continue
            for event in events:
                if event.origin != self.owner:
                    await self._host.remote_event(event)

    async def run_count(self) -> None:
        while True:
            try:
                self.active = await self.store.count_active()
            except (ConnectionError, OSError) as error:
                self._went_offline(error)
            else:
                self._zero_counts = self._zero_counts + 1 if self.active == 0 else 0
                if self.idle:
                    # Idle for a whole count period: the last outcome's event, published
                    # right after the store recorded it, has reached us by now.
                    self._host.fleet_idle()
            await anyio.sleep(_COUNT_EVERY_S)
