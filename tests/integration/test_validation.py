"""Input refused: by the client before sending (``InvoiceValidationError``), by the
server with the offending fields (``BadRequestError.fields``), and a reused
``invoiceNumber`` (``ConflictError``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from reqfin_async import (
    ApiKeyAuth,
    BadRequestError,
    ConflictError,
    InvoiceValidationError,
    RequestFinanceClient,
    validate_new_invoice,
)
from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import make_client

Body = dict[str, Any]
OPTION = "paymentOptions[0].value"


def _unknown_currency(body: Body) -> None:
    body["paymentOptions"][0]["value"]["currencies"] = ["USDC-matic", "DOGE-matic"]


def _not_an_evm_address(body: Body) -> None:
    body["paymentOptions"][0]["value"]["paymentInformation"]["paymentAddress"] = "0x1234"


def _unknown_chain(body: Body) -> None:
    body["paymentOptions"][0]["value"]["currencies"] = ["USD"]
    body["paymentOptions"][0]["value"]["paymentInformation"]["chain"] = "solana"


def _chain_of_another_currency(body: Body) -> None:
    body["paymentOptions"][0]["value"]["paymentInformation"]["chain"] = "mainnet"  # USDC-matic


def _one_letter_top_level_domain(body: Body) -> None:
    body["buyerInfo"]["email"] = "justin@acme.c"


def _old_schema_version(body: Body) -> None:
    body["meta"] = {"format": "rnf_invoice", "version": "0.0.2"}


def _city_and_locality_disagree(body: Body) -> None:
    body["buyerInfo"]["address"]["locality"] = "Boston"  # city is New York


SERVER_ONLY_RULES: list[tuple[Callable[[Body], None], str]] = [
    (_unknown_currency, f"{OPTION}.currencies[1]"),
    (_not_an_evm_address, f"{OPTION}.paymentInformation.paymentAddress"),
    (_unknown_chain, f"{OPTION}.paymentInformation.chain"),
    (_chain_of_another_currency, f"{OPTION}.paymentInformation.chain"),
    (_one_letter_top_level_domain, "buyerInfo.email"),
    (_old_schema_version, "meta.version"),
    (_city_and_locality_disagree, "buyerInfo.address.locality"),
]


@pytest.mark.parametrize(
    ("breach", "field"),
    SERVER_ONLY_RULES,
    ids=[breach.__name__.strip("_") for breach, _ in SERVER_ONLY_RULES],
)
async def test_server_only_rule_surfaces_as_bad_request_naming_the_field(
    sandbox: Sandbox,
    seller: RequestFinanceClient,
    breach: Callable[[Body], None],
    field: str,
) -> None:
    body = invoice_body("BAD-1")
    breach(body)
    validate_new_invoice(body)  # the client finds nothing wrong...
    served = sandbox.request_count
    with pytest.raises(BadRequestError) as caught:
        await seller.invoices.create(body)  # ...the server does
    error = caught.value
    assert error.status_code == 400
    assert error.fields == [field]
    assert error.request_id is not None
    assert field in str(error)  # the body reaches the message, for the log
    assert sandbox.request_count == served + 1  # a 400 is not retried
    assert await seller.invoices.list().collect() == []


async def test_every_server_refusal_is_listed_at_once(
    seller: RequestFinanceClient,
) -> None:
    body = invoice_body("BAD-2")
    for breach in (
        _unknown_currency,
        _not_an_evm_address,
        _one_letter_top_level_domain,
        _old_schema_version,
        _city_and_locality_disagree,
    ):
        breach(body)
    with pytest.raises(BadRequestError) as caught:
        await seller.invoices.create(body)
    assert sorted(caught.value.fields) == sorted(
        [
            f"{OPTION}.currencies[1]",
            f"{OPTION}.paymentInformation.paymentAddress",
            "buyerInfo.email",
            "meta.version",
            "buyerInfo.address.locality",
        ]
    )


async def test_malformed_body_raises_invoice_validation_error_and_sends_nothing(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    body = invoice_body("BAD-3")
    body["invoiceItems"][0]["unitPrice"] = "99.99"  # not in the smallest unit
    body["buyerInfo"]["address"]["country"] = "usa"
    body["paymentTerms"]["dueDate"] = "2020-01-01T00:00:00Z"  # before creationDate
    del body["paymentOptions"]
    served = sandbox.request_count
    with pytest.raises(InvoiceValidationError) as caught:
        await seller.invoices.create(body)
    assert isinstance(caught.value, ValueError)
    assert set(caught.value.fields) == {
        "invoiceItems[0].unitPrice",
        "buyerInfo.address.country",
        "paymentTerms.dueDate",
        "paymentOptions",
    }
    assert sandbox.request_count == served
    assert seller.stats.requests == 0


async def test_salary_without_employee_email_is_refused_before_sending(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    body = invoice_body("SAL-BAD")  # a buyer, but no seller (the employee)
    with pytest.raises(InvoiceValidationError) as caught:
        await seller.salaries.create(body)
    assert "sellerInfo.email" in caught.value.fields
    assert sandbox.request_count == 0


async def test_invalid_contact_is_refused_before_sending(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    with pytest.raises(InvoiceValidationError) as caught:
        await seller.clients.create({"email": "not-an-email", "contactType": ["supplier"]})
    assert set(caught.value.fields) == {"email", "contactType[0]"}
    assert sandbox.request_count == 0


async def test_reusing_an_invoice_number_raises_conflict(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    first = await seller.invoices.create(invoice_body("DUP-1"))
    with pytest.raises(ConflictError) as caught:
        await seller.invoices.create(invoice_body("DUP-1", tags=["second try"]))
    assert caught.value.status_code == 409
    listed = await seller.invoices.list(search="DUP-1").collect()
    assert [invoice.id for invoice in listed] == [first.id]


async def test_invoice_numbers_are_unique_per_account_and_network(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    await seller.invoices.create(invoice_body("DUP-2"))
    async with (
        make_client(sandbox, network="live") as live,
        make_client(sandbox, ApiKeyAuth(sandbox.config.buyer_api_key)) as other_account,
    ):
        on_live = await live.invoices.create(invoice_body("DUP-2"))
        assert on_live.type == "live"
        elsewhere = await other_account.invoices.create(invoice_body("DUP-2"))
        assert elsewhere.invoice_number == "DUP-2"
        with pytest.raises(ConflictError):
            await live.invoices.create(invoice_body("DUP-2"))
