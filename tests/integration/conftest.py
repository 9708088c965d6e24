"""Fixtures of the integration tests: the client library against the sandbox, over loopback.

Every test talks real HTTP to an in-process :class:`Sandbox` with short delays;
``seller`` acts for the main account (``config.api_key``), ``buyer`` for the
buyer (``config.buyer_api_key``, ``buyer@sandbox.test``), who sees the
converted invoices addressed to him with the role ``buyer``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from reqfin_async import (
    ApiKeyAuth,
    Auth,
    Invoice,
    InvoiceStatus,
    RequestFinanceClient,
    RetryPolicy,
    Timeout,
)
from reqfin_async.client import Network
from reqfin_async.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05)
# Quick retries, so that a test under injected faults stays fast.
QUICK_RETRY = RetryPolicy(max_attempts=6, backoff_base_s=0.01, backoff_cap_s=0.1)
SHORT_TIMEOUT = Timeout(connect_s=2.0, total_s=5.0)


def make_client(
    sandbox: Sandbox,
    auth: Auth | None = None,
    *,
    network: Network = "test",
    retry: RetryPolicy = QUICK_RETRY,
    organization: str | None = None,
) -> RequestFinanceClient:
    """A client of ``sandbox`` (the seller's API key unless ``auth`` says otherwise)."""
    return RequestFinanceClient(
        auth or ApiKeyAuth(sandbox.config.api_key),
        network=network,
        base_url=sandbox.url,
        organization=organization,
        timeout=SHORT_TIMEOUT,
        retry=retry,
    )


async def eventually(
    predicate: Callable[[], Awaitable[bool] | bool],
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
) -> None:
    """Poll ``predicate`` (sync or async) with short sleeps until it holds; fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


async def wait_for_status(
    client: RequestFinanceClient,
    key: str,
    status: InvoiceStatus | str,
    timeout: float = 5.0,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
) -> Invoice:
    """Poll ``GET /invoices/{key}`` until the invoice has ``status``; return it."""
    seen: list[Invoice] = []

    async def reached() -> bool:
        seen.append(await client.invoices.get(key))
        return seen[-1].status == status

    await eventually(reached, timeout)
    return seen[-1]


async def create_request(client: RequestFinanceClient, body: dict[str, Any]) -> Invoice:
    """Create an invoice and convert it to an on-chain request (``pending``)."""
    created = await client.invoices.create(body)
    return await client.invoices.convert_to_request(created.id)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A running sandbox with short delays: ``pending`` opens and changes apply in 50 ms."""
    async with Sandbox(FAST, port=0) as running:
        yield running


@pytest.fixture
async def seller(sandbox: Sandbox) -> AsyncIterator[RequestFinanceClient]:
    """A client of the main account (the seller) on the test network."""
    async with make_client(sandbox) as client:
        yield client


@pytest.fixture
async def buyer(sandbox: Sandbox) -> AsyncIterator[RequestFinanceClient]:
    """A client of the buyer (``buyer@sandbox.test``) on the test network."""
    async with make_client(sandbox, ApiKeyAuth(sandbox.config.buyer_api_key)) as client:
        yield client
