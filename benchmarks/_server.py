"""A sandbox in a separate process, so that a server never shares the client's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import aiohttp

from reqfin_async.sandbox import Sandbox, SandboxConfig

__all__ = ["BENCH_CONFIG", "ServerProcess", "sandbox_process"]

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


@contextlib.asynccontextmanager
async def sandbox_process(config: SandboxConfig = BENCH_CONFIG) -> AsyncIterator[ServerProcess]:
    """Start a sandbox in a child process for the duration of the block."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child, config), name="sandbox", daemon=True)
    process.start()
    try:
        url = await asyncio.to_thread(_receive_url, parent)
        yield ServerProcess(url=url, api_key=config.api_key)
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        parent.close()
        child.close()


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
