"""Pre-send checks: every problem reported, at its path in the API's JSON names."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev dependencies
import msgspec
import pytest
from referencing import Registry, Resource

from reqfin_async.errors import InvoiceValidationError
from reqfin_async.models import (
    SALARY_META,
    InvoiceItem,
    Meta,
    NewClientContact,
    NewInvoice,
    PartyInfo,
    encode,
)
from reqfin_async.validation import (
    recurring_rule_problems,
    validate_new_client,
    validate_new_invoice,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RNF = FIXTURES / "rnf_invoice"
WALLET = {
    "type": "wallet",
    "value": {
        "currencies": ["USDC-matic"],
        "paymentInformation": {
            "paymentAddress": "0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
            "chain": "matic",
        },
    },
}


def body() -> dict[str, Any]:
    """The specification's example request: valid as it stands."""
    data: dict[str, Any] = json.loads((FIXTURES / "new_invoice_request.json").read_text())
    return data


def refused(data: NewInvoice | Mapping[str, Any], *, salary: bool = False) -> list[tuple[str, str]]:
    with pytest.raises(InvoiceValidationError) as info:
        validate_new_invoice(data, salary=salary)
    return info.value.errors


def paths(data: NewInvoice | Mapping[str, Any], *, salary: bool = False) -> list[str]:
    return [path for path, _ in refused(data, salary=salary)]


def with_item(**changes: Any) -> dict[str, Any]:
    data = body()
    item = data["invoiceItems"][0]
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return data


# --- what passes ----------------------------------------------------------------------------


def test_spec_request_body_is_valid_and_comes_back_typed() -> None:
    invoice = validate_new_invoice(body())

    assert isinstance(invoice, NewInvoice)
    assert invoice.invoice_items[0].quantity == 2
    assert invoice.creation_date == datetime(2022, 12, 22, 14, 38, 16, 916000, tzinfo=UTC)
    assert invoice.meta == Meta()
    assert invoice.total() == 23998


def test_struct_and_mapping_inputs_give_the_same_result() -> None:
    from_mapping = validate_new_invoice(body())

    from_struct = validate_new_invoice(from_mapping)

    assert from_struct == from_mapping
    assert encode(from_struct) == encode(from_mapping)


def test_float_quantity_is_read_as_written() -> None:
    invoice = validate_new_invoice(with_item(quantity=0.1))

    assert invoice.invoice_items[0].quantity == Decimal("0.1")
    assert b'"quantity":0.1' in encode(invoice)


def test_negative_unit_price_is_accepted_as_the_schema_allows() -> None:
    assert validate_new_invoice(with_item(unitPrice="-500")).invoice_items[0].unit_price == "-500"


def test_older_invoice_format_versions_are_accepted() -> None:
    data = body() | {"meta": {"format": "rnf_invoice", "version": "0.0.2"}}

    assert validate_new_invoice(data).meta == Meta("rnf_invoice", "0.0.2")


def test_country_name_is_free_text() -> None:
    data = body()
    data["buyerInfo"]["address"] = {"country-name": "United-State", "locality": "Seattle"}

    validate_new_invoice(data)


def test_non_evm_payment_address_is_accepted() -> None:
    data = body()
    data["paymentOptions"][0]["value"]["paymentInformation"]["paymentAddress"] = "alice.near"

    validate_new_invoice(data)


def test_other_payment_option_types_are_not_checked_for_a_wallet() -> None:
    data = body()
    data["paymentOptions"].append({"type": "bank-account", "value": {"currencies": ["EUR"]}})

    validate_new_invoice(data)


def test_empty_optional_seller_email_is_taken_as_absent() -> None:
    data = body() | {"sellerInfo": {"email": "", "businessName": "Acme TV Seller"}}

    validate_new_invoice(data)


# --- the rules, one by one ------------------------------------------------------------------


def test_unknown_top_level_field_is_refused() -> None:
    assert refused(body() | {"invoiceNumbr": "13"}) == [("invoiceNumbr", "unknown field")]


def test_misspelt_nested_field_is_refused_at_its_path() -> None:
    data = body()
    data["buyerInfo"]["adress"] = data["buyerInfo"].pop("address")

    assert refused(data) == [("buyerInfo.adress", "unknown field")]


def test_old_tax_percent_field_is_refused_in_an_item() -> None:
    assert paths(with_item(taxPercent=16.9)) == ["invoiceItems[0].taxPercent"]


