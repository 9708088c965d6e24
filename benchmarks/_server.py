"""A sandbox in a separate process, so that a server never shares the client's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.process
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from reqfin_async.sandbox import Sandbox, SandboxConfig

__all__ = [
    "BENCH_CONFIG",
    "ServerProcess",
    "mark_paid",
    "pay_on_schedule",
    "sandbox_process",
    "sandbox_processes",
    "seed",
    "server_stats",
]

# A benchmark measures speed, not the rate limit (unless it says otherwise).
BENCH_CONFIG = SandboxConfig(api_key_limit=10**12, oauth_limit=10**12, unauthenticated_limit=10**12)
_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerProcess:
    """Where the sandbox listens, and how to authenticate to it."""

    url: str
    api_key: str


async def _serve_until_told(conn: Connection, config: SandboxConfig) -> None:
    async with Sandbox(config) as sandbox:
        conn.send(sandbox.url)
        await asyncio.to_thread(conn.recv)  # any message means stop


def _child(conn: Connection, config: SandboxConfig) -> None:
    asyncio.run(_serve_until_told(conn, config))


def _receive_url(conn: Connection) -> str:
    if not conn.poll(_START_TIMEOUT_S):
        raise RuntimeError(f"the sandbox process did not start within {_START_TIMEOUT_S} s")
    url = conn.recv()
    assert isinstance(url, str)
    return url


@dataclass
class _Child:
    process: multiprocessing.process.BaseProcess
    parent: Connection
    child: Connection

    @classmethod
    def start(cls, config: SandboxConfig) -> _Child:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_child, args=(child, config), name="sandbox", daemon=True)
        process.start()
        return cls(process, parent, child)

    async def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.parent.send("stop")
        await asyncio.to_thread(self.process.join, 10)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 5)
        self.parent.close()
        self.child.close()


@contextlib.asynccontextmanager
async def sandbox_processes(*configs: SandboxConfig) -> AsyncIterator[list[ServerProcess]]:
    """A sandbox per config, each in a child process, for the duration of the block.

    They start and stop together: their imports overlap, and a benchmark that
    needs a fresh server per run waits for all of them once.
    """
    children: list[_Child] = []
    try:
        children.extend(_Child.start(config) for config in configs)  # kept as each starts
        urls = await asyncio.gather(*(asyncio.to_thread(_receive_url, c.parent) for c in children))
        yield [
            ServerProcess(url=url, api_key=config.api_key)
            for url, config in zip(urls, configs, strict=True)
        ]
    finally:
        await asyncio.gather(*(child.stop() for child in children))


@contextlib.asynccontextmanager
async def sandbox_process(config: SandboxConfig = BENCH_CONFIG) -> AsyncIterator[ServerProcess]:
    """Start a sandbox in a child process for the duration of the block."""
    async with sandbox_processes(config) as (server,):
        yield server


async def seed(server: ServerProcess, count: int, **options: object) -> list[dict[str, str]]:
    """Create ``count`` open invoices in the sandbox (its control plane, no rate limit)."""
    body = {"count": count, "status": "open", **options}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/sandbox/seed", json=body) as response,
    ):
        response.raise_for_status()
        data = await response.json()
    invoices: list[dict[str, str]] = data["invoices"]
    return invoices


async def server_stats(http: aiohttp.ClientSession, server: ServerProcess) -> dict[str, Any]:
    """The sandbox's own counters (``GET /sandbox/stats``): requests, 429s, chaos."""
    async with http.get(f"{server.url}/sandbox/stats") as response:
        response.raise_for_status()
        stats: dict[str, Any] = await response.json()
    return stats


async def mark_paid(http: aiohttp.ClientSession, server: ServerProcess, key: str) -> float:
    """Mark ``key`` paid; returns when the sandbox changed it (its ``paymentDate``)."""
    url = f"{server.url}/sandbox/invoices/{key}/status"
    async with http.post(url, json={"status": "paid"}) as response:
        response.raise_for_status()
        data: dict[str, Any] = await response.json()
    return datetime.fromisoformat(data["paymentMetadata"]["paymentDate"]).timestamp()


async def pay_on_schedule(
    http: aiohttp.ClientSession, server: ServerProcess, keys: Sequence[str], spacing: float
) -> dict[str, float]:
    """Mark ``keys`` paid in order, one every ``spacing`` seconds; when each changed.

    Each call runs in a task of its own, so a slow answer never holds the schedule.
    """
    paid: dict[str, float] = {}

    async def pay(key: str) -> None:
        paid[key] = await mark_paid(http, server, key)

    calls: list[asyncio.Task[None]] = []
    started = time.monotonic()
    for index, key in enumerate(keys):
        delay = started + index * spacing - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule
        calls.append(asyncio.create_task(pay(key)))
    await asyncio.gather(*calls)
    return paid
