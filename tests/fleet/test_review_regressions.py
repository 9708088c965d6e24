"""Regressions found in review, in a fleet (pollers on a shared ``RedisWatchStore``, in
this process): a change seen by the poll that finds a watch overdue, a lease found
lost while its reschedule is being written, a push for a watch polled here at that
moment, and ``stop_when_idle`` iterations, which follow the whole fleet."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

import aiohttp
import anyio
import pytest

from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import FinishReason, StatusChange, Subscription, WatchResult
from reqfin_async.poller.fleet import FleetLink
from reqfin_async.poller.stores.base import Claim, FleetEvent, WatchRecord
from reqfin_async.poller.stores.redis import RedisWatchStore
from reqfin_async.sandbox import Sandbox
from tests.poller.conftest import (
    Recorder,
    Traffic,
    fast_config,
    make_poller,
    open_client,
    seed,
    traced_client,
    wait_until,
    webhook_event,
)
from tests.redis_server import RedisServer

from .conftest import delete_namespace

T = TypeVar("T")
OPEN, ACCEPTED, PAID = InvoiceStatus.OPEN, InvoiceStatus.ACCEPTED, InvoiceStatus.PAID


@pytest.fixture
async def redis_url(redis_server: RedisServer, namespace: str) -> AsyncIterator[str]:
    """The session's Redis; the test's namespace is deleted afterwards."""
    yield redis_server.url
    await delete_namespace(redis_server.url, namespace)


# -- a change seen by the poll that finds the watch overdue ---------------------------------


async def test_a_change_seen_by_the_poll_that_finds_a_watch_overdue_is_reported(
    redis_url: str, namespace: str
) -> None:
    async with Sandbox(fast_config()) as sandbox:
        [key] = seed(sandbox, 1)
        sandbox.set_status(key, "accepted")
        # Last seen open, and past its due date: its next poll is the last check, and it
        # sees "accepted" (a change) and the due date passed (the watch ends overdue).
        now = time.time()
        seeder = RedisWatchStore(redis_url, namespace=namespace)
        await seeder.open()
        try:
            stale = WatchRecord(key, status=OPEN, due_at=now - 60, changed_at=now - 120)
            assert await seeder.add([stale]) == [key]
        finally:
            await seeder.close()
        recorder = Recorder()
        store = RedisWatchStore(redis_url, namespace=namespace)
        async with (
            open_client(sandbox) as client,
            make_poller(
                client, store=store, on_change=recorder.on_change, on_finish=recorder.on_finish
            ) as poller,
        ):
            subscription = poller.changes()
            with anyio.fail_after(5):
                result = await poller.wait_final(key)
            # (on_finish runs after the changes the watch had still to report.)
            await wait_until(lambda: bool(recorder.results), what="on_finish")
            assert poller._fleet is not None
            deferred = dict(poller._fleet._deferred)
            published = await take(subscription, 1)
    assert (result.reason, result.status) == (FinishReason.OVERDUE, ACCEPTED)
    assert [(c.key, c.old_status, c.new_status, c.final) for c in recorder.changes] == [
        (key, OPEN, ACCEPTED, False)
    ]
    assert published == recorder.changes
    assert deferred == {}  # nothing left waiting for a reschedule that never comes


async def take(subscription: Subscription[T], count: int) -> list[T]:
    """The next ``count`` events of ``subscription`` (fewer if they take over 1 s)."""
    got: list[T] = []
    with anyio.move_on_after(1):
        async for event in subscription:
            got.append(event)
            if len(got) == count:
                break
    return got


# -- a lease found lost while its reschedule is being written ----------------------------

KEY = "inv-1"


class HeldReschedule(RedisWatchStore):
    """Redis applies a held reschedule at once; its answer waits for ``answer``."""

    def __init__(self, url: str, *, namespace: str, lease_s: float) -> None:
        super().__init__(url, namespace=namespace, lease_s=lease_s)
        self.hold = False
        self.applied = anyio.Event()  # Redis applied the held reschedule
        self.answer = anyio.Event()  # open: its answer comes back
        self.lost_by_renewal: list[str] = []

    async def reschedule(self, items: Sequence[tuple[WatchRecord, float]]) -> list[str]:
        lost = await super().reschedule(items)
        if self.hold:
            self.hold = False
            self.applied.set()
            await self.answer.wait()
        return lost

    async def renew(self, keys: Sequence[str]) -> tuple[list[str], float]:
        lost, until = await super().renew(keys)
        self.lost_by_renewal += lost
        return lost, until


@dataclass
class Host:
    """The poller's side of a ``FleetLink``: what it was given and told."""

    claims: list[Claim] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)

    def adopt_claim(self, claim: Claim) -> None:
        self.claims.append(claim)

    def drop_local(self, key: str) -> None:
        self.drops.append(key)

    async def remote_event(self, event: FleetEvent) -> None:
        return None

    async def emit_now(self, change: StatusChange) -> None:
        self.changes.append(change)

    def fleet_idle(self) -> None:
        return None


