"""The wire models against the specification's own JSON examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from reqfin_async.models import (
    FINAL_STATUSES,
    SALARY_META,
    Address,
    Chain,
    ChangeType,
    ClientContact,
    Currency,
    Invoice,
    InvoiceChange,
    InvoiceItem,
    InvoiceLinks,
    InvoicePage,
    InvoiceStatus,
    Meta,
    NewClientContact,
    NewInvoice,
    NewInvoiceChange,
    OAuthErrorBody,
    Organization,
    PartyInfo,
    PaymentInformation,
    PaymentOption,
    PaymentOptionValue,
    PaymentTerms,
    Tax,
    TaxType,
    TokenSet,
    User,
    decode,
    decoder,
    encode,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOKEN = "0x68d6728d52aadb034938d908d8adb93bb12e64e8982c40b4af275c260b3aee97"
DATE_KEYS = {"creationDate", "dueDate", "deliveryDate", "date", "timestamp"}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def as_json(name: str) -> Any:
    return json.loads(raw(name))


def dates_parsed(value: Any) -> Any:
    """JSON data with its dates parsed: "...16.916Z" and "...16.916000Z" are one instant."""
    if isinstance(value, dict):
        return {
            k: datetime.fromisoformat(v)
            if k in DATE_KEYS and isinstance(v, str)
            else dates_parsed(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [dates_parsed(v) for v in value]
    return value


def spec_new_invoice() -> NewInvoice:
    """The specification's example request, written in Python."""
    return NewInvoice(
        creation_date=datetime(2022, 12, 22, 14, 38, 16, 916000, tzinfo=UTC),
        invoice_items=[
            InvoiceItem(
                currency="USD",
                name="Television",
                quantity=2,
                tax=Tax(type=TaxType.PERCENTAGE, amount="20"),
                unit_price="9999",
            )
        ],
        invoice_number="13",
        buyer_info=PartyInfo(
            business_name="Acme Wholesaler Ltd.",
            address=Address(
                street_address="4933 Oakwood Avenue",
                extended_address="",
                city="New York",
                postal_code="10038",
                region="New York",
                country="US",
            ),
            email="justin.walton@acme-wholesaler.com",
            first_name="Justin",
            last_name="Walton",
            tax_registration="985-80-3313",
        ),
        payment_terms=PaymentTerms(due_date=datetime(2023, 1, 21, 23, 59, 59, 999000, tzinfo=UTC)),
        payment_options=[
            PaymentOption(
                type="wallet",
                value=PaymentOptionValue(
                    currencies=["USDC-matic"],
                    payment_information=PaymentInformation(
                        payment_address="0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                        chain="matic",
                    ),
                ),
            )
        ],
        tags=["my_tag"],
    )


# --- decoding the specification's responses --------------------------------------------------


def test_create_response_decodes_with_aware_dates_and_both_address_styles() -> None:
    invoice = decode(raw("invoice_created.json"), Invoice)

    assert invoice.id == "63f2f5a7f00a45f276585b27"
    assert invoice.creation_date == datetime(2022, 12, 22, 14, 38, 16, 916000, tzinfo=UTC)
    assert invoice.due_date == datetime(2023, 1, 21, 23, 59, 59, 999000, tzinfo=UTC)
    assert invoice.due_date is not None
    assert invoice.due_date.utcoffset() is not None
    assert invoice.status is None
    assert invoice.request_id is None
    assert invoice.role == "seller"
    assert invoice.type == "live"
    assert invoice.tags == ["my_tag"]
    assert invoice.meta == Meta("rnf_invoice", "0.0.3")
    assert invoice.created_by == "63995f77f46a063ba7ac34de"
    buyer = invoice.buyer_info
    assert buyer is not None
    assert buyer.user_id == "63c8d2c230d75e750fb449ea"
    assert buyer.address is not None
    assert buyer.address.city == "New York"
    assert buyer.address.locality == "New York"
    assert buyer.address.hcard_street_address == "4933 Oakwood Avenue"
    assert buyer.address.hcard_postal_code == "10038"
    assert buyer.address.country_name == "US"
    assert buyer.address.hcard_extended_address == ""
    item = invoice.invoice_items[0]
    assert (item.name, item.quantity, item.unit_price) == ("Television", 2, "9999")
    assert item.tax == Tax(type=TaxType.PERCENTAGE, amount="20")
    option = invoice.payment_options[0]
    assert option.type == "wallet"
    assert option.value.currencies == ["USDC-matic"]
    assert option.value.payment_information is not None
    assert option.value.payment_information.chain == "matic"


