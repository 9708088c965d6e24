"""``invoices.create`` and ``convert_to_request`` act once, whatever happens to the answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from reqfin_async import (
    APIConnectionError,
    ApiKeyAuth,
    ConflictError,
    InternalServerError,
    NotFoundError,
    RequestFinanceClient,
    RetryPolicy,
)
from tests.fakeapi import FakeAPI, Handler, client_for, free_port, param, reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NUMBER = "INV-2024-0042"


def new_invoice(number: str = NUMBER) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "new_invoice_request.json").read_text())
    body["invoiceNumber"] = number
    return body


class InvoiceServer:
    """An account's invoices: ``POST /invoices`` stores, ``GET /invoices?search=`` finds."""

    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self.invoices: list[dict[str, Any]] = []
        #: How many searches answer as if the index had not caught up yet.
        self.lagging_searches = 0
        api.add("GET", "/invoices", self.search)
        api.add("GET", "/invoices/{id}", self.get)

    def store(self, request_body: bytes) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.json.decode(request_body)
        invoice = {**data, "id": f"inv-{len(self.invoices) + 1}", "status": "draft"}
        self.invoices.append(invoice)
        return invoice

    # -- handlers for POST /invoices ------------------------------------------------
    async def created(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        number = msgspec.json.decode(body)["invoiceNumber"]
        if any(inv["invoiceNumber"] == number for inv in self.invoices):
            return web.json_response({"message": "invoiceNumber already used"}, status=409)
        return web.json_response(self.store(body), status=201)

    async def created_then_dropped(self, request: web.Request) -> web.StreamResponse:
        self.store(await request.read())
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0)
        return web.Response()

    async def created_then_500(self, request: web.Request) -> web.StreamResponse:
        self.store(await request.read())
        return web.json_response({"message": "internal error"}, status=500)

    async def created_then_slow(self, request: web.Request) -> web.StreamResponse:
        invoice = self.store(await request.read())
        await asyncio.sleep(2.0)
        return web.json_response(invoice, status=201)

    async def failed_before_creating(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.json_response({"message": "database unavailable"}, status=500)

    # -- lookups ------------------------------------------------------------------
    async def search(self, request: web.Request) -> web.StreamResponse:
        if self.lagging_searches:
            self.lagging_searches -= 1
            return web.json_response([])
        text = request.query.get("search", "")
        found = [inv for inv in self.invoices if text in inv["invoiceNumber"]]
        skip, take = int(request.query.get("skip", "0")), int(request.query.get("take", "25"))
        return web.json_response(found[skip : skip + take])

    async def get(self, request: web.Request) -> web.StreamResponse:
        for invoice in self.invoices:
            if param(request, "id") in (invoice["id"], invoice.get("requestId")):
                return web.json_response(invoice)
        return web.json_response({"message": "not found"}, status=404)

    def posts(self) -> int:
        return len(self.api.calls("POST", "/invoices"))

    def lookups(self) -> list[str]:
        return [r.query.get("search", "") for r in self.api.calls("GET", "/invoices")]


@pytest.fixture
def server(fake_api: FakeAPI) -> InvoiceServer:
    return InvoiceServer(fake_api)


def _post(server: InvoiceServer, *handlers: Handler) -> None:
    server.api.add("POST", "/invoices", *handlers)


# -- an ambiguous failure is followed by a lookup, never by a blind resend -------------------
async def test_created_then_dropped_connection_returns_the_stored_invoice(
    server: InvoiceServer,
) -> None:
    _post(server, server.created_then_dropped, server.created)
    async with client_for(server.api) as client:
        invoice = await client.invoices.create(new_invoice())
    assert len(server.invoices) == 1
    assert invoice.id == server.invoices[0]["id"]
    assert invoice.invoice_number == NUMBER
    assert server.posts() == 1
    assert server.lookups() == [NUMBER]


async def test_created_then_answered_500_returns_the_stored_invoice(server: InvoiceServer) -> None:
    _post(server, server.created_then_500, server.created)
    async with client_for(server.api) as client:
        invoice = await client.invoices.create(new_invoice())
    assert len(server.invoices) == 1
    assert invoice.id == "inv-1"
    assert server.posts() == 1


async def test_created_but_answered_after_the_timeout_returns_the_stored_invoice(
    server: InvoiceServer,
) -> None:
    _post(server, server.created_then_slow, server.created)
    async with client_for(server.api, timeout=0.3) as client:
        invoice = await client.invoices.create(new_invoice())
    assert len(server.invoices) == 1
    assert invoice.id == "inv-1"
    assert server.posts() == 1


async def test_failed_before_creating_is_looked_up_then_sent_again(server: InvoiceServer) -> None:
    _post(server, server.failed_before_creating, server.created)
    async with client_for(server.api) as client:
        invoice = await client.invoices.create(new_invoice())
    assert len(server.invoices) == 1
    assert invoice.id == "inv-1"
    methods = [r.method for r in server.api.requests]
    assert methods == ["POST", "GET", "POST"]
    first, second = server.api.calls("POST", "/invoices")
    assert first.body == second.body


async def test_a_failing_lookup_raises_the_original_error_without_resending(
    server: InvoiceServer,
) -> None:
    _post(server, server.created_then_500, server.created)
    server.api.add("GET", "/invoices", reply({"message": "unavailable"}, status=503))
    async with client_for(server.api) as client:
        with pytest.raises(InternalServerError) as info:
            await client.invoices.create(new_invoice())
    error = info.value
    assert (error.method, error.path, error.status_code) == ("POST", "/invoices", 500)
    assert isinstance(error.__cause__, InternalServerError)
    assert error.__cause__.method == "GET"
    assert server.posts() == 1
    assert len(server.invoices) == 1


async def test_a_duplicate_refusal_after_a_resend_returns_the_invoice_that_landed(
    server: InvoiceServer,
) -> None:
    # The first POST landed, but the search index had not caught up when the client looked.
    server.lagging_searches = 1
    _post(server, server.created_then_500, server.created)
    async with client_for(server.api) as client:
        invoice = await client.invoices.create(new_invoice())
    assert len(server.invoices) == 1
    assert invoice.id == "inv-1"
    assert server.posts() == 2  # the second one was refused as a duplicate


async def test_a_number_already_used_is_refused_without_a_lookup(server: InvoiceServer) -> None:
    # A first answer of 409 is unambiguous: the caller reused a number.
    server.store(msgspec.json.encode(new_invoice()))
    _post(server, server.created)
    async with client_for(server.api) as client:
        with pytest.raises(ConflictError):
            await client.invoices.create(new_invoice())
    assert [r.method for r in server.api.requests] == ["POST"]
    assert len(server.invoices) == 1


async def test_the_lookup_matches_the_number_exactly(server: InvoiceServer) -> None:
    server.store(msgspec.json.encode(new_invoice(NUMBER + "-B")))
    _post(server, server.failed_before_creating, server.created)
    async with client_for(server.api) as client:
        invoice = await client.invoices.create(new_invoice())
    assert invoice.invoice_number == NUMBER
    assert [inv["invoiceNumber"] for inv in server.invoices] == [NUMBER + "-B", NUMBER]


async def test_failing_every_time_gives_up_after_max_attempts(server: InvoiceServer) -> None:
    _post(server, server.failed_before_creating)
    retry = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)
    async with client_for(server.api, retry=retry) as client:
        with pytest.raises(InternalServerError):
            await client.invoices.create(new_invoice())
    assert server.posts() == 3
    assert server.lookups() == [NUMBER] * 3
    assert server.invoices == []
    assert len({r.body for r in server.api.calls("POST", "/invoices")}) == 1


