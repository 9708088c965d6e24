"""The aiohttp receiver, alone and end to end: sandbox sender → receiver → poller."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from reqfin_async import ApiKeyAuth, InvoiceStatus, RequestFinanceClient
from reqfin_async.poller import StatusPoller
from reqfin_async.sandbox import Sandbox, SandboxConfig
from reqfin_async.webhooks import (
    SIGNATURE_HEADER,
    WebhookEvent,
    WebhookEventType,
    sign_webhook,
    webhook_app,
)

SECRET = "whsec-receiver"
INVOICE = json.loads((Path(__file__).parent.parent / "fixtures" / "invoice_get.json").read_text())
OnEvent = Callable[[WebhookEvent], Awaitable[object]]


async def eventually(condition: Callable[[], bool], *, within_s: float = 5.0) -> None:
    """Wait until ``condition()`` holds, checking every 10 ms."""
    with anyio.fail_after(within_s):
        while not condition():  # noqa: ASYNC110 - polling another component's state
            await asyncio.sleep(0.01)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) and give its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    sockets: list[socket.socket] = list(server.sockets)  # type: ignore[attr-defined]
    port = sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def receiver(on_event: OnEvent, **options: Any) -> AsyncIterator[str]:
    """A user's app with the webhook receiver mounted at /hooks/."""
    app = web.Application()
    app.add_subapp("/hooks", webhook_app(on_event, secret=SECRET, **options))
    async with serve(app) as url:
        yield f"{url}/hooks/"


def signed(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload).encode()
    return raw, {SIGNATURE_HEADER: sign_webhook(raw, SECRET), "Content-Type": "application/json"}


def paid_event() -> dict[str, Any]:
    return {
        "variant": "rnf_invoice",
        "event": "paid",
        "timestamp": 1_700_000_000_000,
        "invoice": {**INVOICE, "status": "paid"},
    }


async def test_a_verified_event_is_handed_over_before_the_200() -> None:
    handled: list[WebhookEvent] = []

    async def slow_handler(event: WebhookEvent) -> None:
        await asyncio.sleep(0.05)
        handled.append(event)

    async with receiver(slow_handler) as url, aiohttp.ClientSession() as http:
        raw, headers = signed(paid_event())
        async with http.post(url, data=raw, headers=headers) as answer:
            assert answer.status == 200
            assert len(handled) == 1  # handed over before the answer
    assert handled[0].event is WebhookEventType.PAID
    assert handled[0].invoice.status is InvoiceStatus.PAID


async def test_a_bad_signature_answers_401_and_calls_nothing() -> None:
    handled: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event)

    async with receiver(handler) as url, aiohttp.ClientSession() as http:
        raw, headers = signed(paid_event())
        headers[SIGNATURE_HEADER] = sign_webhook(raw, "not-the-secret")
        async with http.post(url, data=raw, headers=headers) as answer:
            assert answer.status == 401
        async with http.post(url, data=raw, headers={"Content-Type": "application/json"}) as answer:
            assert answer.status == 401
    assert handled == []


async def test_a_malformed_signed_body_answers_400() -> None:
    async def handler(event: WebhookEvent) -> None:
        raise AssertionError("must not be called")

    async with receiver(handler) as url, aiohttp.ClientSession() as http:
        raw = b'{"variant": "rnf_invoice"}'
        headers = {SIGNATURE_HEADER: sign_webhook(raw, SECRET)}
        async with http.post(url, data=raw, headers=headers) as answer:
            assert answer.status == 400


async def test_an_oversized_body_answers_413_without_calling_the_handler() -> None:
    handled: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        handled.append(event)

    async with receiver(handler, max_body_bytes=1024) as url, aiohttp.ClientSession() as http:
        big = json.dumps({**paid_event(), "padding": "x" * 5000}).encode()
        headers = {SIGNATURE_HEADER: sign_webhook(big, SECRET)}
        async with http.post(url, data=big, headers=headers) as answer:
            assert answer.status == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"x" * 512

        async with http.post(url, data=chunks(), headers=headers) as answer:
            assert answer.status == 413
    assert handled == []


