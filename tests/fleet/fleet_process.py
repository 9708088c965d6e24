"""One poller process of a fleet, for the fleet tests: a ``StatusPoller`` on a shared
``RedisWatchStore``, with everything it does written as JSON lines to a log.

    python fleet_process.py CONFIG_JSON NAME

``CONFIG_JSON`` holds the sandbox's URL and API key, the Redis URL and namespace, the
poller's settings and the directory of the logs (see ``running_fleet`` in
``tests/fleet/conftest.py``). The process opens its poller, logs ``ready``, then
reads commands on stdin:

- ``go``: read ``work.json`` from the log directory (the ids, and which ids this
  process waits for), watch every id (``watch_many``, as each process of a fleet
  would on boot), ``wait_final`` the ids listed, and exit 0 once the whole fleet has
  drained (and, with ``await_outcomes``, once its ``outcomes()`` subscriber has
  heard of every id's outcome);
- ``stop`` (at any time), or the end of stdin: leave now (the poller releases its
  leases).

Logged, each with ``time.time()`` (one clock for every process of the host):
``get`` (every ``GET /invoices/{id}``: sent ``t0``, answered ``t1``, HTTP status,
``X-Rate-Limit-Remaining``); ``claim``/``renew``/``reschedule``/``release``/
``finish``/``token`` (store calls, from ``t0`` to ``t1``; ``store_error`` when one
fails); ``drop`` (the poller let go of a watch); ``on_change``/``on_finish`` (the
callbacks); ``sub_change``/``sub_outcome`` (what its ``changes()``/``outcomes()``
subscribers received); ``wait_final``. Every line is flushed at once: a SIGKILL
loses at most a partial line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp
import anyio
import anyio.abc

from reqfin_async import ApiKeyAuth, RequestFinanceClient
from reqfin_async.poller import (
    StatusChange,
    StatusPoller,
    Subscription,
    WatchResult,
)
from reqfin_async.poller.stores.base import Claim, WatchRecord
from reqfin_async.poller.stores.redis import RedisWatchStore


class EventLog:
    """One JSON object per line, flushed at once."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._stream = stream
        self._name = name

    def write(self, kind: str, **record: Any) -> None:
        record = {"kind": kind, "proc": self._name, **record}
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


