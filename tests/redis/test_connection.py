"""Connections: outages become ConnectionError, a restarted Redis is used again, clients, repr."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from reqfin_async.poller.stores.base import FleetEvent, WatchRecord
from reqfin_async.poller.stores.redis import RedisWatchStore
from tests.redis_server import RedisServer

from .conftest import StoreFactory, make_result


async def test_every_method_raises_the_builtin_connection_error_while_redis_is_down(
    make_store: StoreFactory, own_redis_server: RedisServer
) -> None:
    store = await make_store(own_redis_server.url)
    await store.add([WatchRecord("a")])
    await own_redis_server.astop()

    record = WatchRecord("a")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "add": lambda: store.add([record]),
        "finish": lambda: store.finish(make_result("a")),
        "result": lambda: store.result("a"),
        "results": store.results,
        "forget": lambda: store.forget("a"),
        "claim": lambda: store.claim(10),
        "next_due_in": store.next_due_in,
        "renew": lambda: store.renew(["a"]),
        "reschedule": lambda: store.reschedule([(record, 1.0)]),
        "release": lambda: store.release(["a"]),
        "request_confirm": lambda: store.request_confirm(["a"]),
        "is_active": lambda: store.is_active("a"),
        "count_active": store.count_active,
        "publish": lambda: store.publish(FleetEvent("change", store.owner, b"{}")),
        "read_events": lambda: store.read_events(0.5),
        "observe_budget": lambda: store.observe_budget(10, 5, 1.0),
        "reserve_call": store.reserve_call,
        "open": RedisWatchStore(own_redis_server.url).open,
    }
    failures: list[str] = []
    for name, call in calls.items():
        try:
            await asyncio.wait_for(call(), 5.0)
        except ConnectionError as exc:
            # The builtin, caused by redis-py's own: the poller needs no redis import.
            if not isinstance(exc.__cause__, redis.exceptions.RedisError):
                failures.append(f"{name}: cause {exc.__cause__!r}")
        except BaseException as exc:
            failures.append(f"{name}: {exc!r}")
        else:
            failures.append(f"{name}: no error")
    assert failures == []


async def test_a_blocked_read_events_fails_when_redis_goes_away(
    make_store: StoreFactory, own_redis_server: RedisServer
) -> None:
    store = await make_store(own_redis_server.url)
    reading = asyncio.create_task(store.read_events(3.0))
    await asyncio.sleep(0.1)
    await own_redis_server.astop()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(reading, 5.0)


@pytest.mark.parametrize("kill", [False, True], ids=["shutdown", "crash"])
async def test_after_a_restart_the_data_is_there_and_calls_work(
    make_store: StoreFactory, own_redis_server: RedisServer, kill: bool
) -> None:
    store = await make_store(own_redis_server.url, lease_s=30.0)
    listener = await make_store(own_redis_server.url)
    await store.add([WatchRecord("held")])
    [held] = await store.claim(1)
    await store.add([WatchRecord("idle"), WatchRecord("done")])
    await store.finish(make_result("done"))
    await store.publish(FleetEvent("change", store.owner, b"before"))
    assert len(await listener.read_events(0)) == 1

    await own_redis_server.arestart(kill=kill)

    # Redis 7 starts with an empty script cache (6.2 replays SCRIPT LOAD from the
    # AOF): either way the calls work, on connections made anew.
    assert await store.count_active() == 2
    assert [c.record.key for c in await store.claim(10)] == ["idle"]
    lost, _ = await store.renew([held.record.key])
    assert lost == []
    assert await store.reschedule([(held.record, 0.0)]) == []
    assert await store.finish(make_result("done")) is False
    assert [r.key for r in await store.results()] == ["done"]
    await store.publish(FleetEvent("change", store.owner, b"after"))
    assert [e.payload for e in await listener.read_events(1.0)] == [b"after"]
    assert await store.reserve_call() == (True, 0.0)


async def test_scripts_are_loaded_again_when_the_server_forgot_them(
    make_store: StoreFactory, redis_server: RedisServer
) -> None:
    store = await make_store()
    await store.add([WatchRecord("a")])
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await raw.script_flush()
        assert [c.record.key for c in await store.claim(10)] == ["a"]
        assert await raw.script_exists(store._scripts["claim"].sha) == [True]
    finally:
        await raw.aclose()


async def test_a_given_client_is_used_and_left_open(
    redis_server: RedisServer, namespace: str
) -> None:
    # RESP2, where redis-py's own default is RESP3: both reply shapes work.
    client = aioredis.Redis.from_url(redis_server.url, protocol=2)
    try:
        store = RedisWatchStore(client=client, namespace=namespace)
        await store.open()
        await store.add([WatchRecord("a")])
        await store.publish(FleetEvent("change", store.owner, b"x"))
        assert [e.payload for e in await store.read_events(0)] == [b"x"]
        await store.close()

        assert await client.zcard(f"{namespace}:due") == 1
        await client.delete(*[k async for k in client.scan_iter(match=f"{namespace}:*")])
    finally:
        await client.aclose()


async def test_a_client_that_decodes_responses_is_refused(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode"):
            RedisWatchStore(client=client)
    finally:
        await client.aclose()


async def test_a_store_that_is_not_open_says_so() -> None:
    store = RedisWatchStore()
    with pytest.raises(RuntimeError, match="not open"):
        await store.count_active()


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cr3t-pw@cache.internal:6379/0",
        "redis://alice:s3cr3t-pw@cache.internal:6379/0",
        "rediss://alice:s3cr3t-pw@cache.internal/0?ssl_cert_reqs=required",
        "unix:///run/redis.sock?db=0&password=s3cr3t-pw",
    ],
)
def test_the_password_in_a_url_never_appears_in_repr(url: str) -> None:
    text = repr(RedisWatchStore(url, owner="me"))
    assert "s3cr3t-pw" not in text
    assert "RedisWatchStore(" in text
    assert "owner='me'" in text


def test_repr_shows_where_the_store_is() -> None:
    store = RedisWatchStore("redis://alice:pw@cache.internal:6380/2", namespace="billing")
    assert repr(store).startswith(
        "RedisWatchStore('redis://alice:[redacted]@cache.internal:6380/2', namespace='billing'"
    )
