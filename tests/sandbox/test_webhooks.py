"""Webhooks: body shape, HMAC-SHA256 signature, timestamps, retries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import create_request, seller, wait_until


@dataclass
class Receiver:
    """A tiny webhook endpoint on 127.0.0.1 that records what it gets."""

    url: str = ""
    failures_left: int = 0
    attempts: int = 0
    deliveries: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.deliveries]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.attempts += 1
        if state.failures_left:
            state.failures_left -= 1
            return web.Response(status=500)
        state.deliveries.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield state
    await runner.cleanup()


async def delivered(receiver: Receiver, count: int) -> None:
    async def enough() -> bool:
        return len(receiver.deliveries) >= count

    await wait_until(enough)


async def test_webhook_is_signed_with_hmac_sha256(
    make_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    async with (
        make_sandbox(webhook_url=receiver.url, webhook_secret="s3cret") as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        request = await create_request(http, seller(sandbox), invoice_body("W-1"))
        await delivered(receiver, 1)
    body, headers = receiver.deliveries[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == expected
    assert headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert set(event) == {"variant", "event", "timestamp", "invoice"}
    assert (event["variant"], event["event"]) == ("rnf_invoice", "create")
    assert isinstance(event["timestamp"], int)
    assert event["invoice"]["requestId"] == request["requestId"]
    assert event["invoice"]["role"] == "seller"


async def test_webhooks_follow_the_invoice_life(
    make_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    async with (
        make_sandbox(webhook_url=receiver.url) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        request = await create_request(http, seller(sandbox), invoice_body("W-2"))
        sandbox.set_status(request["requestId"], "accepted")
        sandbox.set_status(request["requestId"], "paid")
        await delivered(receiver, 3)
    events = sorted(receiver.events(), key=lambda e: int(e["timestamp"]))
    assert sorted(e["event"] for e in events) == ["accept", "create", "paid"]
    paid = next(e for e in events if e["event"] == "paid")
    assert paid["invoice"]["status"] == "paid"
    assert paid["invoice"]["paymentMetadata"]["txHash"].startswith("0x")


async def test_iso_timestamps_on_request(
    make_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    async with make_sandbox(webhook_url=receiver.url, webhook_timestamp="iso") as sandbox:
        sandbox.seed_invoices(1, status="pending")
        record = next(iter(sandbox.state.invoices("test")))
        sandbox.set_status(record.id, "paid")
        await delivered(receiver, 1)
    stamp = receiver.events()[0]["timestamp"]
    assert isinstance(stamp, str)
    assert datetime.fromisoformat(stamp).tzinfo is not None


async def test_failed_delivery_is_retried(
    make_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    receiver.failures_left = 2
    async with make_sandbox(webhook_url=receiver.url) as sandbox:
        (invoice,) = sandbox.seed_invoices(1)
        sandbox.set_status(invoice["id"], "paid")
        await delivered(receiver, 1)
    assert receiver.attempts == 3


async def test_delivery_gives_up_after_three_attempts(
    make_sandbox: Callable[..., Sandbox], receiver: Receiver
) -> None:
    receiver.failures_left = 10
    async with make_sandbox(webhook_url=receiver.url) as sandbox:
        (invoice,) = sandbox.seed_invoices(1)
        sandbox.set_status(invoice["id"], "paid")

        async def failed() -> bool:
            async with (
                aiohttp.ClientSession(sandbox.url) as http,
                http.get("/sandbox/stats") as response,
            ):
                return bool((await response.json())["webhooks"]["failed"] == 1)

        await wait_until(failed)
    assert receiver.attempts == 3


async def test_webhooks_can_be_configured_at_run_time(
    sandbox: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    config = {"url": receiver.url, "secret": "other"}
    async with http.post("/sandbox/webhooks", json=config) as response:
        assert response.status == 200
    (invoice,) = sandbox.seed_invoices(1)
    sandbox.set_status(invoice["id"], "canceled")
    await delivered(receiver, 1)
    body, headers = receiver.deliveries[0]
    assert headers["X-Webhook-Signature"] == hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["event"] == "cancel"


async def test_no_webhook_without_a_url(sandbox: Sandbox, receiver: Receiver) -> None:
    (invoice,) = sandbox.seed_invoices(1)
    sandbox.set_status(invoice["id"], "paid")
    await asyncio.sleep(0.05)
    assert receiver.attempts == 0
