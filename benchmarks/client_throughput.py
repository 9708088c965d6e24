"""Client throughput: GET one invoice over loopback at concurrency 1, 16, 64 and 256.

Five stacks, measured side by side against the same sandbox process, rounds
interleaved so that drift in the machine hits every stack alike:

- reqfin-async (``client.invoices.get``: auth, rate pacing, retries, typed result);
- the same with ``rate_limit=False`` (what the rate pacing costs: reading the
  ``X-Rate-Limit-*`` headers of every answer, counting calls in flight);
- raw aiohttp + msgspec decoding into the same ``Invoice`` struct (the floor of
  our own stack: what reqfin-async costs on top of its dependencies);
- raw aiohttp + ``json.loads`` (dicts, no types);
- httpx.AsyncClient + pydantic v2 (the stack most Python API clients use).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import httpx
import msgspec

from reqfin_async import ApiKeyAuth, Invoice, RequestFinanceClient

from ._harness import Figure
from ._pydantic_models import INVOICE_ADAPTER
from ._server import ServerProcess, sandbox_process, seed

__all__ = ["run", "CONCURRENCY_LEVELS", "STACKS"]

CONCURRENCY_LEVELS = (1, 16, 64, 256)
MAX_CONNECTIONS = 100  # every stack gets the same connection pool
Fetch = Callable[[], Awaitable[Any]]
Stack = Callable[[ServerProcess, str], contextlib.AbstractAsyncContextManager[Fetch]]


@contextlib.asynccontextmanager
async def reqfin(
    server: ServerProcess, request_id: str, *, rate_limit: bool = True
) -> AsyncIterator[Fetch]:
    client = RequestFinanceClient(
        ApiKeyAuth(server.api_key),
        base_url=server.url,
        max_connections=MAX_CONNECTIONS,
        rate_limit=rate_limit,
    )
    async with client:

        async def fetch() -> Invoice:
            return await client.invoices.get(request_id)

        yield fetch


def reqfin_unpaced(
    server: ServerProcess, request_id: str
) -> contextlib.AbstractAsyncContextManager[Fetch]:
    return reqfin(server, request_id, rate_limit=False)


def _headers(server: ServerProcess) -> dict[str, str]:
    return {
        "Authorization": server.api_key,
        "X-Network": "test",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


@contextlib.asynccontextmanager
async def aiohttp_msgspec(server: ServerProcess, request_id: str) -> AsyncIterator[Fetch]:
    url = f"{server.url}/invoices/{request_id}"
    headers = _headers(server)
    decoder = msgspec.json.Decoder(Invoice)
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def fetch() -> Invoice:
            async with http.get(url, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)
                return decoder.decode(body)

        yield fetch


@contextlib.asynccontextmanager
async def aiohttp_json(server: ServerProcess, request_id: str) -> AsyncIterator[Fetch]:
    url = f"{server.url}/invoices/{request_id}"
    headers = _headers(server)
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def fetch() -> Any:
            async with http.get(url, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)
                return json.loads(body)

        yield fetch


@contextlib.asynccontextmanager
async def httpx_pydantic(server: ServerProcess, request_id: str) -> AsyncIterator[Fetch]:
    url = f"{server.url}/invoices/{request_id}"
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    async with httpx.AsyncClient(headers=_headers(server), limits=limits) as http:

        async def fetch() -> Any:
            response = await http.get(url)
            if response.status_code != 200:
                raise RuntimeError(response.status_code)
            return INVOICE_ADAPTER.validate_json(response.content)

        yield fetch


STACKS: dict[str, Stack] = {
    "reqfin-async": reqfin,
    "reqfin-async, rate_limit=False": reqfin_unpaced,
    "aiohttp + msgspec": aiohttp_msgspec,
    "aiohttp + json.loads": aiohttp_json,
    "httpx + pydantic v2": httpx_pydantic,
}


async def _rate(fetch: Fetch, concurrency: int, seconds: float) -> float:
    done = 0

    async def worker(until: float) -> None:
        nonlocal done
        while time.monotonic() < until:
            await fetch()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
    return done / (time.monotonic() - started)


async def run(*, quick: bool) -> list[Figure]:
    seconds = 0.25 if quick else 1.0
    rounds = 2 if quick else 3
    levels = (1, 64) if quick else CONCURRENCY_LEVELS
    figures: dict[tuple[str, int], Figure] = {
        (name, c): Figure(
            suite="client",
            name=f"{name} @ {c}",
            unit="req/s",
            note=f"GET one invoice, concurrency {c}",
        )
        for c in levels
        for name in STACKS
    }
    async with sandbox_process() as server:
        request_id = (await seed(server, 1))[0]["requestId"]
        for concurrency in levels:
            async with contextlib.AsyncExitStack() as stack:
                fetchers = {
                    name: await stack.enter_async_context(make(server, request_id))
                    for name, make in STACKS.items()
                }
                for fetch in fetchers.values():  # warm-up round, discarded
                    await _rate(fetch, concurrency, seconds / 2)
                for _ in range(rounds):
                    for name, fetch in fetchers.items():
                        figures[(name, concurrency)].rounds.append(
                            await _rate(fetch, concurrency, seconds)
                        )
    out = list(figures.values())
    for concurrency in levels:
        floor = figures[("aiohttp + msgspec", concurrency)].median
        common = figures[("httpx + pydantic v2", concurrency)].median
        for name in ("reqfin-async", "reqfin-async, rate_limit=False"):
            ours = figures[(name, concurrency)].median
            figures[
                (name, concurrency)
            ].note += f"; {ours / floor:.2f}x aiohttp+msgspec, {ours / common:.1f}x httpx+pydantic"
    return out
