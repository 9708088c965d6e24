"""``invoices.list`` and ``invoices.page`` against a sandbox holding ~30 invoices of
different statuses, dates, buyers and variants."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from reqfin_async import ApiKeyAuth, Invoice, InvoiceStatus, RequestFinanceClient
from reqfin_async.sandbox import Sandbox
from tests.specbody import BUYER_EMAIL, SELLER_EMAIL, WALLET, invoice_body

from .conftest import make_client

COUNT = 30
STATUSES = ("open", "paid", "accepted", "canceled", "rejected", "declaredPaid")
FIRST_DAY = datetime(2024, 1, 1, 12, tzinfo=UTC)
OTHER_EMAIL = "other.customer@example.com"
PRIORITY = (3, 14, 25)  # tagged "priority"


def number(i: int) -> str:
    return f"LST-{i:02d}"


def status_of(i: int) -> str:
    return STATUSES[i % len(STATUSES)]


def created_on(i: int) -> datetime:
    return FIRST_DAY + timedelta(days=i)


@dataclass
class Catalogue:
    """What the sandbox holds, as the seller sees it."""

    ids: dict[str, str]  # invoice number -> id
    salary_id: str
    received_id: str  # the buyer's invoice to the seller

    @property
    def all_ids(self) -> set[str]:
        return {*self.ids.values(), self.salary_id, self.received_id}


async def _add(sandbox: Sandbox, seller: RequestFinanceClient, i: int) -> tuple[str, str]:
    to_buyer = i % 2 == 0
    body = invoice_body(
        number(i),
        buyer_email=BUYER_EMAIL if to_buyer else OTHER_EMAIL,
        creationDate=created_on(i).isoformat().replace("+00:00", "Z"),
        tags=["priority"] if i in PRIORITY else ["routine"],
    )
    if not to_buyer:
        body["buyerInfo"]["businessName"] = "Other Customer Ltd"
    created = await seller.invoices.create(body)
    converted = await seller.invoices.convert_to_request(created.id)
    assert converted.request_id is not None
    sandbox.set_status(converted.id, status_of(i))
    return number(i), created.id


@pytest.fixture
async def catalogue(
    sandbox: Sandbox, seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> Catalogue:
    pairs = await asyncio.gather(*(_add(sandbox, seller, i) for i in range(COUNT)))
    salary = await seller.salaries.create(
        {
            "invoiceNumber": "SAL-1",
            "invoiceItems": [{"currency": "USD", "quantity": 1, "unitPrice": "500000"}],
            "sellerInfo": {"email": "employee@example.com", "firstName": "Erin"},
            "buyerInfo": {"email": SELLER_EMAIL, "businessName": "Acme Corp"},
            "paymentOptions": [
                {
                    "type": "wallet",
                    "value": {
                        "currencies": ["USDC-matic"],
                        "paymentInformation": {"paymentAddress": WALLET, "chain": "matic"},
                    },
                }
            ],
        }
    )
    # The buyer bills the seller once: the seller receives it, the buyer sent it.
    from_buyer = await buyer.invoices.create(
        invoice_body("BUY-1", buyer_email=SELLER_EMAIL, creationDate="2023-06-01T00:00:00.000Z")
    )
    from_buyer = await buyer.invoices.convert_to_request(from_buyer.id)
    sandbox.set_status(from_buyer.id, "open")
    return Catalogue(ids=dict(pairs), salary_id=salary.id, received_id=from_buyer.id)


def numbers_of(invoices: list[Invoice]) -> set[str]:
    return {invoice.invoice_number or "" for invoice in invoices}


async def test_list_without_filters_yields_everything_the_account_sees(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    listed = await seller.invoices.list().collect()
    assert len(listed) == COUNT + 2
    assert {invoice.id for invoice in listed} == catalogue.all_ids
    roles = Counter(invoice.role for invoice in listed)
    assert roles == {"seller": COUNT + 1, "buyer": 1}


async def test_list_by_one_status(seller: RequestFinanceClient, catalogue: Catalogue) -> None:
    paid = await seller.invoices.list(status="paid").collect()
    expected = {number(i) for i in range(COUNT) if status_of(i) == "paid"}
    assert numbers_of(paid) == expected
    assert all(invoice.status is InvoiceStatus.PAID for invoice in paid)
    # An InvoiceStatus member filters the same way.
    declared = await seller.invoices.list(status=InvoiceStatus.DECLARED_PAID).collect()
    assert numbers_of(declared) == {
        number(i) for i in range(COUNT) if status_of(i) == "declaredPaid"
    }


async def test_list_by_several_statuses(seller: RequestFinanceClient, catalogue: Catalogue) -> None:
    finished = await seller.invoices.list(status=["canceled", InvoiceStatus.REJECTED]).collect()
    expected = {number(i) for i in range(COUNT) if status_of(i) in ("canceled", "rejected")}
    assert numbers_of(finished) == expected
    assert len(finished) == 10
    # Open ones include the invoice the seller received.
    opened = await seller.invoices.list(status=("open",)).collect()
    assert numbers_of(opened) == {
        *(number(i) for i in range(COUNT) if status_of(i) == "open"),
        "BUY-1",
    }


async def test_list_search_matches_numbers_tags_and_names(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    assert numbers_of(await seller.invoices.list(search="LST-07").collect()) == {"LST-07"}
    tagged = await seller.invoices.list(search="PRIORITY").collect()
    assert numbers_of(tagged) == {number(i) for i in PRIORITY}
    named = await seller.invoices.list(search="other customer").collect()
    assert numbers_of(named) == {number(i) for i in range(COUNT) if i % 2}
    assert await seller.invoices.list(search="no-such-thing").collect() == []


async def test_list_by_creation_date_range(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    start, end = created_on(10) - timedelta(hours=1), created_on(19) + timedelta(hours=1)
    window = await seller.invoices.list(created_from=start, created_to=end).collect()
    assert numbers_of(window) == {number(i) for i in range(10, 20)}
    assert all(
        invoice.creation_date is not None and start <= invoice.creation_date <= end
        for invoice in window
    )
    # Open-ended on either side.
    before = await seller.invoices.list(created_to=created_on(2)).collect()
    assert numbers_of(before) == {"BUY-1", number(0), number(1), number(2)}
    after = await seller.invoices.list(created_from=created_on(28)).collect()
    assert numbers_of(after) == {number(28), number(29), "SAL-1"}


async def test_filter_by_sent_and_received_depends_on_the_side(
    seller: RequestFinanceClient, buyer: RequestFinanceClient, catalogue: Catalogue
) -> None:
    sent = await seller.invoices.list(filter_by="sent").collect()
    assert {invoice.id for invoice in sent} == {*catalogue.ids.values(), catalogue.salary_id}
    assert {invoice.role for invoice in sent} == {"seller"}
    received = await seller.invoices.list(filter_by="received").collect()
    assert [invoice.id for invoice in received] == [catalogue.received_id]
    assert received[0].role == "buyer"

    # The buyer receives the converted invoices addressed to him, and sent one.
    buyer_received = await buyer.invoices.list(filter_by="received").collect()
    assert numbers_of(buyer_received) == {number(i) for i in range(COUNT) if i % 2 == 0}
    assert {invoice.role for invoice in buyer_received} == {"buyer"}
    buyer_sent = await buyer.invoices.list(filter_by="sent").collect()
    assert [invoice.id for invoice in buyer_sent] == [catalogue.received_id]
    assert buyer_sent[0].role == "seller"


async def test_variant_separates_salaries_from_invoices(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    salaries = await seller.invoices.list(variant="rnf_salary").collect()
    assert [invoice.id for invoice in salaries] == [catalogue.salary_id]
    assert salaries[0].meta is not None
    assert salaries[0].meta.format == "rnf_salary"
    assert [s.id for s in await seller.salaries.list().collect()] == [catalogue.salary_id]
    invoices = await seller.invoices.list(variant="rnf_invoice").collect()
    assert len(invoices) == COUNT + 1
    assert catalogue.salary_id not in {invoice.id for invoice in invoices}


async def test_with_links_adds_the_payment_links_of_requests(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    plain = await seller.invoices.list(variant="rnf_invoice").collect()
    assert all(invoice.invoice_links is None for invoice in plain)
    linked = await seller.invoices.list(variant="rnf_invoice", with_links=True).collect()
    assert len(linked) == COUNT + 1
    for invoice in linked:
        assert invoice.invoice_links is not None
        assert invoice.invoice_links.pay is not None
        assert invoice.request_id is not None
        assert invoice.request_id in invoice.invoice_links.pay


async def test_small_pages_yield_every_invoice_once_newest_first(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    sent_before = seller.stats.requests
    listed = await seller.invoices.list(take=7).collect()
    pages = seller.stats.requests - sent_before
    total = COUNT + 2
    assert pages == total // 7 + 1  # full pages, then a short one that ends the listing
    ids = [invoice.id for invoice in listed]
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == catalogue.all_ids
    dates = [invoice.creation_date for invoice in listed if invoice.creation_date is not None]
    assert len(dates) == total
    assert all(newer > older for newer, older in itertools.pairwise(dates))
    assert listed[0].invoice_number == "SAL-1"  # created now
    assert listed[-1].invoice_number == "BUY-1"  # dated 2023
    assert [i.invoice_number for i in listed[1:-1]] == [number(i) for i in reversed(range(COUNT))]
    # The same order as one big page.
    assert [invoice.id for invoice in await seller.invoices.list(take=100).collect()] == ids


async def test_page_totals_and_status_counts_agree_with_the_list(
    seller: RequestFinanceClient, catalogue: Catalogue
) -> None:
    page = await seller.invoices.page(take=1)
    listed = await seller.invoices.list().collect()
    assert len(page.items) == 1
    assert page.items[0].id == listed[0].id
    assert page.total == page.total_filtered == len(listed)
    for status in InvoiceStatus:
        count = len(await seller.invoices.list(status=status).collect())
        assert page.status_counts.get(status.value, 0) == count, status
    assert page.status_counts["paid"] == 5
    assert page.status_counts["open"] == 6  # five of ours and the one received
    assert sum(page.status_counts.values()) == len(listed) - 1  # the salary is off chain

    filtered = await seller.invoices.page(take=1, status=["paid", "canceled"])
    assert filtered.total == len(listed)
    assert filtered.total_filtered == 10
    assert filtered.items[0].status in (InvoiceStatus.PAID, InvoiceStatus.CANCELED)


async def test_another_account_sees_none_of_it(sandbox: Sandbox, catalogue: Catalogue) -> None:
    async with make_client(sandbox, ApiKeyAuth(sandbox.config.buyer_api_key)) as buyer:
        visible = {invoice.id for invoice in await buyer.invoices.list().collect()}
    # Only the converted invoices addressed to the buyer, and the one he sent.
    assert len(visible) == COUNT // 2 + 1
    assert catalogue.salary_id not in visible


async def test_overdue_lists_open_invoices_past_their_due_date(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    late = sandbox.seed_invoices(2, due_in_s=-60)
    sandbox.seed_invoices(1, due_in_s=3600)
    sandbox.seed_invoices(1, status="paid", due_in_s=-60)  # paid: never overdue
    overdue = await seller.invoices.list(status="overdue").collect()
    assert {invoice.id for invoice in overdue} == {invoice["id"] for invoice in late}
    assert {invoice.status for invoice in overdue} == {InvoiceStatus.OPEN}
    page = await seller.invoices.page(take=1)
    assert page.status_counts["overdue"] == 2
    assert page.status_counts["open"] == 3


async def test_listing_goes_on_when_invoices_are_created_between_pages(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    """New invoices shift the offsets: what was yielded is not yielded again, nothing
    older is missed, and the shift is not taken for a server that ignores ``skip``."""
    take = 5
    older = {invoice["id"] for invoice in sandbox.seed_invoices(12)}
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    for created_between in (1, take):  # a partial shift, then exactly one page
        listing = seller.invoices.list(take=take)
        first_page = [await anext(listing) for _ in range(take)]
        for i in range(created_between):
            await seller.invoices.create(
                invoice_body(f"NEW-{created_between}-{i}", creationDate=tomorrow)
            )
        rest = [invoice async for invoice in listing]
        ids = [invoice.id for invoice in [*first_page, *rest]]
        assert len(ids) == len(set(ids))
        assert older <= set(ids)
