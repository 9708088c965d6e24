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

import math
import time
from collections.abc import Callable
from typing import Protocol

import anyio

from .._log import get_logger
from .stores.base import Claim, FleetEvent, SharedWatchStore, WatchRecord

__all__ = ["FleetLink", "FleetHost"]

_log = get_logger(name="fleet")

# A lease is let go this long before it ends when it cannot be renewed.
_LEASE_MARGIN_SHARE = 0.25
_FLUSH_EVERY_S = 0.05
_IDLE_CHECK_S = 1.0
_COUNT_EVERY_S = 1.0
_RETRY_MAX_S = 2.0


class FleetHost(Protocol):
    """What the fleet link needs of its poller."""

    def adopt_claim(self, claim: Claim) -> None: ...

    def drop_local(self, key: str) -> None: ...

    async def remote_event(self, event: FleetEvent) -> None: ...


class FleetLink:
    """Moves watches between a shared store and one poller."""

    def __init__(
        self,
        host: FleetHost,
        store: SharedWatchStore,
        *,
        capacity: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._host = host
        self.store = store
        self._capacity = capacity
        self._clock = clock
        self.held: dict[str, float] = {}  # key -> lease end (this process's clock)
        self._outbox: list[tuple[WatchRecord, float]] = []
        self._kick = anyio.Event()
        self._flush_kick = anyio.Event()
        self.connected = True
        self.active = 0  # fleet-wide, refreshed every second
        self.claimed = 0
        self.lost = 0

    @property
    def owner(self) -> str:
        return self.store.owner

    def kick(self) -> None:
        """New work may be due (watches added, a confirmation requested)."""
        self._kick.set()

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
                        self.claimed += 1
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
        while True:
            await anyio.sleep(lease_s / 3)
            keys = list(self.held)
            try:
                if keys:
                    lost, until = await self.store.renew(keys)
                    self._back_online()
                    for key in lost:
                        self._drop(key)
                    for key in keys:
                        if key in self.held:
                            self.held[key] = until
            except (ConnectionError, OSError) as error:
                self._went_offline(error)
                # Past this point another poller may claim them: stop working on them.
                horizon = self._clock() + lease_s * _LEASE_MARGIN_SHARE
                for key, until in list(self.held.items()):
                    if until <= horizon:
                        self._drop(key)

    def _drop(self, key: str) -> None:
        if self.held.pop(key, None) is not None:
            self.lost += 1
            self._host.drop_local(key)

    # -- handing watches back -----------------------------------------------------------
    def park(self, record: WatchRecord, delay_s: float) -> None:
        """Queue a watch's next due time for the store (written within 50 ms)."""
        self._outbox.append((record, max(0.0, delay_s)))
        self._flush_kick.set()

    async def run_flush(self) -> None:
        while True:
            await self._flush_kick.wait()
            self._flush_kick = anyio.Event()
            await anyio.sleep(_FLUSH_EVERY_S)  # gather a batch
            await self.flush()

    async def flush(self) -> None:
        """Write the queued reschedules; keep them for later if the store is unreachable."""
        items, self._outbox = self._outbox, []
        if not items:
            return
        try:
            await self.store.reschedule(items)
        except (ConnectionError, OSError) as error:
            self._went_offline(error)
            now = self._clock()
            # Keep what can still be written within its lease; the rest is the
            # next holder's (the watch is still in the store, nothing is lost).
            for record, delay in items:
                if self.held.get(record.key, -math.inf) > now:
                    self._outbox.append((record, delay))
                else:
                    self._drop(record.key)
            if self._outbox:
                self._flush_kick.set()
                await anyio.sleep(min(_RETRY_MAX_S, self.store.lease_s / 4))
            return
        self._back_online()
        for record, _ in items:
            if self.held.pop(record.key, None) is not None:
                self._host.drop_local(record.key)

    def forget(self, key: str) -> None:
        """The watch finished here: it is no longer held."""
        self.held.pop(key, None)

    async def release_all(self) -> None:
        """Shutting down: write what is queued and give back every lease at once."""
        try:
            await self.flush()
            if self.held:
                await self.store.release(list(self.held))
        except (ConnectionError, OSError) as error:
            _log.warning("leases_not_released", held=len(self.held), error=type(error).__name__)
        self.held.clear()

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
            await anyio.sleep(_COUNT_EVERY_S)
