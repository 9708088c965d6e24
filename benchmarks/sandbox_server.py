"""How many ``GET /invoices/{id}`` the sandbox serves per second (server in another process)."""

from __future__ import annotations

from reqfin_async.sandbox.bench import measure_gets_per_second

from ._harness import Figure, measure_rounds

__all__ = ["run"]


async def run(*, quick: bool) -> list[Figure]:
    seconds = 1.0 if quick else 3.0

    async def once() -> float:
        return await measure_gets_per_second(seconds=seconds, concurrency=32)

    figure = Figure(
        suite="sandbox",
        name="GET /invoices/{id} served",
        unit="req/s",
        note="raw aiohttp client, concurrency 32",
    )
    figure.rounds = await measure_rounds(once, rounds=1 if quick else 3, warmup=0)
    return [figure]
