"""Client throughput: GET one invoice over loopback at concurrency 1, 16, 64 and 256.

Five stacks, measured side by side against the same sandbox process:

- reqfin-async (``client.invoices.get``: auth, rate pacing, retries, typed result);
- the same with ``rate_limit=False`` (what the rate pacing costs: reading the
  ``X-Rate-Limit-*`` headers of answers, counting calls in flight);
- raw aiohttp + msgspec decoding into the same ``Invoice`` struct (the floor of
  our own stack: what reqfin-async costs on top of its dependencies);
- raw aiohttp + ``json.loads`` (dicts, no types);
- httpx.AsyncClient + pydantic v2 (the stack most Python API clients use).

The four aiohttp stacks take turns every 0.1 s within each round, and each
round's ratio of reqfin-async to aiohttp + msgspec is one of the ratio figure's
rounds: the two rates of a round were measured within the same second. httpx
takes a turn of 1 s per round, after a warm-up of 6 s: it needs seconds to
settle under concurrency.
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

from ._harness import Figure, verdict
from ._pydantic_models import INVOICE_ADAPTER
from ._server import ServerProcess, sandbox_process, seed

__all__ = ["run", "CONCURRENCY_LEVELS", "STACKS"]

CONCURRENCY_LEVELS = (1, 16, 64, 256)
TARGET_CONCURRENCY = 64
FLOOR_TARGET = 0.95  # reqfin-async's throughput over raw aiohttp + msgspec's
FLOOR = "aiohttp + msgspec"
COMMON = "httpx + pydantic v2"
OURS = ("reqfin-async", "reqfin-async, rate_limit=False")
LONG_TURNS = (COMMON,)
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
    OURS[0]: reqfin,
    OURS[1]: reqfin_unpaced,
    FLOOR: aiohttp_msgspec,
    "aiohttp + json.loads": aiohttp_json,
    COMMON: httpx_pydantic,
}


async def _slice(fetch: Fetch, concurrency: int, seconds: float) -> tuple[int, float]:
    """Calls done by ``concurrency`` workers in about ``seconds``, and the time taken."""
    done = 0

    async def worker(until: float) -> None:
        nonlocal done
        while time.monotonic() < until:
            await fetch()
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
    return done, time.monotonic() - started


async def _round(
    fetchers: dict[str, Fetch], concurrency: int, *, slices: int, slice_s: float, shift: int
) -> dict[str, float]:
    """One round: every stack runs ``slices`` short slices, taking turns; rates in req/s.

    This machine's speed drifts in bursts of about a second (other tenants), so
    a stack measured for a whole second may run in a slow burst while the next
    one runs in a fast one. Taking turns every ``slice_s`` spreads each burst
    over every stack alike.
    """
    names = list(fetchers)
    done = dict.fromkeys(names, 0)
    took = dict.fromkeys(names, 0.0)
    for turn in range(slices):
        # Each turn starts with another stack, so none always follows the same one.
        start = (shift + turn) % len(names)
        for name in names[start:] + names[:start]:
            calls, seconds = await _slice(fetchers[name], concurrency, slice_s)
            done[name] += calls
            took[name] += seconds
    return {name: done[name] / took[name] for name in names}


async def run(*, quick: bool) -> list[Figure]:
    levels = (1, 64) if quick else CONCURRENCY_LEVELS
    rounds = 3 if quick else 9
    # The aiohttp stacks take turns of slice_s (see _round); httpx, at a few
    # hundred calls a second, a long turn in each round. It also needs a long
    # warm-up: at concurrency 64 its first seconds run at ~170 calls/s (6 ms of
    # CPU per call), then it settles at ~550 and stays there.
    slice_s = 0.05 if quick else 0.1
    slices = 3 if quick else 5
    long_turn_s = 0.3 if quick else 1.0
    long_warm_up_s = 3.5 if quick else 6.0  # it settles after 3-4 s at concurrency 64
    warm_up_s = 0.2 if quick else 0.5
    names = list(STACKS)
    quick_stacks = [name for name in names if name not in LONG_TURNS]
    figures: dict[tuple[str, int], Figure] = {
        (name, c): Figure(
            suite="client",
            name=f"{name} @ {c}",
            unit="req/s",
            note=f"GET one invoice, concurrency {c}; "
            + (
                f"turns of {long_turn_s:g} s after {long_warm_up_s if c > 1 else warm_up_s:g} s"
                " of warm-up"
                if name in LONG_TURNS
                else f"turns of {slice_s:g} s, {slices} per round"
            ),
        )
        for c in levels
        for name in names
    }
    ratios: dict[tuple[str, int], Figure] = {
        (name, c): Figure(
            suite="client",
            name=f"{name} / {FLOOR}, concurrency {c}",
            unit="x",
            note="the two rates of each round",
        )
        for c in levels
        for name in OURS
    }
    async with sandbox_process() as server:
        request_id = (await seed(server, 1))[0]["requestId"]
        for concurrency in levels:
            async with contextlib.AsyncExitStack() as stack:
                fetchers = {
                    name: await stack.enter_async_context(make(server, request_id))
                    for name, make in STACKS.items()
                }
                for name, fetch in fetchers.items():  # warm-up, discarded
                    # httpx's slow start is a matter of concurrency: alone, it is soon settled.
                    slow_start = name in LONG_TURNS and concurrency > 1
                    await _slice(fetch, concurrency, long_warm_up_s if slow_start else warm_up_s)
                close = {name: fetchers[name] for name in quick_stacks}
                for round_no in range(rounds):
                    rates = await _round(
                        close, concurrency, slices=slices, slice_s=slice_s, shift=round_no
                    )
                    for name in LONG_TURNS:
                        calls, took = await _slice(fetchers[name], concurrency, long_turn_s)
                        rates[name] = calls / took
                    for name, rate in rates.items():
                        figures[(name, concurrency)].rounds.append(rate)
                    for name in OURS:
                        ratios[(name, concurrency)].rounds.append(rates[name] / rates[FLOOR])
    for (name, concurrency), ratio in ratios.items():
        if concurrency == TARGET_CONCURRENCY:
            ratio.note += "; " + verdict(ratio.median, FLOOR_TARGET, "x", at_most=False)
            if quick:
                ratio.note += (
                    f"; quick: {rounds} rounds of {slices * slice_s:g} s per stack, "
                    "a few points either way between runs (the full run is the reference)"
                )
        ours = figures[(name, concurrency)]
        common = figures[(COMMON, concurrency)]
        ours.note += f"; {ours.median / common.median:.1f}x {COMMON}"
    return list(figures.values()) + list(ratios.values())
