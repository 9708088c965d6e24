"""``GET /invoices``: order, pagination, filters and the paginated format."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import aiohttp

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import buyer, create, create_request, fetch, seller


def numbers(invoices: list[dict[str, Any]]) -> list[str]:
    return [str(invoice["invoiceNumber"]) for invoice in invoices]


async def test_list_paginates_newest_first(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    for day in range(1, 6):
        body = invoice_body(f"N-{day}", creationDate=f"2024-01-0{day}T00:00:00.000Z")
        await create(http, seller(sandbox), body)
    # Same creation date as N-5: the later id comes first.
    await create(http, seller(sandbox), invoice_body("N-6", creationDate="2024-01-05T00:00:00Z"))
    _, first = await fetch(http, "/invoices?take=2", seller(sandbox))
    _, second = await fetch(http, "/invoices?take=2&skip=2", seller(sandbox))
    _, rest = await fetch(http, "/invoices?take=2&skip=4", seller(sandbox))
    assert numbers(first + second + rest) == ["N-6", "N-5", "N-4", "N-3", "N-2", "N-1"]


async def test_take_defaults_to_25_and_caps_at_100(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.seed_invoices(30)
    _, default_page = await fetch(http, "/invoices", seller(sandbox))
    assert len(default_page) == 25
    status, _ = await fetch(http, "/invoices?take=100", seller(sandbox))
    assert status == 200
    status, body = await fetch(http, "/invoices?take=101", seller(sandbox))
    assert (status, body["statusCode"]) == (400, 400)


async def test_status_filter_accepts_brackets_and_repeats(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    paid = await create_request(http, seller(sandbox), invoice_body("P-1"))
    await create_request(http, seller(sandbox), invoice_body("O-1"))
    sandbox.set_status(paid["requestId"], "paid")
    _, only_paid = await fetch(http, "/invoices?status[]=paid", seller(sandbox))
    assert numbers(only_paid) == ["P-1"]
    _, both = await fetch(http, "/invoices?status[]=paid&status[]=open", seller(sandbox))
    assert sorted(numbers(both)) == ["O-1", "P-1"]
    _, plain = await fetch(http, "/invoices?status=open", seller(sandbox))
    assert numbers(plain) == ["O-1"]
    status, _ = await fetch(http, "/invoices?status[]=lost", seller(sandbox))
    assert status == 400


async def test_overdue_is_open_past_its_due_date(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.seed_invoices(1, due_in_s=-60)
    sandbox.seed_invoices(1, due_in_s=3600)
    sandbox.seed_invoices(1, status="paid", due_in_s=-60)
    _, overdue = await fetch(http, "/invoices?status[]=overdue", seller(sandbox))
    assert len(overdue) == 1
    assert overdue[0]["status"] == "open"


async def test_search_looks_into_numbers_names_and_tx_hashes(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("ACME-42"))
    await create(http, seller(sandbox), invoice_body("OTHER", tags=["x"]))
    async with http.post(
        f"/sandbox/invoices/{request['requestId']}/status",
        json={"status": "paid", "txHash": "0xFEEDBEEF"},
    ) as response:
        assert response.status == 200
    for term in ("acme-4", "WALTON", "0xfeedbeef", request["requestId"][:20], "my_tag"):
        _, found = await fetch(http, f"/invoices?search={quote(term)}", seller(sandbox))
        assert "ACME-42" in numbers(found), term
    _, none = await fetch(http, "/invoices?search=nothing-like-this", seller(sandbox))
    assert none == []


async def test_creation_date_range_filters_and_checks_its_json(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    await create(http, seller(sandbox), invoice_body("D-1", creationDate="2022-06-01T00:00:00Z"))
    await create(http, seller(sandbox), invoice_body("D-2", creationDate="2022-09-01T00:00:00Z"))
    window = json.dumps({"from": "2022-06-24T00:00:00.000Z", "to": "2022-12-22T00:00:00.000Z"})
    _, found = await fetch(http, f"/invoices?creationDateRange={quote(window)}", seller(sandbox))
    assert numbers(found) == ["D-2"]
    for bad in ("{not json", '{"from": "yesterday"}', "[1, 2]"):
        status, _ = await fetch(http, f"/invoices?creationDateRange={quote(bad)}", seller(sandbox))
        assert status == 400, bad


async def test_variant_and_filter_by(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    await create_request(http, seller(sandbox), invoice_body("V-1"))
    salary = invoice_body("V-2", meta={"format": "rnf_salary", "version": "0.0.3"})
    salary["sellerInfo"] = {"email": "employee@example.com"}
    await create(http, seller(sandbox), salary)
    _, salaries = await fetch(http, "/invoices?variant=rnf_salary", seller(sandbox))
    assert numbers(salaries) == ["V-2"]
    _, invoices = await fetch(http, "/invoices?variant=rnf_invoice", seller(sandbox))
    assert numbers(invoices) == ["V-1"]
    _, sent = await fetch(http, "/invoices?filterBy=sent", seller(sandbox))
    _, received = await fetch(http, "/invoices?filterBy=received", seller(sandbox))
    assert (len(sent), received) == (2, [])
    _, buyer_received = await fetch(http, "/invoices?filterBy=received", buyer(sandbox))
    assert numbers(buyer_received) == ["V-1"]
    assert buyer_received[0]["role"] == "buyer"


async def test_paginated_format_counts_statuses(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    sandbox.seed_invoices(3, status="open")
    sandbox.seed_invoices(2, status="paid")
    await create(http, seller(sandbox), invoice_body("OFF-CHAIN"))
    path = "/invoices?format=paginated&status[]=open&take=2&search=seed"
    status, page = await fetch(http, path, seller(sandbox))
    assert status == 200
    assert set(page) == {"invoices", "total", "filteredTotal", "statusCounts"}
    assert len(page["invoices"]) == 2
    assert page["total"] == 6
    assert page["filteredTotal"] == 3
    assert page["statusCounts"]["open"] == 3
    assert page["statusCounts"]["paid"] == 2


async def test_with_links_adds_links_to_listed_requests(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    await create_request(http, seller(sandbox), invoice_body("L-1"))
    _, plain = await fetch(http, "/invoices", seller(sandbox))
    _, linked = await fetch(http, "/invoices?withLinks=true", seller(sandbox))
    assert "invoiceLinks" not in plain[0]
    assert set(linked[0]["invoiceLinks"]) == {"pay", "view", "signUpAndPay"}
