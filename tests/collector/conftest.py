"""Shared fixtures: an Invoice-Collector sandbox with short delays, a client on it, and
receivers served on 127.0.0.1 (real loopback HTTP, no mock of either side)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web

from reqfin_async.collector import InvoiceCollectorClient, InvoiceDelivery
from reqfin_async.sandbox.collector import CollectorSandbox, CollectorSandboxConfig, Credential

# Deliveries retried 50 ms apart instead of 10 s: the whole suite stays fast.
RETRY_DELAY_S = 0.05
FAST = CollectorSandboxConfig(retry_delay_s=RETRY_DELAY_S, delivery_timeout_s=2.0)


async def wait_until(
    check: Callable[[], bool], *, timeout_s: float = 5.0, interval_s: float = 0.01
) -> None:
    """Poll ``check`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 and a free port; yields its root URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


@dataclass
class Recorder:
    """An ``on_invoice`` handler that records what it was given (and can fail on demand)."""

    failures_left: int = 0
    calls: int = 0
    handled: list[InvoiceDelivery] = field(default_factory=list)

    async def __call__(self, delivery: InvoiceDelivery) -> None:
        self.calls += 1
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("the ERP is down")
        self.handled.append(delivery)


def invoice_body(
    invoice_id: str = "INV-1",
    *,
    remote_id: str = "A1",
    collector: Any = None,
    data: bytes = b"%PDF-1.4 fake",
    **invoice: Any,
) -> bytes:
    """A callback body in the documented shape (fields of ``invoice`` replaced or added)."""
    fields: dict[str, Any] = {
        "id": invoice_id,
        "timestamp": 1_718_000_000_000,
        "collected_timestamp": 1_718_000_060_000,
        "link": "https://free.example/invoices/1",
        "amount": "$93.50",
        "mimetype": "application/pdf",
        "metadata": {"order": "42"},
        "data": base64.b64encode(data).decode(),
        **invoice,
    }
    return msgspec.json.encode(
        {
            "type": "invoice",
            "remote_id": remote_id,
            "collector": collector if collector is not None else {"id": "free", "name": "Free"},
            "invoice": fields,
        }
    )


@pytest.fixture
async def server() -> AsyncIterator[CollectorSandbox]:
    async with CollectorSandbox(FAST) as running:
        yield running


@pytest.fixture
async def client(server: CollectorSandbox) -> AsyncIterator[InvoiceCollectorClient]:
    async with InvoiceCollectorClient(server.url, server.bearer) as ic:
        yield ic


async def user_with_collector(
    ic: InvoiceCollectorClient, server: CollectorSandbox, remote_id: str = "A1", **options: Any
) -> Credential:
    """Create the user through the API, then connect a collector for it (control plane)."""
    await ic.create_user_token(email="ann@acme.example", locale="en", remote_id=remote_id)
    return server.add_collector(remote_id, **options)