def test_converted_response_carries_request_id_and_links() -> None:
    invoice = decode(raw("invoice_converted.json"), Invoice)

    assert invoice.request_id == (
        "017f7f0b5518c6b3c3711b2f5b4517af10195b0f91dc802c3db36f5bf119595fda"
    )
    assert invoice.tracked_transactions == []
    links = invoice.invoice_links
    assert links is not None
    assert links.pay is not None
    assert links.pay.endswith(f"?token={TOKEN}&enablePayment=true")
    assert links.view is not None
    assert links.sign_up_and_pay is not None
    assert links.sign_up_and_pay.startswith("https://app.request.finance/signup?invoice=")


def test_get_response_decodes_status_events_and_empty_payment_metadata() -> None:
    invoice = decode(raw("invoice_get.json"), Invoice)

    assert invoice.status is InvoiceStatus.OPEN
    assert not invoice.is_final
    assert invoice.payment_metadata is not None
    assert invoice.payment_metadata.tx_hash is None
    assert invoice.events[0].name == "create"
    assert invoice.events[0].date == datetime(2023, 2, 20, 4, 28, 12, tzinfo=UTC)


def test_list_response_decodes_as_a_list_of_invoices() -> None:
    invoices = decode(raw("invoice_list.json"), list[Invoice])

    assert [i.invoice_number for i in invoices] == ["4", "3"]
    assert [i.total() for i in invoices] == [2400, 23998]
    assert all(i.status is InvoiceStatus.OPEN for i in invoices)


def test_change_record_decodes() -> None:
    change = decode(raw("change_record.json"), InvoiceChange)

    assert change.action_type is ChangeType.CANCEL
    assert change.input == {}
    assert change.status == "pending"
    assert change.send_notification is False
    assert change.timestamp == datetime(2023, 5, 24, 1, 30, 37, 811000, tzinfo=UTC)
    assert (change.network_type, change.chain_name) == ("test", "goerli")


def test_unknown_fields_in_responses_are_skipped() -> None:
    data = as_json("invoice_get.json")
    data["brandNewField"] = {"nested": [1, 2]}
    data["buyerInfo"]["address"]["planet"] = "Earth"
    data["invoiceItems"][0]["color"] = "black"
    data["paymentMetadata"] = {"txHash": "0xabc", "isManuallyPaid": False, "extra": 1}

    invoice = decode(json.dumps(data), Invoice)

    assert invoice.id == "63f2f5a7f00a45f276585b28"
    assert invoice.payment_metadata is not None
    assert invoice.payment_metadata.tx_hash == "0xabc"
    assert invoice.payment_metadata.is_manually_paid is False


def test_fields_seen_in_the_wild_decode() -> None:
    data = as_json("invoice_get.json")
    data |= {
        "attachments": [{"name": "a.pdf"}],
        "categories": ["hardware"],
        "clientId": "c1",
        "draft": False,
        "ccRecipients": ["cfo@acme.example"],
        "recurringRule": "RRULE:FREQ=MONTHLY",
        "nextOccurrence": "2023-03-01T00:00:00.000Z",
        "variant": "rnf_invoice",
        "trackedTransactions": [{"txHash": "0x1", "chainName": "matic", "amount": "23998"}],
    }

    invoice = decode(json.dumps(data), Invoice)

    assert invoice.client_id == "c1"
    assert invoice.next_occurrence == datetime(2023, 3, 1, tzinfo=UTC)
    assert invoice.tracked_transactions[0].tx_hash == "0x1"
    assert invoice.cc_recipients == ["cfo@acme.example"]


def test_unknown_status_decodes_to_a_cached_pseudo_member() -> None:
    data = as_json("invoice_get.json")
    data["status"] = "frozenByCompliance"

    first = decode(json.dumps(data), Invoice)
    second = decode(json.dumps(data), Invoice)

    assert first.status is not None
    assert first.status == "frozenByCompliance"
    assert first.status.value == "frozenByCompliance"
    assert first.status is second.status
    assert isinstance(first.status, InvoiceStatus)
    assert not first.status.is_known
    assert not first.is_final
    assert first.status not in list(InvoiceStatus)


def test_unknown_status_named_like_a_member_is_still_unknown() -> None:
    shouting = InvoiceStatus("PAID")

    assert shouting is not InvoiceStatus.PAID
    assert not shouting.is_known
    assert not shouting.is_final
    assert InvoiceStatus.PAID.is_known


