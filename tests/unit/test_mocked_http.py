"""Unit tests on a mocked aiohttp (aioresponses): what the client sends, how it reads answers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from reqfin_async import (
    ApiKeyAuth,
    ClientCredentialsAuth,
    InternalServerError,
    InvoiceValidationError,
    NotFoundError,
    RequestFinanceClient,
    RetryPolicy,
)

BASE = "https://api.request.finance"
FIXTURES = Path(__file__).parent.parent / "fixtures"
FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.0, backoff_cap_s=0.0)
INVOICES = re.compile(r"^https://api\.request\.finance/invoices(\?.*)?$")


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


def _invoice(n: int) -> dict[str, Any]:
    return {"id": f"{n:024x}", "requestId": f"01{n:064x}", "invoiceNumber": str(n)}


def _calls(m: aioresponses, method: str) -> list[tuple[URL, dict[str, Any]]]:
    return [
        (url, call.kwargs)
        for (verb, url), calls in m.requests.items()
        if verb == method
        for call in calls
    ]


async def test_every_call_sends_the_documented_headers(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/invoices/abc", payload=_invoice(1))
    client = RequestFinanceClient(ApiKeyAuth("key-123"), network="live", organization="org-9")
    async with client:
        await client.invoices.get("abc")
    ((_, kwargs),) = _calls(mocked, "GET")
    headers = kwargs["headers"]
    assert headers["Authorization"] == "key-123"
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Network"] == "live"
    assert headers["X-Organization"] == "org-9"
    assert headers["User-Agent"].startswith("reqfin-async/")


async def test_list_walks_every_page_and_stops_on_a_short_one(mocked: aioresponses) -> None:
    pages = [[_invoice(n) for n in range(0, 3)], [_invoice(n) for n in range(3, 6)], [_invoice(6)]]
    for page in pages:
        mocked.get(INVOICES, payload=page)
    async with RequestFinanceClient(ApiKeyAuth("k")) as client:
        found = await client.invoices.list(status=["open", "paid"], take=3).collect()
    assert [inv.invoice_number for inv in found] == [str(n) for n in range(7)]
    sent = [kwargs["params"] for _, kwargs in _calls(mocked, "GET")]
    assert [dict(p)["skip"] for p in sent] == ["0", "3", "6"]
    assert all(("status[]", "open") in p and ("status[]", "paid") in p for p in sent)


async def test_an_invalid_body_is_refused_before_anything_is_sent(mocked: aioresponses) -> None:
    async with RequestFinanceClient(ApiKeyAuth("k")) as client:
        with pytest.raises(InvoiceValidationError) as info:
            await client.invoices.create({"invoiceNumber": "1", "invoiceItems": []})
    assert "invoiceItems" in info.value.fields
    assert mocked.requests == {}


async def test_a_404_becomes_not_found_with_body_and_request_id(mocked: aioresponses) -> None:
    mocked.get(
        f"{BASE}/invoices/nope",
        status=404,
        payload={"message": "Invoice not found"},
        headers={"x-request-id": "req-42"},
    )
    async with RequestFinanceClient(ApiKeyAuth("k")) as client:
        with pytest.raises(NotFoundError) as info:
            await client.invoices.get("nope")
    assert info.value.body == {"message": "Invoice not found"}
    assert info.value.request_id == "req-42"
    assert "GET /invoices/nope -> 404" in str(info.value)


async def test_a_get_answered_503_is_retried(mocked: aioresponses) -> None:
    mocked.get(f"{BASE}/invoices/abc", status=503)
    mocked.get(f"{BASE}/invoices/abc", payload=_invoice(1))
    async with RequestFinanceClient(ApiKeyAuth("k"), retry=FAST) as client:
        invoice = await client.invoices.get("abc")
    assert invoice.invoice_number == "1"
    assert len(_calls(mocked, "GET")) == 2


async def test_a_post_answered_500_is_not_retried(mocked: aioresponses) -> None:
    mocked.post(f"{BASE}/invoices/abc/changes", status=500, body="Internal server error")
    mocked.post(f"{BASE}/invoices/abc/changes", payload={"id": "c1"})
    async with RequestFinanceClient(ApiKeyAuth("k"), retry=FAST) as client:
        with pytest.raises(InternalServerError) as info:
            await client.invoices.cancel("abc")
    assert len(_calls(mocked, "POST")) == 1
    assert info.value.body == "Internal server error"


async def test_page_reads_the_totals_of_the_paginated_format(mocked: aioresponses) -> None:
    mocked.get(
        INVOICES,
        payload={
            "invoices": [_invoice(1)],
            "total": 40,
            "filteredTotal": 12,
            "statusCounts": {"open": 9, "paid": 3},
        },
    )
    async with RequestFinanceClient(ApiKeyAuth("k")) as client:
        page = await client.invoices.page(take=1, status="open")
    assert (page.total, page.total_filtered) == (40, 12)
    assert page.status_counts == {"open": 9, "paid": 3}
    ((_, kwargs),) = _calls(mocked, "GET")
    assert ("format", "paginated") in kwargs["params"]


async def test_client_credentials_fetch_one_token_for_many_calls(mocked: aioresponses) -> None:
    token_url = "https://auth.request.finance/oauth/token"
    mocked.post(token_url, payload={"access_token": "tok-1", "expires_in": 3600})
    for _ in range(3):
        mocked.get(f"{BASE}/invoices/abc", payload=_invoice(1))
    auth = ClientCredentialsAuth(client_id="cid", client_secret="s3cret")
    async with RequestFinanceClient(auth) as client:
        for _ in range(3):
            await client.invoices.get("abc")
    token_calls = _calls(mocked, "POST")
    assert len(token_calls) == 1
    form = token_calls[0][1]["data"]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "s3cret",
        "audience": "accounts",
    }
    gets = _calls(mocked, "GET")
    assert {kwargs["headers"]["Authorization"] for _, kwargs in gets} == {"Bearer tok-1"}


async def test_create_sends_the_api_json_shape(mocked: aioresponses) -> None:
    body = json.loads((FIXTURES / "new_invoice_request.json").read_text())
    mocked.post(f"{BASE}/invoices", status=201, payload={**_invoice(1), "invoiceNumber": "13"})
    async with RequestFinanceClient(ApiKeyAuth("k")) as client:
        created = await client.invoices.create(body)
    assert created.invoice_number == "13"
    ((_, kwargs),) = _calls(mocked, "POST")
    sent = json.loads(kwargs["data"])
    assert sent["invoiceNumber"] == body["invoiceNumber"]
    assert sent["invoiceItems"][0]["unitPrice"] == "9999"
    assert "buyerInfo" in sent
    assert "buyer_info" not in sent