def test_missing_invoice_number_is_refused() -> None:
    data = body()
    del data["invoiceNumber"]

    assert refused(data) == [("invoiceNumber", "required")]


def test_empty_invoice_number_is_refused() -> None:
    assert paths(body() | {"invoiceNumber": "  "}) == ["invoiceNumber"]


def test_invoice_number_of_the_wrong_type_is_refused_in_json_terms() -> None:
    assert refused(body() | {"invoiceNumber": 13}) == [
        ("invoiceNumber", "must be a string, got an integer")
    ]


def test_missing_invoice_items_are_refused() -> None:
    data = body()
    del data["invoiceItems"]

    assert refused(data) == [("invoiceItems", "required")]


def test_empty_invoice_items_are_refused() -> None:
    assert paths(body() | {"invoiceItems": []}) == ["invoiceItems"]


def test_item_without_currency_is_refused() -> None:
    assert refused(with_item(currency=None)) == [("invoiceItems[0].currency", "required")]


def test_one_letter_currency_is_refused() -> None:
    assert paths(with_item(currency="U")) == ["invoiceItems[0].currency"]


def test_item_without_quantity_is_refused() -> None:
    assert paths(with_item(quantity=None)) == ["invoiceItems[0].quantity"]


def test_negative_quantity_is_refused() -> None:
    assert refused(with_item(quantity=-1)) == [("invoiceItems[0].quantity", "must not be negative")]


def test_item_without_unit_price_is_refused() -> None:
    assert refused(with_item(unitPrice=None)) == [("invoiceItems[0].unitPrice", "required")]


@pytest.mark.parametrize("price", ["99.99", 99.99, 9999, "", "9 999", "1e4"])
def test_unit_price_with_decimal_point_or_not_a_string_is_refused(price: object) -> None:
    errors = refused(with_item(unitPrice=price))

    assert [path for path, _ in errors] == ["invoiceItems[0].unitPrice"]
    assert "smallest unit" in errors[0][1]


@pytest.mark.parametrize("discount", ["-1", "1.5", 1, 0.5])
def test_negative_decimal_or_numeric_discount_is_refused(discount: object) -> None:
    assert paths(with_item(discount=discount)) == ["invoiceItems[0].discount"]


def test_tax_with_unknown_type_is_refused() -> None:
    errors = refused(with_item(tax={"type": "compound", "amount": "3"}))

    assert errors == [("invoiceItems[0].tax.type", "must be one of fixed, percentage")]


@pytest.mark.parametrize("amount", ["20%", "-5", "1.2.3", "", 20])
def test_percentage_tax_amount_must_be_a_decimal_string(amount: object) -> None:
    assert paths(with_item(tax={"type": "percentage", "amount": amount})) == [
        "invoiceItems[0].tax.amount"
    ]


@pytest.mark.parametrize("amount", ["19.9", ".5", "0", "100"])
def test_percentage_tax_amounts_as_the_schema_writes_them_are_accepted(amount: str) -> None:
    validate_new_invoice(with_item(tax={"type": "percentage", "amount": amount}))


def test_fixed_tax_amount_must_be_an_integer_string() -> None:
    validate_new_invoice(with_item(tax={"type": "fixed", "amount": "150"}))

    assert paths(with_item(tax={"type": "fixed", "amount": "1.5"})) == [
        "invoiceItems[0].tax.amount"
    ]


def test_tax_type_without_amount_is_refused() -> None:
    assert paths(with_item(tax={"type": "percentage"})) == ["invoiceItems[0].tax.amount"]


def test_tax_amount_without_type_is_refused() -> None:
    assert paths(with_item(tax={"amount": "20"})) == ["invoiceItems[0].tax.type"]


def test_missing_buyer_email_is_refused() -> None:
    data = body()
    del data["buyerInfo"]["email"]

    assert refused(data) == [("buyerInfo.email", "required")]


def test_missing_buyer_is_refused_at_the_email_it_lacks() -> None:
    data = body()
    del data["buyerInfo"]

    assert refused(data) == [("buyerInfo.email", "required")]


@pytest.mark.parametrize("email", ["justin", "justin@acme", "justin walton@acme.com", "a@@b.co"])
def test_malformed_buyer_email_is_refused(email: str) -> None:
    data = body()
    data["buyerInfo"]["email"] = email

    assert paths(data) == ["buyerInfo.email"]


