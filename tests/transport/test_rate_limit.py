"""The client keeps within the budget a real server advertises and enforces."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from aiohttp import web

from reqfin_async import RateLimitError, RetryPolicy
from tests.fakeapi import FakeAPI, client_for, invoice_json, reply

LIMIT = 20
WINDOW_S = 1.0
CALLS = 40
INVOICE = invoice_json("inv-1")


class WindowedBudget:
    """A server-side fixed window: ``limit`` calls per ``window_s``, 429 past it."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.started: float | None = None
        self.used = 0
        self.served = 0
        self.refused = 0

    async def handler(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        if self.started is None or now >= self.started + self.window_s:
            self.started, self.used = now, 0
        left_s = math.ceil(self.started + self.window_s - now)
        if self.used >= self.limit:
            self.refused += 1
            headers = {
                "X-Rate-Limit-Limit": str(self.limit),
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(left_s),
                "Retry-After": str(left_s),
            }
            return web.json_response({"message": "rate limited"}, status=429, headers=headers)
        self.used += 1
        self.served += 1
        headers = {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.limit - self.used),
            "X-Rate-Limit-Reset": str(left_s),
        }
        return web.json_response(INVOICE, headers=headers)


async def _run_burst(fake_api: FakeAPI, *, warm: bool) -> WindowedBudget:
    budget = WindowedBudget(LIMIT, WINDOW_S)
    fake_api.add("GET", "/invoices/{id}", budget.handler)
    # No retries: a 429 shows as a failed call instead of being waited out.
    async with client_for(fake_api, retry=RetryPolicy.none(), timeout=5.0) as client:
        if warm:
            await client.invoices.get("inv-1")
        outcomes = await asyncio.gather(
            *(client.invoices.get("inv-1") for _ in range(CALLS)), return_exceptions=True
        )
    failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    assert (budget.refused, failures) == (0, [])
    return budget


async def test_forty_concurrent_gets_after_a_first_answer_see_no_429(fake_api: FakeAPI) -> None:
    budget = await _run_burst(fake_api, warm=True)
    assert budget.served == CALLS + 1
    # More calls than one window allows: they were spread past the reset.
    arrivals = [r.at for r in fake_api.requests]
    assert arrivals[-1] - arrivals[0] >= WINDOW_S


async def test_forty_concurrent_gets_on_a_fresh_client_see_no_429(fake_api: FakeAPI) -> None:
    # The budget is unknown until the first answer: a burst must not spend it blindly.
    await _run_burst(fake_api, warm=False)
    arrivals = [r.at for r in fake_api.requests]
    assert arrivals[-1] - arrivals[0] >= WINDOW_S


async def test_a_429_with_retry_after_pauses_every_caller(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(429, headers={"Retry-After": "0.3"}))
    fake_api.add("GET", "/currency", reply([]))
    async with client_for(fake_api, retry=0) as client:
        async with asyncio.timeout(2):
            with pytest.raises(RateLimitError) as info:
                await client.invoices.get("inv-1")
            assert info.value.retry_after == 0.3
            assert client.rate_limit.paused_for_s > 0.2
            # Other callers, on other endpoints, wait out the pause too.
            await asyncio.gather(client.currencies.all(), client.currencies.all())
    first, *others = fake_api.requests
    assert len(others) == 2
    for later in others:
        assert later.at - first.at >= 0.3


async def test_the_client_reports_the_budget_it_learnt(fake_api: FakeAPI) -> None:
    headers = {
        "X-Rate-Limit-Limit": "5000",
        "X-Rate-Limit-Remaining": "4321",
        "X-Rate-Limit-Reset": "1800",
    }
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE, headers=headers))
    async with client_for(fake_api) as client:
        assert not client.rate_limit.known
        await client.invoices.get("inv-1")
        state = client.rate_limit
    assert state.known
    assert state.limit == 5000
    assert state.remaining == 4321
    assert state.reset_in_s is not None
    assert 1795 <= state.reset_in_s <= 1800