async def test_a_lease_found_lost_while_its_reschedule_is_written_keeps_its_changes(
    redis_url: str, namespace: str
) -> None:
    # Renewed every 0.5 s; let go unrenewed only after 1.1 s: the renewal comes first.
    store = HeldReschedule(redis_url, namespace=namespace, lease_s=1.5)
    await store.open()
    try:
        await store.add([WatchRecord(KEY, changed_at=time.time())])
        host = Host()
        link = FleetLink(host, store, capacity=4)
        flushed = anyio.Event()

        async def flush() -> None:
            await link.flush()
            flushed.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(link.run_claims)
            await wait_until(lambda: bool(host.claims), what="the claim")
            # Polled: a change, reported once the new status is stored with the hand-back.
            change = StatusChange(
                key=KEY,
                request_id=KEY,
                old_status=OPEN,
                new_status=ACCEPTED,
                invoice=None,
                at=datetime.now(UTC),
            )
            link.defer_change(change)
            store.hold = True
            link.park(WatchRecord(KEY, status=ACCEPTED, changed_at=time.time()), 30.0)
            tg.start_soon(flush)
            await store.applied.wait()  # stored: the lease has ended in Redis ...
            # ... and a renewal finds it lost before the reschedule's answer is in.
            tg.start_soon(link.run_renewals)
            await wait_until(lambda: KEY not in link.held, timeout_s=3, what="the lease let go")
            assert store.lost_by_renewal == [KEY]
            assert host.changes == []  # the reschedule's answer decides
            store.answer.set()
            with anyio.fail_after(2):
                await flushed.wait()
            tg.cancel_scope.cancel()
    finally:
        await store.close()
    assert host.changes == [change]  # stored, so reported
    assert link._deferred == {}


async def test_a_lease_let_go_while_its_reschedule_waits_to_be_written_keeps_its_changes(
    redis_url: str, namespace: str
) -> None:
    store = RedisWatchStore(redis_url, namespace=namespace, lease_s=30.0)
    await store.open()
    skew = [0.0]  # this process's clock runs ahead by this much (renewals look late)
    try:
        await store.add([WatchRecord(KEY, changed_at=time.time())])
        host = Host()
        link = FleetLink(host, store, capacity=4, clock=lambda: time.time() + skew[0])
        async with anyio.create_task_group() as tg:
            tg.start_soon(link.run_claims)
            await wait_until(lambda: bool(host.claims), what="the claim")
            change = StatusChange(
                key=KEY,
                request_id=KEY,
                old_status=OPEN,
                new_status=ACCEPTED,
                invoice=None,
                at=datetime.now(UTC),
            )
            link.defer_change(change)
            link.park(WatchRecord(KEY, status=ACCEPTED, changed_at=time.time()), 0.0)
            # Before the batch is written, the lease looks about to end unrenewed: let go.
            skew[0] = 29.0
            tg.start_soon(link.run_renewals)
            await wait_until(lambda: KEY not in link.held, timeout_s=3, what="the lease let go")
            assert host.drops == [KEY]
            # Nobody else took the watch: the write is applied, so the change is reported.
            await link.flush()
            tg.cancel_scope.cancel()
        [claim] = await store.claim(1)
    finally:
        await store.close()
    assert claim.record.status is ACCEPTED
    assert host.changes == [change]


# -- a push for a watch polled here at that moment ------------------------------------------