def test_malformed_optional_seller_email_is_refused() -> None:
    assert paths(body() | {"sellerInfo": {"email": "joe.bloggs@acme-seller"}}) == [
        "sellerInfo.email"
    ]


def test_malformed_cc_recipient_is_refused() -> None:
    data = body() | {"ccRecipients": ["cfo@acme.example", "cfo"]}

    assert paths(data) == ["ccRecipients[1]"]


def test_salary_needs_the_employee_email_not_the_employer_email() -> None:
    data = body()
    del data["buyerInfo"]["email"]

    assert paths(data, salary=True) == ["sellerInfo.email"]
    salary = validate_new_invoice(
        data | {"sellerInfo": {"email": "employee@acme.example"}}, salary=True
    )
    assert salary.meta == SALARY_META


def test_salary_gets_the_salary_meta_when_none_is_given() -> None:
    data = body() | {"sellerInfo": {"email": "employee@acme.example"}}
    struct = validate_new_invoice(data)

    assert validate_new_invoice(data, salary=True).meta == SALARY_META
    assert validate_new_invoice(struct, salary=True).meta == SALARY_META
    assert b'"meta":{"format":"rnf_salary","version":"0.0.3"}' in encode(
        validate_new_invoice(struct, salary=True)
    )


def test_salary_with_an_explicit_invoice_meta_is_refused() -> None:
    data = body() | {
        "sellerInfo": {"email": "employee@acme.example"},
        "meta": {"format": "rnf_invoice", "version": "0.0.3"},
    }

    assert refused(data, salary=True) == [("meta.format", "must be rnf_salary for a salary")]


def test_salary_meta_brings_the_salary_rules_without_the_flag() -> None:
    data = body() | {"meta": {"format": "rnf_salary", "version": "0.0.3"}}

    assert paths(data) == ["sellerInfo.email"]


@pytest.mark.parametrize(
    ("meta", "path"),
    [
        ({"format": "rnf_invoice", "version": "999999.0.0"}, "meta.version"),
        ({"format": "rnf_salary", "version": "0.0.1"}, "meta.version"),
        ({"format": "rnf_receipt", "version": "0.0.3"}, "meta.format"),
    ],
)
def test_unknown_meta_format_or_version_is_refused(meta: dict[str, str], path: str) -> None:
    employee = {"email": "employee@acme.example"}  # so that a salary meta has its employee

    assert paths(body() | {"meta": meta, "sellerInfo": employee}) == [path]


@pytest.mark.parametrize("country", ["USA", "XX", "", "U"])
def test_country_that_is_not_an_iso_alpha2_code_is_refused(country: str) -> None:
    data = body()
    data["buyerInfo"]["address"]["country"] = country

    assert paths(data) == ["buyerInfo.address.country"]


def test_lower_case_country_is_refused_with_the_upper_case_hint() -> None:
    data = body()
    data["buyerInfo"]["address"]["country"] = "fr"

    assert refused(data) == [("buyerInfo.address.country", "must be upper case: 'FR'")]


def test_due_date_before_creation_date_is_refused() -> None:
    data = body() | {"paymentTerms": {"dueDate": "2022-12-01T00:00:00Z"}}

    assert refused(data) == [("paymentTerms.dueDate", "must not be before creationDate")]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"creationDate": "2022-12-22T14:38:16"}, "creationDate"),
        ({"paymentTerms": {"dueDate": "2023-01-21T23:59:59"}}, "paymentTerms.dueDate"),
    ],
)
def test_naive_date_strings_are_refused(changes: dict[str, Any], path: str) -> None:
    assert paths(body() | changes) == [path]


def test_naive_datetimes_in_a_struct_are_refused() -> None:
    invoice = validate_new_invoice(body())
    item = msgspec.structs.replace(invoice.invoice_items[0], delivery_date=datetime(2023, 1, 1))
    naive = msgspec.structs.replace(
        invoice, creation_date=datetime(2022, 12, 22), invoice_items=[item]
    )

    assert paths(naive) == ["creationDate", "invoiceItems[0].deliveryDate"]


def test_unreadable_date_is_refused_at_its_path() -> None:
    errors = refused(body() | {"creationDate": "NOT A DATE"})

    assert errors == [
        ("creationDate", "must be an RFC 3339 date-time such as 2023-01-21T23:59:59Z")
    ]


def test_missing_payment_options_are_refused() -> None:
    data = body()
    del data["paymentOptions"]

    assert refused(data) == [("paymentOptions", "required")]


