"""Every call gives its pooled connection back: after a 2xx, an error status and a cut body.

The transport awaits aiohttp's request rather than entering its context
manager (four coroutine frames less per call), so the release is its own to
do. With a pool of one connection, a call that kept its connection would
leave every later call waiting forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from reqfin_async import APIConnectionError, NotFoundError, RetryPolicy
from reqfin_async._http import transport
from tests.fakeapi import FakeAPI, client_for, invoice_json, reply

INVOICE = invoice_json("inv-1")
DEADLINE_S = 10.0  # far above what these calls need; a leaked connection never returns


async def _cut_body(request: web.Request) -> web.StreamResponse:
    # Headers promise 1000 bytes; 10 come, then the connection closes.
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 1000
    await response.prepare(request)
    await response.write(b'{"id": "in')
    transport = request.transport
    assert transport is not None
    transport.close()
    await asyncio.sleep(0)
    return response


async def test_a_pool_of_one_connection_serves_many_concurrent_calls(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    async with client_for(fake_api, max_connections=1) as client:
        with anyio.fail_after(DEADLINE_S):
            invoices = await asyncio.gather(*(client.invoices.get("inv-1") for _ in range(30)))
    assert {invoice.id for invoice in invoices} == {"inv-1"}
    assert len(fake_api.calls("GET")) == 30


async def test_an_error_answer_gives_its_connection_back(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply({"message": "no such invoice"}, status=404))
    fake_api.add("GET", "/clients", reply([]))
    async with client_for(fake_api, max_connections=1) as client:
        with anyio.fail_after(DEADLINE_S):
            for _ in range(5):
                with pytest.raises(NotFoundError):
                    await client.invoices.get("gone")
            assert await client.clients.list() == []


async def test_a_body_cut_short_fails_the_attempt_and_frees_the_pool(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", _cut_body, reply(INVOICE))
    async with client_for(fake_api, max_connections=1) as client:
        with anyio.fail_after(DEADLINE_S):
            invoice = await client.invoices.get("inv-1")  # the retry gets the pool's one slot
    assert invoice.id == "inv-1"
    assert len(fake_api.calls("GET")) == 2


async def test_a_body_cut_short_without_retries_is_a_connection_error(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", _cut_body, reply(INVOICE))
    async with client_for(fake_api, max_connections=1, retry=RetryPolicy.none()) as client:
        with anyio.fail_after(DEADLINE_S):
            with pytest.raises(APIConnectionError):
                await client.invoices.get("inv-1")
            assert (await client.invoices.get("inv-1")).id == "inv-1"


async def test_the_public_request_wrapper_serves_when_the_native_one_is_gone(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The transport awaits aiohttp's private coroutine when it exists; a release
    # without it must still work through the public session.request().
    monkeypatch.setattr(transport, "_NATIVE_SEND", False)
    public = aiohttp.ClientSession.request
    through_public: list[str] = []

    def spy(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
        through_public.append(method)
        return public(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "request", spy)
    fake_api.add("GET", "/invoices/{id}", reply({"message": "gone"}, status=404), reply(INVOICE))
    async with client_for(fake_api, max_connections=1) as client:
        with anyio.fail_after(DEADLINE_S):
            with pytest.raises(NotFoundError):
                await client.invoices.get("inv-1")
            assert (await client.invoices.get("inv-1")).id == "inv-1"
    assert through_public == ["GET", "GET"]
