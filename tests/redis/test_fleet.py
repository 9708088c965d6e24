"""What the fleet shares besides the watch list: events and the token bucket."""

from __future__ import annotations

import asyncio
import time

import pytest

from reqfin_async.poller.stores import redis as redis_store
from reqfin_async.poller.stores.base import FleetEvent

from .conftest import StoreFactory


async def test_events_go_from_one_store_to_another(make_store: StoreFactory) -> None:
    sender = await make_store()
    receiver = await make_store()
    sent = [
        FleetEvent("change", sender.owner, b'{"key":"a"}'),
        FleetEvent("result", sender.owner, b"\x00\xff binary is fine"),
    ]
    for event in sent:
        await sender.publish(event)

    assert await receiver.read_events(1.0) == sent
    assert await receiver.read_events(0) == []  # each event once
    # The publisher reads its own events too (the poller skips them by origin).
    assert await sender.read_events(0) == sent


async def test_a_store_reads_only_events_published_after_it_opened(
    make_store: StoreFactory,
) -> None:
    early = await make_store()
    await early.publish(FleetEvent("change", "early", b"before"))
    late = await make_store()
    await early.publish(FleetEvent("change", "early", b"after"))

    assert [e.payload for e in await late.read_events(0)] == [b"after"]


async def test_read_events_waits_for_an_event(make_store: StoreFactory) -> None:
    sender = await make_store()
    receiver = await make_store()
    reading = asyncio.create_task(receiver.read_events(5.0))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await sender.publish(FleetEvent("change", sender.owner, b"now"))

    events = await asyncio.wait_for(reading, 2.0)
    assert [e.payload for e in events] == [b"now"]
    assert time.monotonic() - started < 1.0


async def test_read_events_gives_up_after_block_s(make_store: StoreFactory) -> None:
    store = await make_store()
    started = time.monotonic()
    assert await store.read_events(0.2) == []
    assert 0.15 <= time.monotonic() - started < 1.0


async def test_read_events_returns_a_whole_backlog(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "_READ_COUNT", 3)  # several reads for 8 events
    sender = await make_store()
    receiver = await make_store()
    for i in range(8):
        await sender.publish(FleetEvent("change", sender.owner, str(i).encode()))
    assert [e.payload for e in await receiver.read_events(1.0)] == [
        str(i).encode() for i in range(8)
    ]


async def test_before_any_answer_the_fleet_probes_one_call_at_a_time(
    make_store: StoreFactory,
) -> None:
    one, two = await make_store(), await make_store()
    assert await one.reserve_call() == (True, 0.0)
    granted, wait = await two.reserve_call()  # the budget is not known yet
    assert not granted
    assert 0.3 < wait <= 0.5


async def test_the_budget_one_store_learned_meters_the_others(make_store: StoreFactory) -> None:
    one, two = await make_store(), await make_store()
    await one.observe_budget(limit=20, remaining=20, reset_s=10.0)
    # A tenth of the window goes at once, then what is left (less the one call kept
    # back) is spread over what is left of the window: slots 10/18 s, then 10/17 s apart.
    assert await two.reserve_call() == (True, 0.0)
    assert await one.reserve_call() == (True, 0.0)
    waits = [await store.reserve_call() for store in (two, one, two)]
    assert all(granted for granted, _ in waits)
    assert waits[0][1] == pytest.approx(10 / 18, rel=0.1)
    assert waits[1][1] == pytest.approx(10 / 18 + 10 / 17, rel=0.1)
    assert waits[2][1] == pytest.approx(10 / 18 + 10 / 17 + 10 / 16, rel=0.1)


async def test_an_answer_with_fewer_calls_left_lowers_the_fleet_count(
    make_store: StoreFactory,
) -> None:
    one, two = await make_store(), await make_store()
    await one.observe_budget(limit=100, remaining=100, reset_s=30.0)
    await two.observe_budget(limit=100, remaining=2, reset_s=29.0)  # others spent it
    assert (await one.reserve_call())[0]  # the last call above the one kept back
    granted, wait = await two.reserve_call()
    assert not granted
    assert 28.0 < wait <= 30.5  # until the window turns


async def test_a_later_reset_starts_a_new_window(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.observe_budget(limit=10, remaining=1, reset_s=0.2)
    assert not (await store.reserve_call())[0]  # only the reserve left
    await store.observe_budget(limit=10, remaining=10, reset_s=60.0)  # the next window
    assert await store.reserve_call() == (True, 0.0)


async def test_a_cancelled_read_events_leaves_the_store_usable(make_store: StoreFactory) -> None:
    # A poller shutting down cancels its blocked read: the connection must not
    # hand the late XREAD reply to the next command.
    store = await make_store()
    reading = asyncio.create_task(store.read_events(3.0))
    await asyncio.sleep(0.1)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading

    await store.publish(FleetEvent("change", store.owner, b"after"))
    assert await store.count_active() == 0
    assert [e.payload for e in await store.read_events(1.0)] == [b"after"]
