"""The sandbox's own validation against the Request Network's schema test vectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reqfin_async.sandbox.validation import check_invoice
from tests.specbody import SPEC_BODY

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def vector(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((DATA / name).read_text())
    # The API adds what a payment needs to the content the schema describes.
    body["paymentOptions"] = SPEC_BODY["paymentOptions"]
    return body


def test_schema_valid_vector_is_accepted() -> None:
    errors, content = check_invoice(vector("example-valid-0.0.3.json"), now=NOW)
    assert errors == []
    # Free-text hCard countries are kept, but not echoed as a two-letter country.
    address = content["sellerInfo"]["address"]
    assert address["country-name"] == "France"
    assert "country" not in address
    assert address["city"] == "Paris"


def test_schema_invalid_vector_is_refused_field_by_field() -> None:
    errors, _ = check_invoice(vector("example-invalid-0.0.3.json"), now=NOW)
    assert {e["field"] for e in errors} == {
        "invoiceItems[0].unitPrice",
        "invoiceItems[0].discount",
        "invoiceItems[1].unitPrice",
        "paymentTerms.lateFeesFix",
    }


def test_missing_tax_defaults_to_a_zero_fixed_tax() -> None:
    body = json.loads(json.dumps(SPEC_BODY))
    del body["invoiceItems"][0]["tax"]
    errors, content = check_invoice(body, now=NOW)
    assert errors == []
    assert content["invoiceItems"][0]["tax"] == {"type": "fixed", "amount": "0"}


def test_null_optional_fields_count_as_absent() -> None:
    body = json.loads(json.dumps(SPEC_BODY)) | {"note": None, "tags": None}
    errors, content = check_invoice(body, now=NOW)
    assert errors == []
    assert "note" not in content
    assert "tags" not in content


def test_unknown_properties_are_refused() -> None:
    body = json.loads(json.dumps(SPEC_BODY)) | {"invoice_number": "13"}
    errors, _ = check_invoice(body, now=NOW)
    assert [e["field"] for e in errors] == ["invoice_number"]


def test_payment_currency_must_be_known_and_on_its_chain() -> None:
    body = json.loads(json.dumps(SPEC_BODY))
    body["paymentOptions"][0]["value"]["currencies"] = ["DOGE-moon"]
    errors, _ = check_invoice(body, now=NOW)
    assert [e["field"] for e in errors] == ["paymentOptions[0].value.currencies[0]"]
    body["paymentOptions"][0]["value"]["currencies"] = ["FAU-sepolia"]
    errors, _ = check_invoice(body, now=NOW)
    assert [e["field"] for e in errors] == ["paymentOptions[0].value.paymentInformation.chain"]
