"""parse_webhook: the signature first, then a typed event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reqfin_async import InvoiceStatus, WebhookSignatureError
from reqfin_async.webhooks import (
    WebhookEventType,
    WebhookPayloadError,
    parse_webhook,
    sign_webhook,
    verify_webhook_signature,
)

SECRET = "whsec-test"
INVOICE = json.loads((Path(__file__).parent.parent / "fixtures" / "invoice_get.json").read_text())


def body(**overrides: Any) -> bytes:
    payload = {
        "variant": "rnf_invoice",
        "event": "paid",
        "timestamp": 1_700_000_000_123,
        "invoice": {**INVOICE, "status": "paid"},
    }
    payload.update(overrides)
    return json.dumps(payload).encode()


def test_a_signed_event_decodes_to_typed_fields() -> None:
    raw = body()
    event = parse_webhook(raw, sign_webhook(raw, SECRET), SECRET)
    assert event.variant == "rnf_invoice"
    assert event.event is WebhookEventType.PAID
    assert event.timestamp == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert event.invoice.status is InvoiceStatus.PAID
    assert event.invoice.request_id == INVOICE["requestId"]


def test_the_older_iso_timestamp_form_decodes_to_an_aware_datetime() -> None:
    raw = body(timestamp="2023-02-20T04:28:12.000Z")
    event = parse_webhook(raw, sign_webhook(raw, SECRET), SECRET)
    assert event.timestamp == datetime(2023, 2, 20, 4, 28, 12, tzinfo=UTC)
    assert event.timestamp.tzinfo is not None


def test_the_signature_is_lowercase_hex_hmac_sha256_of_the_raw_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign_webhook(b"what do ya want for nothing?", "Jefe") == expected


def test_a_tampered_body_is_refused() -> None:
    raw = body()
    signature = sign_webhook(raw, SECRET)
    tampered = raw.replace(b'"paid"', b'"open"', 1)
    with pytest.raises(WebhookSignatureError, match="does not match"):
        parse_webhook(tampered, signature, SECRET)


def test_a_missing_signature_is_refused() -> None:
    with pytest.raises(WebhookSignatureError, match="missing"):
        parse_webhook(body(), None, SECRET)
    with pytest.raises(WebhookSignatureError, match="missing"):
        parse_webhook(body(), "", SECRET)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    raw = body()
    with pytest.raises(WebhookSignatureError):
        parse_webhook(raw, sign_webhook(raw, "someone-else"), SECRET)


def test_an_upper_case_signature_is_accepted() -> None:
    raw = body()
    event = parse_webhook(raw, sign_webhook(raw, SECRET).upper(), SECRET)
    assert event.event is WebhookEventType.PAID


def test_during_a_secret_rotation_both_secrets_are_accepted() -> None:
    raw = body()
    for secret in ("old-secret", "new-secret"):
        event = parse_webhook(raw, sign_webhook(raw, secret), ["old-secret", "new-secret"])
        assert event.variant == "rnf_invoice"


def test_an_empty_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        verify_webhook_signature(b"x", "ab", "")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"variant": "rnf_invoice"}',
        json.dumps({"variant": "rnf_invoice", "event": "paid", "timestamp": 1}).encode(),
        json.dumps(
            {
                "variant": "rnf_invoice",
                "event": "paid",
                "timestamp": "yesterday",
                "invoice": INVOICE,
            }
        ).encode(),
    ],
)
def test_a_signed_body_that_is_not_an_event_raises_a_payload_error(raw: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        parse_webhook(raw, sign_webhook(raw, SECRET), SECRET)


def test_an_unknown_event_type_decodes_for_forward_compatibility() -> None:
    raw = body(event="refunded")
    event = parse_webhook(raw, sign_webhook(raw, SECRET), SECRET)
    assert event.event.value == "refunded"
    assert not event.event.is_known


def test_the_secret_never_appears_in_the_error() -> None:
    raw = body()
    with pytest.raises(WebhookSignatureError) as info:
        parse_webhook(raw, "00" * 32, SECRET)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)