async def test_a_refused_connection_raises_without_a_lookup() -> None:
    # Refused means never received: nothing to look up, and the transport already retried.
    url = f"http://127.0.0.1:{free_port()}"
    client = RequestFinanceClient(
        ApiKeyAuth("k"), base_url=url, retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01)
    )
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.invoices.create(new_invoice())
        assert client.stats.requests == 2  # two POST attempts, no GET
    assert info.value.refused


async def test_salaries_get_the_same_protection(server: InvoiceServer) -> None:
    _post(server, server.created_then_dropped, server.created)
    body = new_invoice()
    body["sellerInfo"] = {"email": "employee@acme.example"}
    body.pop("buyerInfo")
    async with client_for(server.api) as client:
        salary = await client.salaries.create(body)
    assert len(server.invoices) == 1
    assert salary.id == "inv-1"
    assert server.invoices[0]["meta"] == {"format": "rnf_salary", "version": "0.0.3"}


# -- convert_to_request ---------------------------------------------------------------------
def _convert(server: InvoiceServer, outcome: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        invoice = next(inv for inv in server.invoices if inv["id"] == param(request, "id"))
        if outcome == "fail":
            return web.json_response({"message": "chain unavailable"}, status=500)
        invoice["requestId"] = "01" + "ab" * 32
        invoice["status"] = "pending"
        if outcome == "drop":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0)
        return web.json_response(invoice, status=201)

    return handler


async def test_convert_after_a_lost_answer_checks_the_invoice_instead_of_converting_again(
    server: InvoiceServer,
) -> None:
    server.store(msgspec.json.encode(new_invoice()))
    server.api.add("POST", "/invoices/{id}", _convert(server, "drop"), _convert(server, "ok"))
    async with client_for(server.api) as client:
        invoice = await client.invoices.convert_to_request("inv-1")
    assert invoice.request_id == "01" + "ab" * 32
    assert len(server.api.calls("POST", "/invoices/{id}")) == 1
    assert len(server.api.calls("GET", "/invoices/{id}")) == 1


async def test_convert_that_failed_before_acting_is_sent_again(server: InvoiceServer) -> None:
    server.store(msgspec.json.encode(new_invoice()))
    server.api.add("POST", "/invoices/{id}", _convert(server, "fail"), _convert(server, "ok"))
    async with client_for(server.api) as client:
        invoice = await client.invoices.convert_to_request("inv-1")
    assert invoice.request_id is not None
    assert [r.method for r in server.api.requests] == ["POST", "GET", "POST"]


async def test_convert_of_an_unknown_invoice_is_not_retried(server: InvoiceServer) -> None:
    async with client_for(server.api) as client:
        with pytest.raises(NotFoundError):
            await client.invoices.convert_to_request("nope")
    assert [r.method for r in server.api.requests] == ["POST"]
