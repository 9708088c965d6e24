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


async def test_take_token_shares_one_bucket_between_stores(make_store: StoreFactory) -> None:
    one = await make_store()
    two = await make_store()
    stores = [one, two, one, two, one]
    # Capacity 5 at 10 per second: five tokens at once, then one every 0.1 s.
    assert [await s.take_token(rate=10.0, capacity=5.0) for s in stores] == [0.0] * 5

    wait = await two.take_token(rate=10.0, capacity=5.0)
    assert 0.05 < wait <= 0.1
    assert await one.take_token(rate=10.0, capacity=5.0) > 0
    await asyncio.sleep(0.1 + 0.02)
    assert await one.take_token(rate=10.0, capacity=5.0) == 0.0


async def test_take_token_refills_up_to_capacity_only(make_store: StoreFactory) -> None:
    store = await make_store()
    assert await store.take_token(rate=20.0, capacity=2.0) == 0.0
    await asyncio.sleep(0.3)  # six tokens' worth of time: two fit
    assert await store.take_token(rate=20.0, capacity=2.0) == 0.0
    assert await store.take_token(rate=20.0, capacity=2.0) == 0.0
    assert await store.take_token(rate=20.0, capacity=2.0) > 0


async def test_take_token_checks_its_arguments(make_store: StoreFactory) -> None:
    store = await make_store()
    with pytest.raises(ValueError, match="rate"):
        await store.take_token(rate=0.0, capacity=5.0)
    with pytest.raises(ValueError, match="one token"):
        await store.take_token(rate=1.0, capacity=0.5)


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