def test_final_statuses_are_paid_rejected_and_canceled() -> None:
    assert {InvoiceStatus.PAID, InvoiceStatus.REJECTED, InvoiceStatus.CANCELED} == FINAL_STATUSES
    assert InvoiceStatus.final_statuses() == FINAL_STATUSES
    assert InvoiceStatus.PAID.is_final
    assert not InvoiceStatus.DECLARED_PAID.is_final
    assert InvoiceStatus("declaredPaid") is InvoiceStatus.DECLARED_PAID
    assert str(InvoiceStatus.DECLARED_PAID) == "declaredPaid"


def test_unknown_tax_type_and_payment_option_type_decode() -> None:
    data = as_json("invoice_get.json")
    data["invoiceItems"][0]["tax"] = {"type": "compound", "amount": "3"}
    data["paymentOptions"].append(
        {"type": "bank-account", "value": {"iban": "FR76...", "currencies": ["EUR"]}}
    )

    invoice = decode(json.dumps(data), Invoice)

    tax = invoice.invoice_items[0].tax
    assert tax is not None
    assert tax.type == "compound"
    assert tax.type is not None
    assert not tax.type.is_known
    assert invoice.payment_options[1].type == "bank-account"
    assert invoice.payment_options[1].value.currencies == ["EUR"]


def test_fractional_quantity_decodes_exactly_and_encodes_as_a_number() -> None:
    item = decode(b'{"currency":"USD","quantity":1.1,"unitPrice":"3333"}', InvoiceItem)

    assert item.quantity == Decimal("1.1")
    assert encode(item) == b'{"currency":"USD","quantity":1.1,"unitPrice":"3333"}'
    assert decode(b'{"currency":"USD","quantity":2,"unitPrice":"1"}', InvoiceItem).quantity == 2


# --- requests -------------------------------------------------------------------------------


def test_new_invoice_refuses_unknown_fields() -> None:
    data = as_json("new_invoice_request.json")
    data["invoiceNumbr"] = "13"

    with pytest.raises(msgspec.ValidationError, match="invoiceNumbr"):
        decode(json.dumps(data), NewInvoice)


def test_new_invoice_encodes_to_the_spec_request_body() -> None:
    sent = json.loads(encode(spec_new_invoice()))

    expected = as_json("new_invoice_request.json")
    # meta is always sent, so that the format never depends on a server default.
    assert dates_parsed(sent) == dates_parsed(expected | {"meta": msgspec.to_builtins(Meta())})
    assert "null" not in encode(spec_new_invoice()).decode()


def test_spec_request_body_round_trips_through_new_invoice() -> None:
    body = raw("new_invoice_request.json")

    new = decode(body, NewInvoice)

    assert new == spec_new_invoice()
    assert new.total() == 23998
    assert dates_parsed(json.loads(encode(new))) == dates_parsed(
        json.loads(body) | {"meta": {"format": "rnf_invoice", "version": "0.0.3"}}
    )


def test_meta_and_payment_option_type_are_sent_even_at_their_defaults() -> None:
    option = PaymentOption(value=PaymentOptionValue(currencies=["ETH-mainnet"]))

    assert encode(Meta()) == b'{"format":"rnf_invoice","version":"0.0.3"}'
    assert encode(option) == b'{"type":"wallet","value":{"currencies":["ETH-mainnet"]}}'
    assert Meta("rnf_salary", "0.0.3") == SALARY_META


def test_new_client_contact_sends_customer_type_by_default() -> None:
    contact = NewClientContact(email="justin@acme.example")

    assert json.loads(encode(contact)) == {
        "email": "justin@acme.example",
        "contactType": ["customer"],
    }


def test_new_invoice_change_always_sends_input() -> None:
    assert encode(NewInvoiceChange(type=ChangeType.ACCEPT)) == b'{"type":"accept","input":{}}'
    reject = NewInvoiceChange(type=ChangeType.REJECT, input={"note": "Duplicate"})
    assert encode(reject) == b'{"type":"reject","input":{"note":"Duplicate"}}'


# --- reprs never show credentials -----------------------------------------------------------


def test_invoice_links_repr_hides_the_token() -> None:
    invoice = decode(raw("invoice_converted.json"), Invoice)
    assert invoice.invoice_links is not None

    shown = repr(invoice.invoice_links)

    assert TOKEN not in shown
    assert "token=[redacted]" in shown
    assert "sign_up_and_pay=" in shown
    assert TOKEN not in str(invoice.invoice_links.__rich_repr__())


