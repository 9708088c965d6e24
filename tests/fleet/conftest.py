"""Fixtures of the fleet tests: a real Redis server, the sandbox in the test process, and
poller processes (``fleet_process.py``) that share one ``RedisWatchStore`` namespace.

Each process writes what it does as JSON lines; the tests read those logs back (see
``checks.py`` for what is checked on them).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import anyio
import anyio.abc
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from reqfin_async.poller.stores.redis import RedisWatchStore
from reqfin_async.sandbox import Sandbox
from tests.redis_server import RedisServer, RedisServerNotFoundError, find_redis_server

SCRIPT = Path(__file__).with_name("fleet_process.py")
NAMES = ("a", "b", "c")
# Python, aiohttp, redis-py and the library take a while to import on a busy machine.
READY_TIMEOUT_S = 20.0


def _fail_without_redis(error: RedisServerNotFoundError) -> NoReturn:
    # Never a skip: a green run without Redis would prove nothing.
    pytest.fail(str(error), pytrace=False)


def _server() -> RedisServer:
    try:
        return RedisServer.from_environment()
    except RedisServerNotFoundError as exc:
        missing = exc
    # (Failed outside the except block, so that the message is not printed twice.)
    _fail_without_redis(missing)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The session's Redis (``REDIS_URL``'s when set); every test has its own namespace."""
    with _server() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A Redis server of the test's own, started from the binary, which it may restart.

    Started even when ``REDIS_URL`` is set: stopping that one is not for the tests
    to do, and a restart test that skipped would prove nothing.
    """
    binary = find_redis_server()
    if binary is None:
        _fail_without_redis(RedisServerNotFoundError())
    with RedisServer(binary) as server:
        yield server


@pytest.fixture
def namespace() -> str:
    return f"fleet-{uuid.uuid4().hex[:10]}"


def behaviour(sandbox: Sandbox, key: str) -> str | None:
    """What the scripted buyer of an invoice does (``"ignore"``: nothing)."""
    record = sandbox.state.find_anywhere(key)
    assert record is not None
    return record.behaviour


async def open_store(url: str, namespace: str) -> RedisWatchStore:
    store = RedisWatchStore(url, namespace=namespace)
    await store.open()
    return store


async def delete_namespace(url: str, namespace: str) -> None:
    """Only matters on a shared ``REDIS_URL`` server: leave nothing behind."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class ProcessLog:
    """The JSON lines a process wrote so far, read incrementally (a cut line waits)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._offset = 0

    def refresh(self) -> list[dict[str, Any]]:
        if self.path.exists():
            with self.path.open("rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                try:
                    self.events.append(json.loads(line))
                except json.JSONDecodeError:  # the partial last line of a killed process
                    continue
            self._offset += end
        return self.events


class Fleet:
    """Poller processes sharing one namespace, driven through their stdin."""

    def __init__(self, directory: Path, names: Sequence[str]) -> None:
        self.directory = directory
        self.names = tuple(names)
        self.processes: dict[str, anyio.abc.Process] = {}
        self.logs = {name: ProcessLog(directory / f"{name}.jsonl") for name in names}

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Everything logged so far, by one process or by all (each process in order)."""
        if name is not None:
            return self.logs[name].refresh()
        return [event for n in self.names for event in self.logs[n].refresh()]

    def of_kind(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events(name) if e["kind"] == kind]

    async def wait_for(self, check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
        """Wait until ``check`` holds (it reads the logs); fail with the processes' stderr."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout_s} s\n{self.stderr()}")
            for name, process in self.processes.items():
                if process.returncode not in (None, 0, -9):
                    pytest.fail(f"process {name} exited with {process.returncode}\n{self.stderr()}")
            await anyio.sleep(0.02)

    async def go(
        self,
        ids: Sequence[str],
        *,
        wait_final: dict[str, list[str]] | None = None,
        await_outcomes: bool = False,
    ) -> None:
        """Tell every process to watch ``ids`` and to follow the fleet until it drains."""
        work = {"ids": list(ids), "wait_final": wait_final or {}, "await_outcomes": await_outcomes}
        await anyio.Path(self.directory / "work.json").write_text(json.dumps(work))
        for process in self.processes.values():
            assert process.stdin is not None
            await process.stdin.send(b"go\n")

    async def stop(self) -> None:
        """Tell every process to leave now (each releases its leases)."""
        for process in self.processes.values():
            if process.returncode is None and process.stdin is not None:
                await process.stdin.send(b"stop\n")

    async def kill(self, name: str) -> None:
        """SIGKILL: no release, no last write."""
        process = self.processes[name]
        process.kill()
        await process.wait()
        assert process.returncode == -9

    async def wait_exit(self, timeout_s: float) -> None:
        """Wait until every process exits: with 0 (or -9, one the test killed)."""
        with anyio.move_on_after(timeout_s):
            for process in self.processes.values():
                await process.wait()
        running = [name for name, process in self.processes.items() if process.returncode is None]
        if running:
            pytest.fail(f"{running} still running after {timeout_s} s\n{self.stderr()}")
        for name, process in self.processes.items():
            assert process.returncode in (0, -9), f"{name}: {process.returncode}\n{self.stderr()}"

    def stderr(self) -> str:
        parts = []
        for name in self.names:
            path = self.directory / f"{name}.stderr"
            text = path.read_text(errors="replace")[-3000:] if path.exists() else ""
            if text.strip():
                parts.append(f"--- stderr of {name} ---\n{text}")
        return "\n".join(parts)


@asynccontextmanager
async def running_fleet(
    directory: Path,
    sandbox: Sandbox,
    redis_url: str,
    namespace: str,
    *,
    names: Sequence[str] = NAMES,
    lease_s: float = 1.0,
    interval: float = 0.2,
    concurrency: int = 16,
    answer_delay_s: float = 0.0,
) -> AsyncIterator[Fleet]:
    """Start one poller process per name and wait until each has opened its poller.

    On the way out every process still running is killed (a failed test leaves none).
    """
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    fleet = Fleet(directory, names)
    try:
        for number, name in enumerate(names):
            config = {
                "url": sandbox.url,
                "api_key": sandbox.config.api_key,
                "redis_url": redis_url,
                "namespace": namespace,
                "lease_s": lease_s,
                "interval": interval,
                "concurrency": concurrency,
                "seed": 100 + number,
                "answer_delay_s": answer_delay_s,
                "log_dir": str(directory),
            }
            path = directory / f"{name}.json"
            path.write_text(json.dumps(config))
            with (directory / f"{name}.stderr").open("wb") as stderr:
                fleet.processes[name] = await anyio.open_process(
                    [sys.executable, str(SCRIPT), str(path), name],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
        await fleet.wait_for(
            lambda: all(fleet.of_kind("ready", name) for name in names),
            timeout_s=READY_TIMEOUT_S,
            what="every poller process ready",
        )
        yield fleet
    finally:
        with anyio.CancelScope(shield=True):
            for process in fleet.processes.values():
                if process.returncode is None:
                    process.kill()
                await process.wait()
                await process.aclose()
        # (A test that fails while its own Redis is down leaves the keys with it.)
        with contextlib.suppress(redis.exceptions.ConnectionError):
            await delete_namespace(redis_url, namespace)