class LoggedStore(RedisWatchStore):
    """A ``RedisWatchStore`` that logs the calls which move leases and outcomes."""

    def __init__(self, log: EventLog, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._log = log

    async def _logged(
        self, method: str, call: Callable[[], Awaitable[Any]], **fields: Any
    ) -> tuple[Any, float, float]:
        t0 = time.time()
        try:
            value = await call()
        except (ConnectionError, OSError) as error:
            self._log.write(
                "store_error", method=method, t0=t0, t1=time.time(), error=repr(error), **fields
            )
            raise
        return value, t0, time.time()

    async def claim(self, limit: int) -> list[Claim]:
        claims, t0, t1 = await self._logged("claim", lambda: super(LoggedStore, self).claim(limit))
        if claims:
            self._log.write(
                "claim",
                t0=t0,
                t1=t1,
                keys=[c.record.key for c in claims],
                until=claims[0].lease_until,
                confirm=[c.record.key for c in claims if c.confirm],
            )
        return list(claims)

    async def renew(self, keys: Sequence[str]) -> tuple[list[str], float]:
        (lost, until), t0, t1 = await self._logged(
            "renew", lambda: super(LoggedStore, self).renew(keys), keys=list(keys)
        )
        if keys:
            self._log.write("renew", t0=t0, t1=t1, keys=list(keys), lost=lost, until=until)
        return list(lost), float(until)

    async def reschedule(self, items: Sequence[tuple[WatchRecord, float]]) -> list[str]:
        keys = [record.key for record, _ in items]
        lost, t0, t1 = await self._logged(
            "reschedule", lambda: super(LoggedStore, self).reschedule(items), keys=keys
        )
        self._log.write(
            "reschedule",
            t0=t0,
            t1=t1,
            keys=keys,
            delays=[delay for _, delay in items],
            statuses=[r.status.value if r.status is not None else None for r, _ in items],
            lost=lost,
        )
        return list(lost)

    async def release(self, keys: Sequence[str]) -> None:
        _, t0, t1 = await self._logged(
            "release", lambda: super(LoggedStore, self).release(keys), keys=list(keys)
        )
        self._log.write("release", t0=t0, t1=t1, keys=list(keys))

    async def reserve_call(self) -> tuple[bool, float]:
        (granted, wait), t0, t1 = await self._logged(
            "reserve_call", lambda: super(LoggedStore, self).reserve_call()
        )
        self._log.write("token", t0=t0, t1=t1, granted=granted, wait=wait)
        return bool(granted), float(wait)

    async def finish(self, result: WatchResult) -> bool:
        fresh, t0, t1 = await self._logged(
            "finish", lambda: super(LoggedStore, self).finish(result), key=result.key
        )
        self._log.write("finish", t0=t0, t1=t1, key=result.key, fresh=fresh)
        return bool(fresh)


class LoggedPoller(StatusPoller):
    """A ``StatusPoller`` that logs when it lets go of a watch."""

    log: EventLog | None = None

    def drop_local(self, key: str) -> None:
        if self.log is not None:
            self.log.write("drop", t=time.time(), key=key)
        super().drop_local(key)


def get_logger(
    log: EventLog, answer_delay_s: float = 0.0
) -> Callable[..., Awaitable[aiohttp.ClientResponse]]:
    """A client middleware that logs every ``GET /invoices/{id}`` with its times.

    ``answer_delay_s`` holds each answer that long (a slow API), so that the poller
    holds its leases longer.
    """

    async def middleware(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        path = request.url.path
        if request.method != "GET" or not path.startswith("/invoices/"):
            return await handler(request)
        t0 = time.time()
        status = remaining = None
        try:
            response = await handler(request)
            status = response.status
            remaining = response.headers.get("X-Rate-Limit-Remaining")
            if answer_delay_s:
                await asyncio.sleep(answer_delay_s)
            return response
        finally:
            log.write(
                "get",
                key=path.rsplit("/", 1)[1],
                t0=t0,
                t1=time.time(),
                status=status,
                remaining=remaining,
            )

    return middleware


def describe_change(change: StatusChange) -> dict[str, Any]:
    return {
        "key": change.key,
        "old": change.old_status.value if change.old_status is not None else None,
        "new": change.new_status.value if change.new_status is not None else None,
        "final": change.final,
    }


def describe_result(result: WatchResult) -> dict[str, Any]:
    return {
        "key": result.key,
        "reason": result.reason.value,
        "status": result.status.value if result.status is not None else None,
        "at": result.at.timestamp(),
    }


class Follower:
    """The poller's callbacks and subscribers, writing to the log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._seen: set[str] = set()
        self._expected: set[str] | None = None
        self.all_seen = anyio.Event()

    def expect(self, ids: list[str]) -> None:
        """From now on ``all_seen`` tells when every id's outcome reached the subscriber."""
        self._expected = set(ids)
        self._check()

    def _check(self) -> None:
        if self._expected is not None and self._expected <= self._seen:
            self.all_seen.set()

    def on_change(self, change: StatusChange) -> None:
        self.log.write("on_change", t=time.time(), **describe_change(change))

    def on_finish(self, result: WatchResult) -> None:
        self.log.write("on_finish", t=time.time(), **describe_result(result))

    async def record_changes(self, changes: Subscription[StatusChange]) -> None:
        async for change in changes:
            self.log.write("sub_change", t=time.time(), **describe_change(change))

    async def record_outcomes(self, outcomes: Subscription[WatchResult]) -> None:
        async for result in outcomes:
            self.log.write("sub_outcome", t=time.time(), **describe_result(result))
            self._seen.add(result.key)
            self._check()


async def wait_final(poller: StatusPoller, key: str, log: EventLog) -> None:
    result = await poller.wait_final(key)
    log.write("wait_final", t=time.time(), **describe_result(result))


async def follow(poller: StatusPoller, work: dict[str, Any], follower: Follower) -> None:
    """Watch every id, wait for the ids to wait for, and for the fleet to drain."""
    log = follower.log
    follower.expect(work["ids"])
    added = await poller.watch_many(work["ids"])
    log.write("added", t=time.time(), count=len(added))
    async with anyio.create_task_group() as waits:
        for key in work.get("wait_final", ()):
            waits.start_soon(wait_final, poller, key, log)
        await poller.drain()
        log.write("drained", t=time.time())
    if work.get("await_outcomes"):
        # Every outcome of the fleet reaches this process's subscriber (fleet events).
        with anyio.move_on_after(10):
            await follower.all_seen.wait()
        log.write("outcomes_seen", t=time.time(), all=follower.all_seen.is_set())


async def until_stop(commands: asyncio.StreamReader, scope: anyio.CancelScope) -> None:
    while (await commands.readline()).strip() not in (b"stop", b""):
        pass
    scope.cancel()


async def run(config: dict[str, Any], name: str, log: EventLog) -> None:
    follower = Follower(log)
    store = LoggedStore(
        log, config["redis_url"], namespace=config["namespace"], lease_s=config["lease_s"]
    )
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(commands), sys.stdin
    )
    try:
        async with (
            aiohttp.ClientSession(
                middlewares=(get_logger(log, config.get("answer_delay_s", 0.0)),)
            ) as session,
            RequestFinanceClient(
                ApiKeyAuth(config["api_key"]),
                network="test",
                base_url=config["url"],
                session=session,
            ) as client,
        ):
            poller = LoggedPoller(
                client,
                interval=config["interval"],
                concurrency=config["concurrency"],
                overdue_grace_s=0.1,
                store=store,
                on_change=follower.on_change,
                on_finish=follower.on_finish,
                seed=config["seed"],
            )
            poller.log = log
            async with anyio.create_task_group() as tg, poller:
                tg.start_soon(follower.record_changes, poller.changes())
                tg.start_soon(follower.record_outcomes, poller.outcomes())
                log.write("ready", t=time.time(), owner=store.owner)
                if (await commands.readline()).strip() == b"go":
                    # What to do is known only now: the invoices are seeded once every
                    # process is ready, so that their due dates count from the start.
                    work = json.loads(await anyio.Path(config["log_dir"], "work.json").read_text())
                    work["wait_final"] = work.get("wait_final", {}).get(name, [])
                    async with anyio.create_task_group() as steps:
                        steps.start_soon(until_stop, commands, steps.cancel_scope)
                        await follow(poller, work, follower)
                        steps.cancel_scope.cancel()
            # The poller has stopped; its subscriptions ended after what was buffered.
            log.write("done", t=time.time(), finished=poller.stats().finished)
    finally:
        transport.close()


def main(argv: list[str]) -> int:
    config_path, name = argv
    config = json.loads(Path(config_path).read_text())
    logging.basicConfig(level=logging.ERROR)
    with Path(config["log_dir"], f"{name}.jsonl").open("a", encoding="utf-8") as stream:
        anyio.run(run, config, name, EventLog(stream, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
