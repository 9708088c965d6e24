"""Injected faults: what each kind does, where it applies, and that a seed repeats it."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import pytest

from reqfin_async.sandbox import ChaosConfig, Sandbox
from tests.specbody import invoice_body

from .conftest import seller


def chaos(kind: str, *, slow_s: float = 1.5, retry_after_s: int = 1) -> ChaosConfig:
    """Every API call gets the fault ``kind``."""
    return ChaosConfig(rate=1.0, kinds={kind: 1}, slow_s=slow_s, retry_after_s=retry_after_s)


def numbers(sandbox: Sandbox) -> list[str]:
    return [record.data["invoiceNumber"] for record in sandbox.state.invoices("test")]


async def test_chaos_drop_after_creates_the_invoice(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with (
        make_sandbox(chaos=chaos("drop_after")) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await http.post("/invoices", json=invoice_body("X-1"), headers=seller(sandbox))
        assert numbers(sandbox) == ["X-1"]
        assert sandbox.request_count == 0  # the answer never left


async def test_chaos_drop_closes_before_handling(make_sandbox: Callable[..., Sandbox]) -> None:
    async with (
        make_sandbox(chaos=chaos("drop")) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await http.post("/invoices", json=invoice_body("X-2"), headers=seller(sandbox))
        assert numbers(sandbox) == []


@pytest.mark.parametrize(("kind", "status"), [("503", 503), ("429", 429)])
async def test_chaos_unavailable_and_throttled_carry_retry_after(
    make_sandbox: Callable[..., Sandbox], kind: str, status: int
) -> None:
    async with (
        make_sandbox(chaos=chaos(kind, retry_after_s=2)) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
        http.get("/invoices", headers=seller(sandbox)) as response,
    ):
        assert response.status == status
        assert response.headers["Retry-After"] == "2"
        assert (await response.json())["statusCode"] == status
        # Not charged to the budget.
        limit = response.headers["X-Rate-Limit-Limit"]
        assert response.headers["X-Rate-Limit-Remaining"] == limit


async def test_chaos_500_is_an_internal_error(make_sandbox: Callable[..., Sandbox]) -> None:
    async with (
        make_sandbox(chaos=chaos("500")) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
        http.get("/invoices", headers=seller(sandbox)) as response,
    ):
        assert response.status == 500
        assert (await response.json())["message"] == "Internal server error"


async def test_chaos_slow_answers_late_but_right(make_sandbox: Callable[..., Sandbox]) -> None:
    async with (
        make_sandbox(chaos=chaos("slow", slow_s=0.2)) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        started = time.monotonic()
        async with http.get("/invoices", headers=seller(sandbox)) as response:
            assert response.status == 200
        assert time.monotonic() - started >= 0.2


async def test_chaos_spares_the_control_plane_and_oauth(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with (
        make_sandbox(chaos=chaos("500")) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        async with http.post("/sandbox/seed", json={"count": 1}) as response:
            assert response.status == 201
        form = {
            "grant_type": "client_credentials",
            "client_id": sandbox.config.client_id,
            "client_secret": sandbox.config.client_secret,
            "audience": "accounts",
        }
        async with http.post("/oauth/token", data=form) as response:
            assert response.status == 200
        async with http.get("/sandbox/stats") as response:
            assert (await response.json())["chaos"] == {}


async def test_chaos_is_reproducible_with_a_seed(make_sandbox: Callable[..., Sandbox]) -> None:
    config = ChaosConfig(rate=0.5, kinds={"500": 1, "503": 1})
    runs = []
    for _ in range(2):
        async with (
            make_sandbox(chaos=config, seed=42) as sandbox,
            aiohttp.ClientSession(sandbox.url) as http,
        ):
            statuses = []
            for _ in range(30):
                async with http.get("/invoices", headers=seller(sandbox)) as response:
                    statuses.append(response.status)
            runs.append(statuses)
    assert runs[0] == runs[1]
    assert {200, 500, 503} == set(runs[0])
