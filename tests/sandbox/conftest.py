"""Shared fixtures: an in-process sandbox with short delays, a raw aiohttp session,
and small helpers that speak the API's JSON directly (no client library)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from reqfin_async.sandbox import Sandbox, SandboxConfig

FAST = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05)


def api_headers(key: str, network: str = "test", **extra: str) -> dict[str, str]:
    """The headers of an API-key call."""
    return {"Authorization": key, "X-Network": network, **extra}


def seller(sandbox: Sandbox, network: str = "test") -> dict[str, str]:
    return api_headers(sandbox.config.api_key, network)


def buyer(sandbox: Sandbox, network: str = "test") -> dict[str, str]:
    return api_headers(sandbox.config.buyer_api_key, network)


def pkce_pair(verifier: str = "v" * 43) -> tuple[str, str]:
    """A PKCE ``(verifier, S256 challenge)`` pair, computed here independently."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 5.0, interval_s: float = 0.01
) -> None:
    """Poll ``check`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


async def create(
    http: aiohttp.ClientSession, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """``POST /invoices``, which must succeed."""
    async with http.post("/invoices", json=body, headers=headers) as response:
        answer: dict[str, Any] = await response.json()
        assert response.status == 201, answer
        return answer


async def create_request(
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    body: dict[str, Any],
    *,
    wait_open: bool = True,
) -> dict[str, Any]:
    """Create, convert and (by default) wait until the request is ``open``."""
    invoice = await create(http, headers, body)
    async with http.post(f"/invoices/{invoice['id']}", headers=headers) as response:
        converted: dict[str, Any] = await response.json()
        assert response.status == 201, converted
    if wait_open:
        await wait_for_status(http, headers, converted["requestId"], "open")
    return converted


async def fetch(http: aiohttp.ClientSession, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """``GET path`` → ``(status, JSON body)``."""
    async with http.get(path, headers=headers) as response:
        return response.status, await response.json()


async def wait_for_status(
    http: aiohttp.ClientSession, headers: dict[str, str], key: str, status: str
) -> dict[str, Any]:
    """Poll ``GET /invoices/{key}`` until the invoice has ``status``."""
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        _, seen["invoice"] = await fetch(http, f"/invoices/{key}", headers)
        return bool(seen["invoice"].get("status") == status)

    await wait_until(reached)
    invoice: dict[str, Any] = seen["invoice"]
    return invoice


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(FAST) as running:
        yield running


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(sandbox.url) as session:
        yield session


@pytest.fixture
def make_sandbox() -> Callable[..., Sandbox]:
    """Build a sandbox with ``FAST`` delays and the given config overrides."""

    def build(**overrides: Any) -> Sandbox:
        fields = {"pending_delay_s": 0.05, "change_delay_s": 0.05, **overrides}
        return Sandbox(SandboxConfig(**fields))

    return build