def test_empty_payment_options_are_refused() -> None:
    assert paths(body() | {"paymentOptions": []}) == ["paymentOptions"]


@pytest.mark.parametrize("info", [None, {}, {"paymentAddress": ""}, {"paymentAddress": " "}])
def test_wallet_without_payment_address_is_refused(info: dict[str, str] | None) -> None:
    data = body()
    value = data["paymentOptions"][0]["value"]
    if info is None:
        del value["paymentInformation"]
    else:
        value["paymentInformation"] = info

    assert paths(data) == ["paymentOptions[0].value.paymentInformation.paymentAddress"]


def test_wallet_without_currencies_is_refused() -> None:
    data = body()
    data["paymentOptions"][0]["value"]["currencies"] = []

    assert paths(data) == ["paymentOptions[0].value.currencies"]


@pytest.mark.parametrize("fee", ["1.5", "-1", 1])
def test_late_fees_fix_must_be_an_integer_string(fee: object) -> None:
    assert paths(body() | {"paymentTerms": {"lateFeesFix": fee}}) == ["paymentTerms.lateFeesFix"]


@pytest.mark.parametrize(
    "rule",
    [
        "DTSTART:20230314T085800Z RRULE:FREQ=MONTHLY;INTERVAL=1",
        "DTSTART:20230314T085800Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,-1FR,2TU;WKST=MO",
        "RRULE:FREQ=YEARLY;COUNT=3;BYMONTH=1,12;BYMONTHDAY=-1",
        "RRULE:FREQ=DAILY;UNTIL=20240101T000000Z",
        "RRULE:FREQ=DAILY;UNTIL=20240101",
    ],
)
def test_well_formed_recurring_rules_are_accepted(rule: str) -> None:
    assert recurring_rule_problems(rule) == []
    assert validate_new_invoice(body() | {"recurringRule": rule}).recurring_rule == rule


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("RRULE:INTERVAL=1", "FREQ is required"),
        ("RRULE:FREQ=FORTNIGHTLY", "FREQ must be one of"),
        ("RRULE:FREQ=MONTHLY;INTERVAL=0", "INTERVAL must be a positive integer"),
        ("RRULE:FREQ=MONTHLY;COUNT=-1", "COUNT must be a positive integer"),
        ("RRULE:FREQ=MONTHLY;COUNT=2;UNTIL=20240101", "COUNT and UNTIL cannot both be given"),
        ("RRULE:FREQ=MONTHLY;UNTIL=2024-01-01", "UNTIL must be"),
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", "BYDAY must be"),
        ("RRULE:FREQ=WEEKLY;BYDAY=0MO", "BYDAY must be"),
        ("RRULE:FREQ=YEARLY;BYMONTH=13", "BYMONTH must be"),
        ("RRULE:FREQ=MONTHLY;COLOR=RED", "COLOR is not an RRULE part"),
        ("RRULE:FREQ=MONTHLY;FREQ=DAILY", "FREQ is given twice"),
        ("RRULE:FREQ", "'FREQ' is not KEY=VALUE"),
        ("FREQ=MONTHLY", "must read"),
        ("DTSTART:2023-03-14 RRULE:FREQ=MONTHLY", "DTSTART must be"),
        ("DTSTART:20231314T085800Z RRULE:FREQ=MONTHLY", "DTSTART must be"),
    ],
)
def test_malformed_recurring_rule_is_refused(rule: str, problem: str) -> None:
    errors = refused(body() | {"recurringRule": rule})

    assert {path for path, _ in errors} == {"recurringRule"}
    assert any(text.startswith(problem) for _, text in errors), errors


def test_each_recurring_rule_problem_is_listed() -> None:
    problems = recurring_rule_problems("RRULE:COUNT=0;UNTIL=x")

    assert len(problems) == 4  # COUNT, UNTIL, no FREQ, both COUNT and UNTIL


# --- reporting ------------------------------------------------------------------------------


def test_several_problems_are_reported_together() -> None:
    data = body()
    del data["paymentOptions"]
    data["buyerInfo"]["email"] = "not-an-email"
    data["buyerInfo"]["address"]["country"] = "USA"
    data["buyerInfo"]["fax"] = "+1 555"
    data["invoiceItems"][0]["unitPrice"] = 99.99
    data["invoiceItems"].append({"currency": "USD", "quantity": 1, "unitPrice": "1.5"})

    with pytest.raises(InvoiceValidationError) as info:
        validate_new_invoice(data)

    assert sorted(info.value.fields) == sorted(
        [
            "buyerInfo.fax",
            "invoiceItems[0].unitPrice",
            "paymentOptions",
            "invoiceItems[1].unitPrice",
            "buyerInfo.email",
            "buyerInfo.address.country",
        ]
    )
    assert info.value.field == info.value.errors[0][0]
    assert "invoiceItems[1].unitPrice" in str(info.value)


