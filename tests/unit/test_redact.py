"""One place decides what a secret looks like: URLs, free text, key-value data."""

from __future__ import annotations

import pytest

from reqfin_async._redact import (
    REDACTED,
    is_secret_key,
    redact_mapping,
    redact_text,
    redact_url,
    redact_value,
)

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl-_x"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/pay?token=abc123", "/pay?token=[redacted]"),
        (
            "https://pay.request.finance/01ab?token=abc123&enablePayment=true",
            "https://pay.request.finance/01ab?token=[redacted]&enablePayment=true",
        ),
        ("/cb?code=one-time&state=xyz", "/cb?code=[redacted]&state=xyz"),
        (
            "/t?refresh_token=r&access_token=a",
            "/t?refresh_token=[redacted]&access_token=[redacted]",
        ),
        (
            "/t?client_secret=s&code_verifier=v",
            "/t?client_secret=[redacted]&code_verifier=[redacted]",
        ),
        ("/invoices?search=13&take=100", "/invoices?search=13&take=100"),
        ("/invoices/inv-1", "/invoices/inv-1"),
    ],
)
def test_redact_url_hides_secret_query_values_only(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_query_names_that_merely_end_like_a_secret_are_kept() -> None:
    assert redact_url("/x?country_code=US&zipcode=10038") == "/x?country_code=US&zipcode=10038"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        (f"bearer {JWT}", JWT),
        ('{"access_token": "at-123", "expires_in": 3600}', "at-123"),
        ("{'refresh_token': 'rt-456', 'scope': 'openid'}", "rt-456"),
        ('{"clientSecret":"cs-789"}', "cs-789"),
        ('{"accessToken": "at-abc"}', "at-abc"),
        ("client_secret=cs-1&grant_type=client_credentials", "cs-1"),
        ("GET /pay?token=pay-tok failed", "pay-tok"),
    ],
)
def test_redact_text_hides_every_shape_of_secret(text: str, secret: str) -> None:
    redacted = redact_text(text)
    assert secret not in redacted
    assert REDACTED in redacted


def test_redact_text_keeps_what_is_not_secret() -> None:
    text = "GET /invoices/inv-1 -> 404 Not Found: {'message': 'no invoice 13', 'expires_in': 5}"
    assert redact_text(text) == text
    assert redact_text("") == ""


@pytest.mark.parametrize(
    "key",
    [
        "Authorization",
        "authorization",
        "client_secret",
        "client-secret",
        "clientSecret",
        "refresh_token",
        "accessToken",
        "code_verifier",
        "X-Webhook-Signature",
        "api_key",
        "token",
    ],
)
def test_secret_keys_are_recognised_in_any_spelling(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["invoiceNumber", "status", "request_id", "X-Request-Id", "method"])
def test_ordinary_keys_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_mapping_walks_nested_data() -> None:
    data = {
        "headers": {"Authorization": "the-api-key", "Accept": "application/json"},
        "items": [{"token": "t-1"}, "Bearer abc.def"],
        "url": "https://pay.example/x?token=t-2",
        "client_secret": "cs",
        "status": 200,
        "pair": ("refresh_token=rt", "plain"),
    }
    assert redact_mapping(data) == {
        "headers": {"Authorization": REDACTED, "Accept": "application/json"},
        "items": [{"token": REDACTED}, f"Bearer {REDACTED}"],
        "url": f"https://pay.example/x?token={REDACTED}",
        "client_secret": REDACTED,
        "status": 200,
        "pair": (f"refresh_token={REDACTED}", "plain"),
    }


def test_an_absent_secret_is_not_disguised_as_a_present_one() -> None:
    assert redact_value("refresh_token", None) is None
    assert redact_value("refresh_token", "") == ""
    assert redact_value("refresh_token", "rt") == REDACTED
