"""How many ``GET /invoices/{id}`` the sandbox serves per second (server in another process).

The sandbox must never be the bottleneck of another benchmark: this figure is
the ceiling every client figure is read against.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from ._harness import Figure, measure_rounds
from ._server import ServerProcess, sandbox_process, seed

__all__ = ["run", "hammer"]

CONCURRENCY = 32


async def hammer(server: ServerProcess, target: str, seconds: float, concurrency: int) -> float:
    """GETs per second of raw aiohttp clients on ``target`` for ``seconds``."""
    headers = {"Authorization": server.api_key, "X-Network": "test"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    served = failed = 0
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker(until: float) -> None:
            nonlocal served, failed
            while time.monotonic() < until:
                async with http.get(target, headers=headers) as answer:
                    await answer.read()
                    if answer.status == 200:
                        served += 1
                    else:
                        failed += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if failed:
        raise RuntimeError(f"{failed} GETs failed during the benchmark")
    return served / elapsed


async def run(*, quick: bool) -> list[Figure]:
    seconds = 0.6 if quick else 3.0
    figure = Figure(
        suite="sandbox",
        name="GET /invoices/{id} served",
        unit="req/s",
        note=f"raw aiohttp client, concurrency {CONCURRENCY}",
    )
    async with sandbox_process() as server:
        invoice = (await seed(server, 1))[0]
        target = f"{server.url}/invoices/{invoice['requestId']}"

        async def once() -> float:
            return await hammer(server, target, seconds, CONCURRENCY)

        figure.rounds = await measure_rounds(once, rounds=1 if quick else 3, warmup=1)
    return [figure]
