"""Fixtures of the Redis store tests: a throwaway ``redis-server`` and stores on it.

One server serves the whole session (``REDIS_URL`` replaces it); every test
gets its own namespace, so tests never see each other's keys. A test that stops
or restarts Redis gets a server of its own (``own_redis_server``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import pytest
import redis.asyncio as aioredis

from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller.events import FinishReason, WatchResult
from reqfin_async.poller.stores.redis import RedisWatchStore
from tests.redis_server import RedisServer, RedisServerNotFoundError, find_redis_server

# Short enough that a test waits a lease out quickly, long enough for a few round trips.
LEASE_S = 0.3


def _server() -> RedisServer:
    try:
        return RedisServer.from_environment()
    except RedisServerNotFoundError as exc:
        missing = str(exc)
    # Never a skip: a green run without Redis would prove nothing. (Failed outside
    # the except block, so that the message is not printed twice, chained.)
    pytest.fail(missing, pytrace=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with _server() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, which it may stop and restart.

    Always started from the binary found, even when ``REDIS_URL`` names a shared
    server: stopping that one is not for the tests to do.
    """
    binary = find_redis_server()
    if binary is None:
        pytest.fail(str(RedisServerNotFoundError()), pytrace=False)
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


class StoreFactory(Protocol):
    async def __call__(self, url: str | None = None, **options: Any) -> RedisWatchStore: ...


@pytest.fixture
async def make_store(redis_server: RedisServer, namespace: str) -> AsyncIterator[StoreFactory]:
    """Opens stores (on the session server and the test's namespace unless told otherwise)."""
    stores: list[RedisWatchStore] = []

    async def make(url: str | None = None, **options: Any) -> RedisWatchStore:
        options.setdefault("namespace", namespace)
        store = RedisWatchStore(url or redis_server.url, **options)
        await store.open()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()
    # Only matters on a shared REDIS_URL server: leave nothing behind.
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def make_result(
    key: str, reason: FinishReason = FinishReason.PAID, *, error: str | None = None
) -> WatchResult:
    return WatchResult(
        key=key,
        request_id=f"req-{key}",
        status=InvoiceStatus.PAID if reason is FinishReason.PAID else None,
        reason=reason,
        at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        error=RuntimeError(error) if error is not None else None,
    )
