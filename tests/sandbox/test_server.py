"""Starting and stopping: free ports, the banner, run_sandbox, no task left behind."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import aiohttp

from reqfin_async.sandbox import BuyerScript, Sandbox, SandboxConfig, run_sandbox
from tests.specbody import invoice_body

from .conftest import create, seller


async def test_port_zero_picks_a_free_loopback_port() -> None:
    async with Sandbox() as first, Sandbox() as second:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url != second.url
        assert first.token_url == first.url + "/oauth/token"
        assert first.authorize_url == first.url + "/authorize"


async def test_banner_lists_the_url_and_every_credential() -> None:
    config = SandboxConfig(api_key="k-1", client_id="c-1", client_secret="s-1")
    async with Sandbox(config) as sandbox:
        banner = sandbox.banner()
        expected = [sandbox.url, sandbox.token_url, "k-1", config.buyer_api_key, "c-1", "s-1",
                    config.webhook_secret]  # fmt: skip
    for text in expected:
        assert text in banner


async def test_run_sandbox_serves_until_cancelled() -> None:
    ready: asyncio.Queue[Sandbox] = asyncio.Queue()
    task = asyncio.create_task(run_sandbox(SandboxConfig(), port=0, on_ready=ready.put_nowait))
    sandbox = await asyncio.wait_for(ready.get(), timeout=5)
    async with aiohttp.ClientSession(sandbox.url) as http, http.get("/currency") as response:
        assert response.status == 200
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def test_sandbox_leaves_no_task_behind(make_sandbox: Callable[..., Sandbox]) -> None:
    unhandled: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    before = asyncio.all_tasks()
    slow_buyers = BuyerScript(min_delay_s=30, max_delay_s=60)
    # Port 9 (discard) refuses connections: deliveries keep retrying in the background.
    sandbox = make_sandbox(
        buyers=slow_buyers, pending_delay_s=30, webhook_url="http://127.0.0.1:9/hook"
    )
    async with sandbox, aiohttp.ClientSession(sandbox.url) as http:
        sandbox.seed_invoices(5)
        invoice = await create(http, seller(sandbox), invoice_body("T-1"))
        async with http.post(f"/invoices/{invoice['id']}", headers=seller(sandbox)) as response:
            assert response.status == 201
        assert sandbox.background_tasks > 0
    assert sandbox.background_tasks == 0
    assert asyncio.all_tasks() - before == set()
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert unhandled == []
