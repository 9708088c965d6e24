"""An invoice's whole life through the client: create, convert, open, accept, pay —
and the changes (reject, cancel) with the checks made before sending."""

from __future__ import annotations

import pytest

from reqfin_async import (
    BadRequestError,
    ChangeNotAllowedError,
    ChangeType,
    InvoiceStatus,
    InvoiceValidationError,
    NewInvoice,
    PermissionDeniedError,
    RequestFinanceClient,
    validate_new_invoice,
)
from reqfin_async.sandbox import Sandbox
from tests.specbody import BUYER_EMAIL, SELLER_EMAIL, invoice_body

from .conftest import create_request, wait_for_status

# The specification's example by hand: 2 x 9999 cents = 19998; plus 20 % tax =
# 23997.6, rounded half up = 23998 cents ($239.98).
SPEC_TOTAL = 23998


async def open_request(seller: RequestFinanceClient, number: str) -> str:
    """Create, convert and wait until ``open``; the request id."""
    converted = await create_request(seller, invoice_body(number))
    assert converted.request_id is not None
    await wait_for_status(seller, converted.request_id, InvoiceStatus.OPEN)
    return converted.request_id


async def test_invoice_life_from_create_to_paid(
    sandbox: Sandbox, seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    created = await seller.invoices.create(invoice_body("13"))
    assert created.invoice_number == "13"
    assert created.request_id is None  # off chain until converted
    assert created.status is None
    assert created.role == "seller"
    assert created.type == "test"

    converted = await seller.invoices.convert_to_request(created.id)
    assert converted.id == created.id
    assert converted.request_id is not None
    assert converted.status is InvoiceStatus.PENDING
    assert converted.invoice_links is not None
    assert converted.invoice_links.pay is not None

    opened = await wait_for_status(seller, converted.request_id, InvoiceStatus.OPEN)
    assert opened.id == created.id

    # The buyer sees it, as its buyer, by id or by request id.
    seen_by_buyer = await buyer.invoices.get(converted.request_id)
    assert seen_by_buyer.role == "buyer"
    assert seen_by_buyer.id == created.id
    assert seen_by_buyer.buyer_info is not None
    assert seen_by_buyer.buyer_info.email == BUYER_EMAIL

    change = await buyer.invoices.accept(seen_by_buyer)  # an Invoice: checked, then sent
    assert change.action_type is ChangeType.ACCEPT
    assert change.request_id == converted.request_id
    assert change.status == "pending"  # applied asynchronously

    accepted = await wait_for_status(seller, converted.request_id, InvoiceStatus.ACCEPTED)
    assert accepted.role == "seller"

    sandbox.set_status(converted.request_id, "paid")  # the buyer pays on chain
    paid = await seller.invoices.get(converted.request_id)
    assert paid.status is InvoiceStatus.PAID
    assert paid.is_final
    assert paid.payment_metadata is not None
    tx_hash = paid.payment_metadata.tx_hash
    assert tx_hash is not None
    # The documented way to find the invoice a transaction paid.
    assert [i.id for i in await seller.invoices.list(search=tx_hash).collect()] == [created.id]
    assert [event.name for event in paid.events] == ["create", "accept", "paid"]

    assert paid.total() == SPEC_TOTAL
    assert paid.total_without_tax() == 2 * 9999
    assert paid.tax_total() == SPEC_TOTAL - 2 * 9999
    # What the client computes before sending agrees with what the server stored.
    assert validate_new_invoice(invoice_body("13")).total() == SPEC_TOTAL


async def test_invoice_life_with_a_typed_new_invoice(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    body: NewInvoice = validate_new_invoice(invoice_body("TYPED-1"))
    created = await seller.invoices.create(body)
    converted = await seller.invoices.convert_to_request(created.id)
    assert converted.request_id is not None
    opened = await wait_for_status(buyer, converted.request_id, InvoiceStatus.OPEN)
    assert opened.total() == SPEC_TOTAL
    assert opened.seller_info is not None
    # No sellerInfo was sent: the server names the account's user.
    assert opened.seller_info.email == SELLER_EMAIL
    assert opened.seller_info.user_id is not None


async def test_buyer_rejects_with_a_note_that_reaches_the_change_record(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "REJ-1")
    change = await buyer.invoices.reject(request_id, "Duplicate of REJ-0")
    assert change.action_type is ChangeType.REJECT
    assert change.input == {"note": "Duplicate of REJ-0"}
    assert change.request_id == request_id
    rejected = await wait_for_status(seller, request_id, InvoiceStatus.REJECTED)
    assert rejected.is_final
    assert rejected.events[-1].name == "reject"


async def test_reject_without_a_note_is_refused_before_sending(
    sandbox: Sandbox, seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "REJ-2")
    served = sandbox.request_count
    sent = buyer.stats.requests
    for note in ("", "   "):
        with pytest.raises(InvoiceValidationError) as caught:
            await buyer.invoices.reject(request_id, note)
        assert caught.value.field == "input.note"
    assert sandbox.request_count == served
    assert buyer.stats.requests == sent
    assert (await seller.invoices.get(request_id)).status is InvoiceStatus.OPEN


async def test_seller_cancels_an_open_invoice(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "CAN-1")
    change = await seller.invoices.cancel(request_id)
    assert change.action_type is ChangeType.CANCEL
    assert change.status == "pending"
    canceled = await wait_for_status(seller, request_id, InvoiceStatus.CANCELED)
    assert canceled.is_final
    # The buyer sees the same final status.
    assert (await buyer.invoices.get(request_id)).status is InvoiceStatus.CANCELED


async def test_seller_cancels_an_accepted_invoice(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "CAN-2")
    await buyer.invoices.accept(request_id)
    accepted = await wait_for_status(seller, request_id, InvoiceStatus.ACCEPTED)
    await seller.invoices.cancel(accepted)  # an Invoice: accepted may be canceled
    await wait_for_status(seller, request_id, InvoiceStatus.CANCELED)


async def test_accepting_a_paid_invoice_raises_change_not_allowed_before_sending(
    sandbox: Sandbox, seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "PAID-1")
    sandbox.set_status(request_id, "paid")
    paid = await buyer.invoices.get(request_id)
    assert paid.status is InvoiceStatus.PAID
    served = sandbox.request_count
    with pytest.raises(ChangeNotAllowedError, match="paid"):
        await buyer.invoices.accept(paid)
    with pytest.raises(ChangeNotAllowedError):
        await buyer.invoices.reject(paid, "Too late")
    seller_view = await seller.invoices.get(request_id)
    served_after_get = sandbox.request_count
    assert served_after_get == served + 1  # only the GET above reached the server
    with pytest.raises(ChangeNotAllowedError):
        await seller.invoices.cancel(seller_view)
    assert sandbox.request_count == served_after_get


async def test_changes_of_the_wrong_side_are_refused_before_sending_given_an_invoice(
    sandbox: Sandbox, seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "SIDE-1")
    as_seller = await seller.invoices.get(request_id)
    as_buyer = await buyer.invoices.get(request_id)
    served = sandbox.request_count
    with pytest.raises(ChangeNotAllowedError, match="buyer"):
        await seller.invoices.accept(as_seller)
    with pytest.raises(ChangeNotAllowedError, match="seller"):
        await buyer.invoices.cancel(as_buyer)
    assert sandbox.request_count == served


async def test_seller_accepting_by_id_is_refused_by_the_server(
    seller: RequestFinanceClient,
) -> None:
    request_id = await open_request(seller, "SIDE-2")
    with pytest.raises(PermissionDeniedError) as caught:
        await seller.invoices.accept(request_id)  # only an id: nothing to check locally
    assert caught.value.status_code == 403
    assert caught.value.request_id is not None
    assert (await seller.invoices.get(request_id)).status is InvoiceStatus.OPEN


async def test_buyer_cancelling_by_id_is_refused_by_the_server(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "SIDE-3")
    with pytest.raises(PermissionDeniedError):
        await buyer.invoices.cancel(request_id)


async def test_converting_twice_is_refused(seller: RequestFinanceClient) -> None:
    converted = await create_request(seller, invoice_body("TWICE-1"))
    with pytest.raises(BadRequestError, match="already been converted"):
        await seller.invoices.convert_to_request(converted.id)
    assert (await seller.invoices.get(converted.id)).request_id == converted.request_id


async def test_totals_survive_the_round_trip_exactly(seller: RequestFinanceClient) -> None:
    body = invoice_body("SUM-1")
    body["invoiceItems"] = [
        # (1.5 x 3333 - 100) x 1.199 = 5874.5005 -> 5875
        {
            "currency": "USD",
            "name": "Consulting",
            "quantity": 1.5,
            "unitPrice": "3333",
            "discount": "100",
            "tax": {"type": "percentage", "amount": "19.9"},
        },
        # 3 x 1000 + 150 (a fixed tax, once per line) = 3150
        {
            "currency": "USD",
            "name": "Cables",
            "quantity": 3,
            "unitPrice": "1000",
            "tax": {"type": "fixed", "amount": "150"},
        },
    ]
    created = await seller.invoices.create(body)
    fetched = await seller.invoices.get(created.id)
    assert [item.total() for item in fetched.invoice_items] == [5875, 3150]
    assert fetched.total() == 5875 + 3150

    wei = invoice_body("SUM-2")
    wei["invoiceItems"] = [
        # 3 x 1.5 ETH in wei, at 19.9 %: 4.5e18 x 1.199 = 5.3955e18, exactly
        {
            "currency": "ETH-mainnet",
            "quantity": 3,
            "unitPrice": "1500000000000000000",
            "tax": {"type": "percentage", "amount": "19.9"},
        }
    ]
    wei["paymentOptions"][0]["value"]["currencies"] = ["ETH-mainnet"]
    wei["paymentOptions"][0]["value"]["paymentInformation"]["chain"] = "mainnet"
    in_wei = await seller.invoices.get((await seller.invoices.create(wei)).id)
    assert in_wei.total() == 5_395_500_000_000_000_000


async def test_buyer_rejects_an_invoice_he_had_accepted(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    request_id = await open_request(seller, "REJ-3")
    await buyer.invoices.accept(request_id)
    accepted = await wait_for_status(buyer, request_id, InvoiceStatus.ACCEPTED)
    change = await buyer.invoices.reject(accepted, "Wrong quantity")
    assert change.input == {"note": "Wrong quantity"}
    rejected = await wait_for_status(seller, request_id, InvoiceStatus.REJECTED)
    assert [event.name for event in rejected.events] == ["create", "accept", "reject"]
