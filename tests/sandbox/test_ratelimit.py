"""Rate-limit headers on every answer, 429 past the budget, unique request ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp

from reqfin_async.sandbox import Sandbox

from .conftest import api_headers, seller


async def test_rate_limit_headers_and_429_with_retry_after(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with make_sandbox(api_key_limit=3) as sandbox, aiohttp.ClientSession(sandbox.url) as http:
        remaining = []
        for _ in range(3):
            async with http.get("/invoices", headers=seller(sandbox)) as response:
                assert response.status == 200
                assert response.headers["X-Rate-Limit-Limit"] == "3"
                assert 0 < int(response.headers["X-Rate-Limit-Reset"]) <= 3600
                remaining.append(int(response.headers["X-Rate-Limit-Remaining"]))
        assert remaining == [2, 1, 0]
        async with http.get("/invoices", headers=seller(sandbox)) as response:
            body = await response.json()
            assert response.status == 429
            assert body["statusCode"] == 429
            assert response.headers["X-Rate-Limit-Remaining"] == "0"
            retry_after = int(response.headers["Retry-After"])
            assert 0 < retry_after <= 3600
            assert retry_after == int(response.headers["X-Rate-Limit-Reset"])
        # The budget is the key's: the buyer still has his.
        async with http.get("/invoices", headers=api_headers(sandbox.config.buyer_api_key)) as r:
            assert r.status == 200


async def test_window_resets_after_rate_window(make_sandbox: Callable[..., Sandbox]) -> None:
    async with (
        make_sandbox(api_key_limit=1, rate_window_s=0.5) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        async with http.get("/invoices", headers=seller(sandbox)) as response:
            assert response.status == 200
        async with http.get("/invoices", headers=seller(sandbox)) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"  # whole seconds, rounded up
        await asyncio.sleep(0.55)  # wait the window out
        async with http.get("/invoices", headers=seller(sandbox)) as response:
            assert response.status == 200


async def test_errors_carry_rate_limit_headers(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    bad_network = {"Authorization": sandbox.config.api_key, "X-Network": "main"}
    for headers in ({"X-Network": "test"}, bad_network):
        async with http.get("/invoices", headers=headers) as response:
            assert response.status in (400, 401)
            assert "X-Rate-Limit-Limit" in response.headers
            assert "X-Rate-Limit-Remaining" in response.headers
            assert "X-Rate-Limit-Reset" in response.headers


async def test_unauthenticated_calls_share_the_ip_budget(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with (
        make_sandbox(unauthenticated_limit=2) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        statuses = []
        for _ in range(3):
            async with http.get("/invoices", headers={"X-Network": "test"}) as response:
                statuses.append(response.status)
        assert statuses == [401, 401, 429]


async def test_every_answer_has_a_unique_request_id(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    ids = set()
    for path in ("/invoices", "/invoices", "/nowhere", "/sandbox/stats"):
        async with http.get(path, headers=seller(sandbox)) as response:
            ids.add(response.headers["x-request-id"])
    assert len(ids) == 4
