"""The resources say what they send and read back; checked against a recording server."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from reqfin_async import (
    ChangeNotAllowedError,
    ChangeType,
    Invoice,
    InvoiceStatus,
    InvoiceValidationError,
    PaginationError,
    RequestFinanceClient,
    RequestFinanceError,
)
from reqfin_async.resources._pagination import MAX_REPEATS
from tests.fakeapi import FakeAPI, client_for, invoice_json, reply

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def new_invoice() -> dict[str, Any]:
    data: dict[str, Any] = fixture("new_invoice_request.json")
    return data


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    async with FakeAPI() as api:
        yield api


@pytest.fixture
async def client(fake_api: FakeAPI) -> AsyncIterator[RequestFinanceClient]:
    async with client_for(fake_api) as client:
        yield client


def paginate(invoices: list[dict[str, Any]]) -> Callable[[web.Request], Any]:
    """``GET /invoices`` over a fixed list, honouring ``skip`` and ``take``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        skip, take = int(request.query["skip"]), int(request.query["take"])
        return web.json_response(invoices[skip : skip + take])

    return handler


def numbered(count: int) -> list[dict[str, Any]]:
    return [invoice_json(f"inv-{i}", number=str(i)) for i in range(count)]


# -- list ----------------------------------------------------------------------------------
async def test_list_iterates_every_page_and_stops_on_a_short_one(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", paginate(numbered(250)))
    ids = [invoice.id async for invoice in client.invoices.list()]
    assert ids == [f"inv-{i}" for i in range(250)]
    pages = [(r.query["skip"], r.query["take"]) for r in fake_api.requests]
    assert pages == [("0", "100"), ("100", "100"), ("200", "100")]


async def test_list_asks_once_more_after_a_full_last_page(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", paginate(numbered(4)))
    invoices = await client.invoices.list(take=2).collect()
    assert len(invoices) == 4
    assert [r.query["skip"] for r in fake_api.requests] == ["0", "2", "4"]


async def test_list_sends_nothing_until_iterated_and_collect_stops_at_a_limit(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", paginate(numbered(250)))
    iterator = client.invoices.list(take=10)
    assert fake_api.requests == []
    first = await iterator.collect(limit=15)
    assert [i.id for i in first] == [f"inv-{i}" for i in range(15)]
    assert len(fake_api.requests) == 2


@pytest.mark.parametrize("take", [0, 101, -1])
async def test_a_page_size_outside_1_to_100_is_refused_before_sending(
    fake_api: FakeAPI, client: RequestFinanceClient, take: int
) -> None:
    with pytest.raises(InvoiceValidationError) as info:
        client.invoices.list(take=take)
    assert info.value.field == "take"
    with pytest.raises(InvoiceValidationError):
        await client.invoices.page(take=take)
    assert fake_api.requests == []


async def test_list_sends_every_documented_filter(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", reply([]))
    await client.invoices.list(
        status=["open", InvoiceStatus.DECLARED_PAID],
        search="Acme",
        created_from=datetime(2024, 1, 1, tzinfo=UTC),
        created_to=datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC),
        variant="rnf_invoice",
        filter_by="sent",
        with_links=True,
    ).collect()
    (request,) = fake_api.requests
    query = request.query
    assert query.getall("status[]") == ["open", "declaredPaid"]
    assert query["search"] == "Acme"
    assert json.loads(query["creationDateRange"]) == {
        "from": "2024-01-01T00:00:00.000Z",
        "to": "2024-01-31T23:59:59.000Z",
    }
    assert query["variant"] == "rnf_invoice"
    assert query["filterBy"] == "sent"
    assert query["withLinks"] == "true"
    assert (query["take"], query["skip"]) == ("100", "0")


async def test_a_single_status_is_sent_once_and_no_filter_sends_no_parameter(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", reply([]))
    await client.invoices.list(status="open").collect()
    await client.invoices.list().collect()
    with_status, plain = fake_api.requests
    assert with_status.query.getall("status[]") == ["open"]
    assert sorted(plain.query) == ["skip", "take"]


async def test_creation_dates_in_other_zones_are_sent_in_utc(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", reply([]))
    paris = timezone(timedelta(hours=2))
    await client.invoices.list(created_from=datetime(2024, 6, 1, 2, 0, tzinfo=paris)).collect()
    window = json.loads(fake_api.requests[0].query["creationDateRange"])
    assert window == {"from": "2024-06-01T00:00:00.000Z"}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"created_from": datetime(2024, 1, 1)}, "created_from"),
        (
            {
                "created_from": datetime(2024, 2, 1, tzinfo=UTC),
                "created_to": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "created_to",
        ),
        ({"variant": "rnf_receipt"}, "variant"),
        ({"filter_by": "everything"}, "filter_by"),
        ({"search": "  "}, "search"),
        ({"status": ["open", ""]}, "status"),
    ],
)
async def test_bad_filters_are_refused_before_sending(
    fake_api: FakeAPI, client: RequestFinanceClient, filters: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvoiceValidationError) as info:
        client.invoices.list(**filters)
    assert info.value.field == field
    assert fake_api.requests == []


async def test_list_refuses_to_loop_on_a_repeated_page(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", reply(numbered(2)))  # a server that ignores skip
    iterator = client.invoices.list(take=2)
    seen = [(await anext(iterator)).id, (await anext(iterator)).id]
    async with asyncio.timeout(5):  # an endless loop would otherwise hang here
        with pytest.raises(PaginationError, match="same page"):
            await anext(iterator)
    assert seen == ["inv-0", "inv-1"]
    # The same page may come back once or twice (invoices created between pages);
    # a bounded number of requests, never an endless loop.
    assert len(fake_api.requests) == MAX_REPEATS + 1


async def test_an_invoice_seen_on_two_pages_is_yielded_once(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    a, b, c = numbered(3)
    # `b` slid onto the second page because an invoice was created meanwhile.
    fake_api.add("GET", "/invoices", reply([a, b]), reply([b, c]), reply([]))
    ids = [invoice.id async for invoice in client.invoices.list(take=2)]
    assert ids == ["inv-0", "inv-1", "inv-2"]


# -- page ------------------------------------------------------------------------------------
async def test_page_reads_totals_and_counts_per_status(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    answer = {
        "invoices": numbered(2),
        "total": 10,
        "filteredTotal": 3,
        "statusCounts": {"open": 2, "paid": 1},
    }
    fake_api.add("GET", "/invoices", reply(answer))
    page = await client.invoices.page(take=2, skip=4, status="open")
    assert [i.id for i in page.items] == ["inv-0", "inv-1"]
    assert (page.total, page.total_filtered) == (10, 3)
    assert page.status_counts == {"open": 2, "paid": 1}
    query = fake_api.requests[0].query
    assert query["format"] == "paginated"
    assert (query["take"], query["skip"]) == ("2", "4")
    assert query.getall("status[]") == ["open"]


async def test_page_accepts_a_bare_array(fake_api: FakeAPI, client: RequestFinanceClient) -> None:
    fake_api.add("GET", "/invoices", reply(numbered(3)))
    page = await client.invoices.page()
    assert len(page.items) == 3
    assert (page.total, page.total_filtered, page.status_counts) == (None, None, {})
    assert fake_api.requests[0].query["take"] == "25"


async def test_page_accepts_counts_as_a_list(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    answer = {
        "data": [],
        "totalCount": 7,
        "countByStatus": [{"status": "open", "count": 4}, {"_id": "paid", "count": 3}],
    }
    fake_api.add("GET", "/invoices", reply(answer))
    page = await client.invoices.page()
    assert page.total == 7
    assert page.status_counts == {"open": 4, "paid": 3}


# -- get, and ids in paths ---------------------------------------------------------------------
async def test_get_asks_for_links_only_when_told(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(fixture("invoice_get.json")))
    invoice = await client.invoices.get("017f7f0b55", with_links=True)
    await client.invoices.get("017f7f0b55")
    with_links, without = fake_api.requests
    assert with_links.raw_path == "/invoices/017f7f0b55"
    assert with_links.query["withLinks"] == "true"
    assert "withLinks" not in without.query
    assert invoice.status is InvoiceStatus.OPEN


Call = Callable[[RequestFinanceClient, str], Coroutine[Any, Any, object]]


async def _get(client: RequestFinanceClient, value: str) -> object:
    return await client.invoices.get(value)


async def _cancel(client: RequestFinanceClient, value: str) -> object:
    return await client.invoices.cancel(value)


async def _get_contact(client: RequestFinanceClient, value: str) -> object:
    return await client.clients.get(value)


@pytest.mark.parametrize(
    ("call", "route"),
    [
        pytest.param(_get, "/invoices/{}", id="get"),
        pytest.param(_cancel, "/invoices/{}/changes", id="cancel"),
        pytest.param(_get_contact, "/clients/{}", id="clients.get"),
    ],
)
@pytest.mark.parametrize("hostile", ["a/b", "../users", "..", ".", "x?withLinks=true", "x#y"])
async def test_an_id_cannot_reach_another_route(
    fake_api: FakeAPI, client: RequestFinanceClient, call: Call, route: str, hostile: str
) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(invoice_json()))
    fake_api.add("POST", "/invoices/{id}/changes", reply(fixture("change_record.json")))
    fake_api.add("GET", "/clients/{id}", reply({"id": "c1"}))
    try:
        await call(client, hostile)
    except InvoiceValidationError:
        assert fake_api.requests == []  # refused before sending: fine too
        return
    except RequestFinanceError as error:  # where the request went is what matters
        note = repr(error)
    else:
        note = "answered"
    (request,) = fake_api.requests
    expected = re.escape(route).replace(r"\{\}", r"(?P<segment>[^/?#]+)")
    match = re.fullmatch(expected, request.raw_path)
    assert match is not None, f"{hostile!r} reached {request.raw_path} ({note})"
    assert match["segment"] not in (".", "..")
    assert dict(request.query) == {}


@pytest.mark.parametrize("value", ["", "   "])
async def test_an_empty_id_is_refused(
    fake_api: FakeAPI, client: RequestFinanceClient, value: str
) -> None:
    with pytest.raises(InvoiceValidationError):
        await client.invoices.get(value)
    assert fake_api.requests == []


async def test_a_bad_id_is_refused_when_get_is_called_not_later(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    # get() hands back the transport's coroutine: the id is checked before that,
    # so a bad one fails the call itself and leaves no coroutine behind unawaited.
    with pytest.raises(InvoiceValidationError, match="id_or_request_id"):
        _ = client.invoices.get("..")
    assert fake_api.requests == []


# -- accept, reject, cancel -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "expected_body"),
    [
        ("accept", {"type": "accept", "input": {}}),
        ("reject", {"type": "reject", "input": {"note": "Duplicate of INV-12"}}),
        ("cancel", {"type": "cancel", "input": {}}),
    ],
)
async def test_changes_send_their_type_and_input(
    fake_api: FakeAPI, client: RequestFinanceClient, change: str, expected_body: dict[str, Any]
) -> None:
    fake_api.add("POST", "/invoices/{id}/changes", reply(fixture("change_record.json"), status=201))
    if change == "accept":
        record = await client.invoices.accept("0196ab")
    elif change == "reject":
        record = await client.invoices.reject("0196ab", "Duplicate of INV-12")
    else:
        record = await client.invoices.cancel("0196ab")
    (request,) = fake_api.requests
    assert request.raw_path == "/invoices/0196ab/changes"
    assert request.json() == expected_body
    assert record.action_type is ChangeType.CANCEL  # what the fixture says
    assert record.status == "pending"


@pytest.mark.parametrize("note", ["", "   "])
async def test_reject_without_a_note_is_refused_before_sending(
    fake_api: FakeAPI, client: RequestFinanceClient, note: str
) -> None:
    with pytest.raises(InvoiceValidationError) as info:
        await client.invoices.reject("0196ab", note)
    assert info.value.field == "input.note"
    assert fake_api.requests == []


def _invoice(status: str, role: str | None) -> Invoice:
    data = invoice_json("inv-9", number="INV-9", status=status, requestId="0196ff")
    data["role"] = role
    return msgspec.convert(data, Invoice)


@pytest.mark.parametrize(
    ("status", "role", "change", "message"),
    [
        ("paid", "buyer", "accept", "cannot accept invoice 'INV-9': its status is 'paid'"),
        ("accepted", "buyer", "accept", "only open invoices can be accepted"),
        ("canceled", "buyer", "reject", "its status is 'canceled'"),
        ("open", "buyer", "cancel", "only the seller can, and this account is the buyer"),
        ("open", "seller", "accept", "only the buyer can"),
        ("open", "seller", "reject", "only the buyer can"),
        ("rejected", "seller", "cancel", "accepted or open invoices can be canceled"),
    ],
)
async def test_a_change_the_invoice_does_not_allow_is_refused_before_sending(
    fake_api: FakeAPI,
    client: RequestFinanceClient,
    status: str,
    role: str,
    change: str,
    message: str,
) -> None:
    invoice = _invoice(status, role)
    calls = {
        "accept": lambda: client.invoices.accept(invoice),
        "reject": lambda: client.invoices.reject(invoice, "Not ours"),
        "cancel": lambda: client.invoices.cancel(invoice),
    }
    with pytest.raises(ChangeNotAllowedError, match=re.escape(message)):
        await calls[change]()
    assert fake_api.requests == []


async def test_an_allowed_change_on_an_invoice_targets_its_request_id(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("POST", "/invoices/{id}/changes", reply(fixture("change_record.json")))
    await client.invoices.accept(_invoice("open", "buyer"))
    await client.invoices.cancel(_invoice("accepted", "seller"))
    await client.invoices.reject(_invoice("open", None), "Wrong amount")  # role unknown: sent
    assert [r.raw_path for r in fake_api.requests] == ["/invoices/0196ff/changes"] * 3


# -- create ---------------------------------------------------------------------------------
async def test_create_sends_the_checked_body_and_reads_the_invoice(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("POST", "/invoices", reply(fixture("invoice_created.json"), status=201))
    invoice = await client.invoices.create(new_invoice())
    assert invoice.id == "63f2f5a7f00a45f276585b27"
    (request,) = fake_api.requests
    sent = request.json()
    assert sent["invoiceNumber"] == "13"
    assert sent["meta"] == {"format": "rnf_invoice", "version": "0.0.3"}
    assert sent["invoiceItems"][0]["unitPrice"] == "9999"
    assert sent["buyerInfo"]["email"] == "justin.walton@acme-wholesaler.com"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["invoiceItems"][0].update(unitPrice="99.99"), "invoiceItems[0].unitPrice"),
        (lambda b: b.pop("invoiceNumber"), "invoiceNumber"),
        (lambda b: b["buyerInfo"].update(email="not-an-email"), "buyerInfo.email"),
        (lambda b: b.update(paymentOptions=[]), "paymentOptions"),
    ],
)
async def test_create_with_an_invalid_body_names_the_field_and_sends_nothing(
    fake_api: FakeAPI,
    client: RequestFinanceClient,
    change: Callable[[dict[str, Any]], object],
    field: str,
) -> None:
    body = new_invoice()
    change(body)
    with pytest.raises(InvoiceValidationError) as info:
        await client.invoices.create(body)
    assert field in info.value.fields
    assert field in str(info.value)
    assert fake_api.requests == []


# -- salaries -------------------------------------------------------------------------------
def salary_body() -> dict[str, Any]:
    body = new_invoice()
    body.pop("buyerInfo")
    body["sellerInfo"] = {"email": "employee@acme.example", "firstName": "Ada"}
    return body


async def test_a_salary_is_sent_with_the_salary_meta(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("POST", "/invoices", reply(invoice_json("sal-1"), status=201))
    salary = await client.salaries.create(salary_body())
    assert salary.id == "sal-1"
    assert fake_api.requests[0].json()["meta"] == {"format": "rnf_salary", "version": "0.0.3"}


async def test_a_salary_needs_the_employee_email(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    body = salary_body()
    body["sellerInfo"].pop("email")
    with pytest.raises(InvoiceValidationError) as info:
        await client.salaries.create(body)
    assert "sellerInfo.email" in info.value.fields
    assert fake_api.requests == []


async def test_salaries_are_listed_with_the_salary_variant(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/invoices", reply([invoice_json("sal-1")]))
    fake_api.add("GET", "/invoices/{id}", reply(invoice_json("sal-1")))
    salaries = await client.salaries.list(status="open").collect()
    salary = await client.salaries.get("sal-1", with_links=True)
    assert [s.id for s in salaries] == ["sal-1"]
    assert salary.id == "sal-1"
    listing, fetch = fake_api.requests
    assert listing.query["variant"] == "rnf_salary"
    assert listing.query.getall("status[]") == ["open"]
    assert fetch.query["withLinks"] == "true"


# -- organizations, clients, currencies --------------------------------------------------------
async def test_organizations_and_the_current_user(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    org = {
        "id": "org-1",
        "name": "acme",
        "displayName": "Acme Corp",
        "role": "admin",
        "owner": {"id": "u1", "email": "o@acme.example", "firstname": "O", "lastname": "W"},
    }
    fake_api.add("GET", "/users/organizations", reply([org]))
    fake_api.add(
        "GET", "/users", reply({"id": "u1", "email": "me@acme.example", "organization": "org-1"})
    )
    orgs = await client.organizations.list()
    me = await client.organizations.current_user()
    assert orgs[0].display_name == "Acme Corp"
    assert orgs[0].owner is not None
    assert orgs[0].owner.firstname == "O"
    assert me.organization == "org-1"
    assert [r.raw_path for r in fake_api.requests] == ["/users/organizations", "/users"]


async def test_clients_create_update_get_and_list(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    contact = {"id": "c1", "email": "ap@acme.example", "contactType": ["customer"]}
    fake_api.add("POST", "/clients", reply(contact, status=201))
    fake_api.add("PUT", "/clients/{id}", reply(contact))
    fake_api.add("GET", "/clients/{id}", reply(contact))
    fake_api.add("GET", "/clients", reply([contact]))
    created = await client.clients.create({"email": "ap@acme.example", "businessName": "Acme"})
    updated = await client.clients.update("c1", {"email": "ap@acme.example"})
    fetched = await client.clients.get("c1")
    customers = await client.clients.list()
    vendors = await client.clients.list(type="vendor")
    assert created.id == updated.id == fetched.id == customers[0].id == vendors[0].id == "c1"
    post, put, get, list_customers, list_vendors = fake_api.requests
    assert post.json() == {
        "email": "ap@acme.example",
        "contactType": ["customer"],
        "businessName": "Acme",
    }
    assert (put.method, put.raw_path) == ("PUT", "/clients/c1")
    assert (get.method, get.raw_path) == ("GET", "/clients/c1")
    assert list_customers.query["type"] == "customer"
    assert list_vendors.query["type"] == "vendor"


async def test_a_contact_without_email_is_refused_before_sending(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    with pytest.raises(InvoiceValidationError) as info:
        await client.clients.create({"contactType": ["customer"]})
    assert info.value.field == "email"
    assert fake_api.requests == []


CURRENCIES = [
    {"id": "USDC-matic", "symbol": "USDC", "decimals": 6, "network": "matic", "type": "ERC20"},
    {"id": "EUR", "symbol": "EUR", "decimals": 2, "type": "ISO4217"},
]


async def test_currencies_lists_and_chains(fake_api: FakeAPI, client: RequestFinanceClient) -> None:
    fake_api.add("GET", "/currency", reply(CURRENCIES))
    fake_api.add("GET", "/currency/list/invoicing", reply(CURRENCIES[1:]))
    fake_api.add("GET", "/currency/chains", reply([{"id": 137, "name": "matic", "testnet": False}]))
    assert [c.id for c in await client.currencies.all()] == ["USDC-matic", "EUR"]
    assert [c.id for c in await client.currencies.invoicing()] == ["EUR"]
    chains = await client.currencies.chains()
    assert (chains[0].id, chains[0].name) == (137, "matic")
    paths = [r.raw_path for r in fake_api.requests]
    assert paths == ["/currency", "/currency/list/invoicing", "/currency/chains"]


async def test_find_a_currency_by_id_ignoring_case(
    fake_api: FakeAPI, client: RequestFinanceClient
) -> None:
    fake_api.add("GET", "/currency", reply(CURRENCIES))
    usdc = await client.currencies.find("usdc-MATIC")
    assert usdc is not None
    assert usdc.decimals == 6
    assert await client.currencies.find("DAI-mainnet") is None
    assert len(fake_api.requests) == 2