@dataclass
class HeldFirstAnswer:
    """Holds the answer to the first ``GET /invoices/{id}`` of each invoice: the server
    has answered, the answer is on its way back until ``release`` is set."""

    gets: Counter[str] = field(default_factory=Counter)
    answered: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)

    async def middleware(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        path = request.url.path
        if request.method != "GET" or not path.startswith("/invoices/"):
            return await handler(request)
        key = path.rsplit("/", 1)[1]
        self.gets[key] += 1
        first = self.gets[key] == 1
        response = await handler(request)
        if first:
            self.answered.set()
            await self.release.wait()
        return response


async def test_a_push_for_a_watch_polled_here_at_that_moment_is_confirmed_at_once(
    redis_url: str, namespace: str
) -> None:
    async with Sandbox(fast_config()) as sandbox:
        [key] = seed(sandbox, 1)
        held = HeldFirstAnswer()
        store = RedisWatchStore(redis_url, namespace=namespace, lease_s=5.0)
        async with (
            open_client(sandbox) as reader,
            aiohttp.ClientSession(middlewares=(held.middleware,)) as session,
            open_client(sandbox, session=session) as client,
            # After the first read the next poll is 13 s away: only the push brings it on.
            make_poller(client, store=store, interval=30.0) as poller,
        ):
            await poller.watch(key)
            with anyio.fail_after(5):
                await held.answered.wait()  # "open": held on its way back
            sandbox.set_status(key, "paid")
            assert await poller.push(webhook_event(await reader.invoices.get(key))) is True
            held.release.set()
            with anyio.fail_after(3):
                result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID
    assert held.gets[key] == 2  # the first read, and the confirmation


# -- stop_when_idle iterations follow the whole fleet ---------------------------------------


@dataclass
class Follower(Generic[T]):
    """Reads a subscription to its end."""

    events: list[T] = field(default_factory=list)
    ended: bool = False

    async def follow(self, subscription: Subscription[T]) -> None:
        async for event in subscription:
            self.events.append(event)
        self.ended = True


async def test_stop_when_idle_iterations_end_once_the_fleet_is_idle_with_every_event(
    redis_url: str, namespace: str
) -> None:
    async with Sandbox(fast_config()) as sandbox:
        keys = seed(sandbox, 4)
        traffic = Traffic()
        async with (
            traced_client(sandbox, traffic) as client,
            make_poller(
                client, store=RedisWatchStore(redis_url, namespace=namespace), interval=0.2
            ) as one,
            make_poller(
                client, store=RedisWatchStore(redis_url, namespace=namespace), interval=0.2
            ) as other,
        ):
            assert one._fleet is not None
            assert other._fleet is not None
            await one.watch_many(keys)  # only one of them watches: the fleet polls them
            changes = {p: Follower[StatusChange]() for p in (one, other)}
            outcomes = {p: Follower[WatchResult]() for p in (one, other)}
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for p in (one, other):
                        tg.start_soon(changes[p].follow, p.changes(stop_when_idle=True))
                        tg.start_soon(outcomes[p].follow, p.outcomes(stop_when_idle=True))
                    await wait_until(
                        lambda: all(traffic.answered[k] >= 1 for k in keys), what="first reads"
                    )
                    # Both pollers have counted the fleet's watches (every second) ...
                    await wait_until(
                        lambda: other._fleet is not None and other._fleet.active > 0,
                        what="the fleet's watches counted",
                    )
                    # ... and no iteration ended while the fleet has watches.
                    followers: list[Follower[StatusChange] | Follower[WatchResult]]
                    followers = [*changes.values(), *outcomes.values()]
                    assert not any(f.ended for f in followers), "ended with watches left"
                    for key in keys:
                        sandbox.set_status(key, "paid")
                # (The task group is done: every iteration ended by itself.)
            assert await one._fleet.store.count_active() == 0
            assert one._fleet.idle, "ended before the fleet was idle"
            assert other._fleet.idle, "ended before the fleet was idle"
    for p in (one, other):
        # Ended once the fleet was idle, after every event, wherever it was observed.
        assert sorted(r.key for r in outcomes[p].events) == sorted(keys)
        assert {r.reason for r in outcomes[p].events} == {FinishReason.PAID}
        assert sorted((c.key, c.old_status, c.new_status) for c in changes[p].events) == sorted(
            (key, OPEN, PAID) for key in keys
        )