def test_invoice_repr_is_short_and_hides_link_tokens() -> None:
    invoice = decode(raw("invoice_converted.json"), Invoice)

    shown = repr(invoice)

    assert TOKEN not in shown
    assert shown == (
        "Invoice(id='63f2f5a7f00a45f276585b28', request_id="
        "'017f7f0b5518c6b3c3711b2f5b4517af10195b0f91dc802c3db36f5bf119595fda', "
        "invoice_number='3', status=None)"
    )
    assert TOKEN not in str(invoice.__rich_repr__())


def test_token_set_repr_shows_no_token() -> None:
    body = (
        b'{"access_token":"at-secret","refresh_token":"rt-secret","id_token":"it-secret",'
        b'"token_type":"Bearer","expires_in":86400,"scope":"openid offline_access"}'
    )

    tokens = decode(body, TokenSet)

    assert tokens.access_token == "at-secret"
    assert tokens.refresh_token == "rt-secret"
    shown = repr(tokens) + str(tokens.__rich_repr__())
    assert "secret" not in shown
    assert repr(tokens) == (
        "TokenSet(token_type='Bearer', expires_in=86400, scope='openid offline_access')"
    )


def test_oauth_error_body_uses_snake_case() -> None:
    body = b'{"error":"invalid_grant","error_description":"Unknown or invalid refresh token."}'

    err = decode(body, OAuthErrorBody)

    assert (err.error, err.error_description) == (
        "invalid_grant",
        "Unknown or invalid refresh token.",
    )


# --- small models and helpers ---------------------------------------------------------------


def test_address_properties_prefer_camel_case_and_fall_back_to_hcard() -> None:
    hcard = decode(
        b'{"street-address":"38 avenue de l\'Opera","postal-code":"F-75002","locality":"Paris"}',
        Address,
    )
    both = Address(street_address="1 Main St", hcard_street_address="old", city="NYC", locality="x")

    assert (hcard.street, hcard.postcode, hcard.town) == (
        "38 avenue de l'Opera",
        "F-75002",
        "Paris",
    )
    assert (both.street, both.town) == ("1 Main St", "NYC")
    assert encode(Address(hcard_postal_code="10038")) == b'{"postal-code":"10038"}'


def test_invoice_totals_delegate_to_money() -> None:
    invoice = decode(raw("invoice_get.json"), Invoice)

    assert (invoice.total(), invoice.total_without_tax(), invoice.tax_total()) == (
        23998,
        19998,
        4000,
    )
    assert invoice.invoice_items[0].total() == 23998


def test_organizations_users_currencies_and_contacts_decode() -> None:
    orgs = decode(
        b'[{"id":"o1","name":"acme","displayName":"Acme","role":"admin",'
        b'"owner":{"id":"u1","email":"joe@acme.example","firstname":"Joe","lastname":"Bloggs"}}]',
        list[Organization],
    )
    user = decode(b'{"id":"u1","email":"joe@acme.example","organization":null}', User)
    usdc = decode(
        b'{"id":"USDC-matic","hash":"0x1","address":"0x2","network":"matic","decimals":6,'
        b'"symbol":"USDC","type":"ERC20","new":true}',
        Currency,
    )
    chain = decode(b'{"id":137,"name":"matic","type":"evm","testnet":false}', Chain)
    contact = decode(b'{"id":"c1","email":"a@b.co","contactType":["customer"]}', ClientContact)

    assert orgs[0].display_name == "Acme"
    assert orgs[0].owner is not None
    assert orgs[0].owner.firstname == "Joe"
    assert user.organization is None
    assert (usdc.decimals, usdc.symbol) == (6, "USDC")
    assert chain.testnet is False
    assert contact.contact_type == ["customer"]


def test_decoder_is_built_once_per_type() -> None:
    assert decoder(Invoice) is decoder(Invoice)
    assert decoder(list[Invoice]) is decoder(list[Invoice])
    one: object = decoder(Invoice)
    assert one is not decoder(list[Invoice])


def test_invoice_page_is_a_plain_container() -> None:
    page = InvoicePage(
        items=[Invoice(id="1")], total=10, total_filtered=1, status_counts={"open": 1}
    )

    assert InvoicePage().items == []
    assert page.status_counts["open"] == 1


def test_invoice_links_encode_with_camel_case() -> None:
    links = InvoiceLinks(sign_up_and_pay="https://x/?token=abc")

    assert encode(links) == b'{"signUpAndPay":"https://x/?token=abc"}'