async def test_a_failing_handler_answers_500_so_the_sender_tries_again() -> None:
    async def handler(event: WebhookEvent) -> None:
        raise RuntimeError("database down")

    async with receiver(handler) as url, aiohttp.ClientSession() as http:
        raw, headers = signed(paid_event())
        async with http.post(url, data=raw, headers=headers) as answer:
            assert answer.status == 500
            assert "database down" not in await answer.text()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, webhook_secret=SECRET)
    async with Sandbox(config) as running:
        yield running


async def _configure_webhooks(sandbox: Sandbox, url: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.url}/sandbox/webhooks", json={"url": url, "secret": SECRET}) as answer,
    ):
        assert answer.status == 200


def _body(number: str) -> dict[str, Any]:
    return {
        "invoiceNumber": number,
        "invoiceItems": [{"currency": "USD", "name": "TV", "quantity": 2, "unitPrice": "9999"}],
        "buyerInfo": {"email": "buyer@sandbox.test"},
        "paymentOptions": [
            {
                "type": "wallet",
                "value": {
                    "currencies": ["USDC-matic"],
                    "paymentInformation": {
                        "paymentAddress": "0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                        "chain": "matic",
                    },
                },
            }
        ],
    }


async def test_the_sandbox_sender_and_this_receiver_agree(sandbox: Sandbox) -> None:
    events: list[WebhookEvent] = []

    async def handler(event: WebhookEvent) -> None:
        events.append(event)

    auth = ApiKeyAuth(sandbox.config.api_key)
    async with (
        receiver(handler) as url,
        RequestFinanceClient(auth, base_url=sandbox.url) as client,
    ):
        await _configure_webhooks(sandbox, url)
        created = await client.invoices.create(_body("WH-1"))
        invoice = await client.invoices.convert_to_request(created.id)
        assert invoice.request_id is not None
        await eventually(lambda: len(events) == 1)
        sandbox.set_status(invoice.request_id, "paid")
        await eventually(lambda: len(events) == 2)
    assert [e.event for e in events] == [WebhookEventType.CREATE, WebhookEventType.PAID]
    assert {e.invoice.request_id for e in events} == {invoice.request_id}
    assert events[1].invoice.status is InvoiceStatus.PAID
    assert all(e.timestamp.tzinfo is not None for e in events)


async def test_a_pushed_webhook_ends_a_watch_long_before_the_next_poll(sandbox: Sandbox) -> None:
    auth = ApiKeyAuth(sandbox.config.api_key)
    async with RequestFinanceClient(auth, base_url=sandbox.url) as client:
        request_id = sandbox.seed_invoices(1, due_in_s=3600)[0]["requestId"]
        async with StatusPoller(client, interval=60.0, sweep=False) as poller:
            async with receiver(poller.push) as url:
                await _configure_webhooks(sandbox, url)
                await poller.watch(request_id)
                # The first poll reads the baseline.
                await eventually(lambda: poller.status_counts().get("open") == 1)
                sandbox.set_status(request_id, "paid")
                with anyio.fail_after(3):  # far less than the 60 s interval
                    result = await poller.wait_final(request_id)
            stats = poller.stats()
    assert result.reason == "paid"
    assert stats.pushed == 1
    assert stats.confirmations == 1


async def test_a_duplicate_push_costs_no_request(sandbox: Sandbox) -> None:
    auth = ApiKeyAuth(sandbox.config.api_key)
    async with RequestFinanceClient(auth, base_url=sandbox.url) as client:
        request_id = sandbox.seed_invoices(1, due_in_s=3600)[0]["requestId"]
        async with StatusPoller(client, interval=60.0, sweep=False) as poller:
            await poller.watch(request_id)
            await eventually(lambda: poller.status_counts().get("open") == 1)
            invoice = await client.invoices.get(request_id)
            event = WebhookEvent(
                variant="rnf_invoice",
                event=WebhookEventType.CREATE,
                timestamp=invoice.creation_date or invoice.events[0].date,  # type: ignore[arg-type]
                invoice=invoice,
            )
            before = poller.stats().requests
            assert await poller.push(event)
            assert await poller.push(event)
            await asyncio.sleep(0.1)
            assert poller.stats().requests == before
            assert (
                await poller.push(
                    WebhookEvent(
                        variant="rnf_invoice",
                        event=WebhookEventType.CREATE,
                        timestamp=event.timestamp,
                        invoice=invoice.__class__(id="not-watched"),
                    )
                )
                is False
            )