def test_an_item_that_is_not_an_object_does_not_hide_other_problems() -> None:
    data = body()
    data["invoiceItems"].append("a television")
    data["buyerInfo"]["email"] = "nope"

    assert paths(data) == ["invoiceItems[1]", "buyerInfo.email"]


def test_null_for_a_field_with_a_default_means_the_default() -> None:
    assert validate_new_invoice(body() | {"meta": None}).meta == Meta()
    assert validate_new_client({"email": "a@b.co", "contactType": None}).contact_type == [
        "customer"
    ]


def test_struct_input_is_reported_with_wire_paths() -> None:
    invoice = validate_new_invoice(body())
    bad = msgspec.structs.replace(
        invoice,
        buyer_info=PartyInfo(email="nope"),
        invoice_items=[InvoiceItem(currency="USD", quantity=1, unit_price="99.99")],
    )

    assert paths(bad) == ["invoiceItems[0].unitPrice", "buyerInfo.email"]


def test_validation_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"invoiceNumber: required"):
        validate_new_invoice({})


def test_input_that_is_neither_a_struct_nor_a_mapping_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        validate_new_invoice([("invoiceNumber", "1")])  # type: ignore[arg-type]


def test_the_input_mapping_is_left_untouched() -> None:
    data = body() | {"sellerInfo": {"email": "employee@acme.example"}}
    kept = copy.deepcopy(data)

    validate_new_invoice(data, salary=True)

    assert data == kept


# --- the Request Network's own test vectors -------------------------------------------------


def rnf_vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RNF / name).read_text())
    return data


def test_official_valid_vector_encodes_to_content_the_official_schema_accepts() -> None:
    content = rnf_vector("example-valid-0.0.3.json")
    schema = json.loads((RNF / "rnf_invoice-0.0.3.json").read_text())
    address = json.loads((RNF / "address.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        "http://json-schema.org/address", Resource.from_contents(address)
    )
    validator = jsonschema.Draft7Validator(
        schema, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )

    invoice = validate_new_invoice(content | {"paymentOptions": [WALLET]})
    sent = json.loads(encode(invoice))
    # paymentOptions belongs to the API, not to the on-chain content.
    del sent["paymentOptions"]

    assert [e.message for e in validator.iter_errors(sent)] == []
    assert invoice.total() == 1541


def test_official_invalid_vector_is_refused_at_its_unit_price() -> None:
    content = rnf_vector("example-invalid-0.0.3.json") | {"paymentOptions": [WALLET]}

    errors = refused(content)

    assert errors[0][0] == "invoiceItems[0].unitPrice"
    assert [path for path, _ in errors] == [
        "invoiceItems[0].unitPrice",
        "invoiceItems[0].discount",
        "invoiceItems[1].unitPrice",
        "paymentTerms.lateFeesFix",
    ]


# --- contacts -------------------------------------------------------------------------------


def test_new_client_is_valid_and_gets_the_customer_type() -> None:
    contact = validate_new_client({"email": "justin@acme.example", "businessName": "Acme"})

    assert contact == NewClientContact(email="justin@acme.example", business_name="Acme")
    assert contact.contact_type == ["customer"]
    assert validate_new_client(contact) == contact


def test_new_client_without_email_is_refused() -> None:
    with pytest.raises(InvoiceValidationError) as info:
        validate_new_client({"contactType": ["customer"]})

    assert info.value.errors == [("email", "required")]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"email": "justin"}, "email"),
        ({"email": "a@b.co", "contactType": []}, "contactType"),
        ({"email": "a@b.co", "contactType": ["customer", "friend"]}, "contactType[1]"),
        ({"email": "a@b.co", "contactType": "customer"}, "contactType"),
        ({"email": "a@b.co", "adress": {}}, "adress"),
        ({"email": "a@b.co", "address": {"country": "France"}}, "address.country"),
    ],
)
def test_malformed_new_client_is_refused(data: dict[str, Any], path: str) -> None:
    with pytest.raises(InvoiceValidationError) as info:
        validate_new_client(data)

    assert info.value.fields == [path]
