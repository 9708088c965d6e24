"""The lease keeping of one poller of a fleet (``FleetLink``), against a real Redis,
with the store held at the moments that matter: a lease it cannot renew is let go
before it ends, and the answer to a call about an old lease never ends a new one."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import pytest

from reqfin_async.poller.events import StatusChange
from reqfin_async.poller.fleet import FleetLink
from reqfin_async.poller.stores.base import Claim, FleetEvent, WatchRecord
from reqfin_async.poller.stores.redis import RedisWatchStore
from tests.poller.conftest import wait_until
from tests.redis_server import RedisServer

from .conftest import delete_namespace

KEY = "inv-1"


class HeldStore(RedisWatchStore):
    """A ``RedisWatchStore`` whose calls can be made to fail, or held half-way."""

    def __init__(self, url: str, **options: float | str) -> None:
        super().__init__(url, **options)  # type: ignore[arg-type]
        self.renewals = "answer"  # or "refuse" (unreachable), "hang" (never answers)
        self.renewing = anyio.Event()  # a renewal was asked
        self.renew_before = anyio.Event()  # open: the held renewal goes to Redis
        self.renew_ran = anyio.Event()  # Redis answered the held renewal
        self.renew_after = anyio.Event()  # open: its answer comes back
        self.renewed = anyio.Event()  # a held renewal came back
        self.hold_renewal = False
        self.hold_reschedule = False
        self.rescheduled = anyio.Event()  # a held reschedule was applied by Redis
        self.reschedule_after = anyio.Event()

    async def renew(self, keys: Sequence[str]) -> tuple[list[str], float]:
        if self.renewals == "refuse":
            raise ConnectionError("Redis is unreachable (test)")
        if self.renewals == "hang":
            await anyio.sleep_forever()
        if not self.hold_renewal:
            return await super().renew(keys)
        self.hold_renewal = False
        self.renewing.set()
        await self.renew_before.wait()
        answer = await super().renew(keys)
        self.renew_ran.set()
        await self.renew_after.wait()
        self.renewed.set()
        return answer

    async def reschedule(self, items: Sequence[tuple[WatchRecord, float]]) -> list[str]:
        lost = await super().reschedule(items)
        if self.hold_reschedule:
            self.hold_reschedule = False
            self.rescheduled.set()
            await self.reschedule_after.wait()
        return lost


@dataclass
class Host:
    """The poller's side of the link: what it was given, and what it let go."""

    claims: list[Claim] = field(default_factory=list)
    drops: list[tuple[str, float]] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)
    idle_calls: int = 0

    def adopt_claim(self, claim: Claim) -> None:
        self.claims.append(claim)

    def drop_local(self, key: str) -> None:
        self.drops.append((key, time.time()))

    async def remote_event(self, event: FleetEvent) -> None:
        return None

    async def emit_now(self, change: StatusChange) -> None:
        self.changes.append(change)

    def fleet_idle(self) -> None:
        self.idle_calls += 1


@pytest.fixture
async def make_store(redis_server: RedisServer, namespace: str) -> AsyncIterator[HeldStore]:
    store = HeldStore(redis_server.url, namespace=namespace, lease_s=1.5)
    await store.open()
    await store.add([WatchRecord(KEY, changed_at=time.time())])
    yield store
    await store.close()
    await delete_namespace(redis_server.url, namespace)


async def until(check: Callable[[], bool], what: str) -> None:
    await wait_until(check, timeout_s=3, what=what)


@pytest.mark.parametrize("renewals", ["refuse", "hang"])
async def test_a_lease_it_cannot_renew_is_let_go_before_it_ends(
    make_store: HeldStore, renewals: str
) -> None:
    store = make_store
    host = Host()
    link = FleetLink(host, store, capacity=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.run_claims)
        tg.start_soon(link.run_renewals)
        await until(lambda: bool(host.claims), "the claim")
        # Redis refuses every renewal (down), or never answers one (gone silent).
        store.renewals = renewals
        await until(lambda: bool(host.drops), "the watch let go")
        tg.cancel_scope.cancel()
    [(key, dropped_at)] = host.drops
    assert key == KEY
    assert KEY not in link.held
    # Before the lease ended: from then on another poller may claim the watch.
    assert dropped_at < host.claims[0].lease_until


async def test_a_reschedule_of_an_old_lease_leaves_the_new_lease_alone(
    make_store: HeldStore,
) -> None:
    store = make_store
    host = Host()
    link = FleetLink(host, store, capacity=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.run_claims)
        await until(lambda: bool(host.claims), "the claim")
        # Polled, due again at once: handed back ... and claimed again by this same
        # poller while the answer to the hand-back is still on its way.
        store.hold_reschedule = True
        link.park(host.claims[0].record, 0.0)
        flushed = anyio.Event()

        async def flush() -> None:
            await link.flush()
            flushed.set()

        tg.start_soon(flush)
        await store.rescheduled.wait()
        link.kick()
        await until(lambda: len(host.claims) == 2, "the second claim")
        store.reschedule_after.set()
        await flushed.wait()
        tg.cancel_scope.cancel()
    # The new lease is still held here, and its watch still polled.
    assert host.drops == []
    assert KEY in link.held


async def test_a_renewal_that_lost_the_old_lease_leaves_the_new_lease_alone(
    make_store: HeldStore,
) -> None:
    store = make_store
    host = Host()
    link = FleetLink(host, store, capacity=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(link.run_claims)
        await until(lambda: bool(host.claims), "the claim")
        store.hold_renewal = True
        tg.start_soon(link.run_renewals)
        await store.renewing.wait()  # the renewal set out with the first lease
        # Meanwhile the watch is handed back, due again shortly ...
        link.park(host.claims[0].record, 0.2)
        await link.flush()
        assert host.drops == [(KEY, host.drops[0][1])]
        # ... the renewal reaches Redis (the lease is not this poller's any more) ...
        store.renew_before.set()
        await store.renew_ran.wait()
        # ... and this poller claims the watch again before the renewal's answer is in.
        await until(lambda: len(host.claims) == 2, "the second claim")
        store.renew_after.set()
        await store.renewed.wait()
        await anyio.lowlevel.checkpoint()
        tg.cancel_scope.cancel()
    # Only the hand-back let go of the watch; the new lease is still held.
    assert len(host.drops) == 1
    assert KEY in link.held
