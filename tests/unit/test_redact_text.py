"""Secrets in free text: quoted pairs of any secret key, bare header lines, cut previews."""

from __future__ import annotations

import pytest

from reqfin_async._redact import REDACTED, redact_preview, redact_text
from reqfin_async.errors import status_error

SECRET = "SECRETVALUE0123456789abcdefghij"


@pytest.mark.parametrize(
    ("text", "key", "secret"),
    [
        ('{"apiKey": "ak-live-1", "name": "Acme"}', "apiKey", "ak-live-1"),
        ('{"api_key":"ak-live-2"}', "api_key", "ak-live-2"),
        ('{"password": "hunter2", "user": "ap@acme.example"}', "password", "hunter2"),
        ('{"webhookSecret": "whsec-4", "url": "https://a.example"}', "webhookSecret", "whsec-4"),
        ('{"code_verifier": "cv-5-abcdef"}', "code_verifier", "cv-5-abcdef"),
        (
            "{'client_secret': 'cs-6', 'grant_type': 'client_credentials'}",
            "client_secret",
            "cs-6",
        ),
        ("{'apiKey': 'ak-7'}", "apiKey", "ak-7"),
    ],
)
def test_a_quoted_pair_with_any_secret_key_is_hidden(text: str, key: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted
    assert key in redacted  # which field was hidden stays readable


def test_only_the_secret_value_is_replaced() -> None:
    text = '{"apiKey": "ak-live-1", "name": "Acme", "password": "pw"}'
    assert redact_text(text) == (
        f'{{"apiKey": "{REDACTED}", "name": "Acme", "password": "{REDACTED}"}}'
    )
    assert redact_text("{'client_secret': 'cs-6', 'grant_type': 'client_credentials'}") == (
        f"{{'client_secret': '{REDACTED}', 'grant_type': 'client_credentials'}}"
    )


@pytest.mark.parametrize(
    "text",
    [
        '{"code": "E12", "message": "invoice not found"}',
        "{'code': 'INVALID_CURRENCY', 'field': 'currency'}",
        '{"status": "open", "invoiceNumber": "13", "currency": "USD"}',
        '{"message": "the apiKey field is missing"}',
    ],
)
def test_error_codes_and_ordinary_fields_stay_readable(text: str) -> None:
    assert redact_text(text) == text


def test_a_bare_authorization_header_line_is_hidden() -> None:
    redacted = redact_text("Authorization: sk_live_123")
    assert "sk_live_123" not in redacted
    assert redacted == f"Authorization: {REDACTED}"


def test_a_header_line_hides_its_value_only() -> None:
    text = "GET /invoices\r\nauthorization: sk_live_123\r\nAccept: application/json"
    assert redact_text(text) == (
        f"GET /invoices\r\nauthorization: {REDACTED}\r\nAccept: application/json"
    )


# -- previews: redacted first, cut after --------------------------------------------------
def test_a_preview_hides_a_secret_whose_closing_quote_falls_past_the_cut() -> None:
    text = "x" * 280 + f'"access_token": "{SECRET}", "expires_in": 3600}}'
    # Cut first, the secret's first characters would stay, without their closing quote.
    assert text.index(SECRET) < 300 < text.index(SECRET) + len(SECRET)
    assert SECRET[:3] in redact_text(text[:300])
    preview = redact_preview(text, 300)
    assert SECRET[:3] not in preview
    assert len(preview) == 301
    assert preview.endswith("…")


def test_a_preview_of_short_text_is_only_redacted() -> None:
    assert redact_preview('{"apiKey": "k"}', 300) == f'{{"apiKey": "{REDACTED}"}}'
    assert redact_preview("plain", 3) == "pla…"
    assert redact_preview("", 10) == ""


# -- exception messages --------------------------------------------------------------------
def test_a_status_error_message_hides_secret_pairs_and_keeps_the_error_code() -> None:
    body = {
        "code": "E12",
        "message": "invalid key",
        "apiKey": "ak-live-1",
        "webhookSecret": "whsec-2",
    }
    error = status_error(
        method="POST", path="/webhooks", status_code=400, body=body, request_id="rq-1"
    )
    message = str(error)
    assert "ak-live-1" not in message
    assert "whsec-2" not in message
    assert "E12" in message
    assert "invalid key" in message
    assert error.body == body  # the data itself is left as the server sent it


def test_a_status_error_message_hides_a_secret_cut_by_the_preview() -> None:
    body = "x" * 285 + f'"apiKey": "{SECRET}"}}'
    assert body.index(SECRET) < 300 < body.index(SECRET) + len(SECRET)
    error = status_error(
        method="GET", path="/invoices", status_code=500, body=body, request_id=None
    )
    message = str(error)
    assert SECRET[:3] not in message
    assert message.endswith("…")


def test_a_status_error_message_hides_a_bare_authorization_line() -> None:
    error = status_error(
        method="GET",
        path="/invoices",
        status_code=401,
        body="rejected header\nAuthorization: sk_live_123\n",
        request_id=None,
    )
    assert "sk_live_123" not in str(error)
    assert "rejected header" in str(error)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"sessionToken": "st-1"}', "st-1"),  # names ending like a secret
        ('{"my_access_token": "x1-abc"}', "x1-abc"),
        ('{"db_password": "pw-2"}', "pw-2"),
        ('Authorization: "sk_live_1"', "sk_live_1"),  # a quoted header value
        ("authorization: 'abc-3'", "abc-3"),
        ('{"password": "don\'t-tell"}', "t-tell"),  # an apostrophe inside the value
        ('{"apiKey": "a\\"b-4"}', "b-4"),  # an escaped quote inside the value
        ("http://localhost:8080/api/v1?apikey=SECRET1&x=2", "SECRET1"),  # any secret name
        ("/hooks?bearer=SECRET2", "SECRET2"),
        ("http://user:SECRET3@collector.example/api", "SECRET3"),  # user-info password
    ],
)
def test_secrets_in_every_common_shape_are_hidden(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


def test_query_pairs_that_are_not_secrets_stay_readable() -> None:
    text = "/invoices?take=100&skip=0&status=open elapsed_ms=12"
    assert redact_text(text) == text
