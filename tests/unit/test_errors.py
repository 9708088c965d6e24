"""The exception tree: which class a status gets, what each error carries, how it reads."""

from __future__ import annotations

import pytest

from reqfin_async import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChangeNotAllowedError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    InvoiceValidationError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestFinanceError,
    WebhookSignatureError,
)
from reqfin_async._http.transport import decode_body
from reqfin_async.errors import status_error


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (422, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, InternalServerError),
        (501, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (599, InternalServerError),
        (405, APIStatusError),
        (408, APIStatusError),
    ],
)
def test_status_error_picks_the_class_named_by_the_status(
    status: int, error_type: type[APIStatusError]
) -> None:
    error = status_error(
        method="GET", path="/invoices/1", status_code=status, body=None, request_id=None
    )
    assert type(error) is error_type
    assert error.status_code == status


def test_the_tree_has_one_base() -> None:
    for error_type in (
        ClientClosedError,
        APIError,
        APIConnectionError,
        APITimeoutError,
        APIStatusError,
        APIResponseValidationError,
        PaginationError,
        InvoiceValidationError,
        ChangeNotAllowedError,
        WebhookSignatureError,
    ):
        assert issubclass(error_type, RequestFinanceError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(InvoiceValidationError, ValueError)
    assert issubclass(ChangeNotAllowedError, ValueError)
    for status_type in (BadRequestError, RateLimitError, InternalServerError, NotFoundError):
        assert issubclass(status_type, APIStatusError)
        assert issubclass(status_type, APIError)


def test_a_status_error_reads_well_and_keeps_its_parts() -> None:
    error = status_error(
        method="POST",
        path="/invoices",
        status_code=400,
        body={"message": ["invoiceItems.0.unitPrice must be a string"]},
        request_id="req-1",
        reason="Bad Request",
    )
    assert str(error) == (
        "POST /invoices -> 400 Bad Request (request id req-1): "
        "{'message': ['invoiceItems.0.unitPrice must be a string']}"
    )
    assert (error.method, error.path, error.request_id) == ("POST", "/invoices", "req-1")
    assert repr(error) == (
        "BadRequestError(method='POST', path='/invoices', status_code=400, request_id='req-1')"
    )


def test_a_status_error_without_body_or_request_id_is_just_the_head() -> None:
    error = status_error(
        method="GET", path="/users", status_code=404, body=None, request_id=None, reason=None
    )
    assert str(error) == "GET /users -> 404"


def test_a_long_body_is_cut_in_the_message_but_kept_whole() -> None:
    body = "x" * 1000
    error = status_error(method="GET", path="/a", status_code=500, body=body, request_id=None)
    assert error.body == body
    assert str(error) == "GET /a -> 500: " + "x" * 300 + "…"


def test_secrets_in_the_path_and_the_body_stay_out_of_the_message() -> None:
    error = status_error(
        method="GET",
        path="/pay?token=pay-secret",
        status_code=401,
        body={"error": "invalid_token", "access_token": "at-secret"},
        request_id=None,
    )
    assert error.path == "/pay?token=[redacted]"
    for shown in (str(error), repr(error)):
        assert "pay-secret" not in shown
        assert "at-secret" not in shown


def test_rate_limit_error_carries_retry_after() -> None:
    error = status_error(
        method="GET", path="/invoices", status_code=429, body=None, request_id=None, retry_after=3.5
    )
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3.5


def test_authentication_error_reads_the_oauth_error_code_from_the_body() -> None:
    error = AuthenticationError(
        method="POST",
        path="https://auth.request.finance/oauth/token",
        status_code=403,
        body={"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."},
    )
    assert error.oauth_error == "invalid_grant"
    assert AuthenticationError(method="GET", path="/", status_code=401).oauth_error is None
    explicit = AuthenticationError(method="GET", path="/", status_code=401, oauth_error="x")
    assert explicit.oauth_error == "x"


def test_bad_request_error_lists_the_fields_the_server_named() -> None:
    error = BadRequestError(
        method="POST",
        path="/invoices",
        status_code=422,
        body={"errors": [{"field": "invoiceNumber"}, {"path": "buyerInfo.email"}, "meta"]},
    )
    assert error.fields == ["invoiceNumber", "buyerInfo.email", "meta"]
    assert BadRequestError(method="POST", path="/", status_code=400, body="nope").fields == []


def test_connection_and_timeout_errors_read_well() -> None:
    refused = APIConnectionError(
        method="GET", path="/invoices", message="cannot connect: refused", refused=True
    )
    assert str(refused) == "GET /invoices: cannot connect: refused"
    assert refused.refused
    timeout = APITimeoutError(method="POST", path="/invoices", timeout_s=2.5)
    assert str(timeout) == "POST /invoices: timed out after 2.5 s"
    assert not timeout.refused
    assert str(APITimeoutError(method="GET", path="/x")) == "GET /x: timed out"


def test_response_validation_error_reads_well() -> None:
    error = APIResponseValidationError(
        method="GET", path="/invoices/1", problem="Expected `object`, got `array`", request_id="r"
    )
    assert str(error) == (
        "GET /invoices/1: unexpected response (request id r): Expected `object`, got `array`"
    )


def test_invoice_validation_error_names_every_field() -> None:
    error = InvoiceValidationError(
        [("invoiceItems[0].unitPrice", "must be a string"), ("buyerInfo.email", "is not valid")]
    )
    assert error.field == "invoiceItems[0].unitPrice"
    assert error.fields == ["invoiceItems[0].unitPrice", "buyerInfo.email"]
    assert str(error) == (
        "invoiceItems[0].unitPrice: must be a string; buyerInfo.email: is not valid"
    )
    with pytest.raises(ValueError, match="at least one error"):
        InvoiceValidationError([])


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b'{"message": "no"}', "application/json", {"message": "no"}),
        (b"[1, 2]", "text/plain", [1, 2]),
        (b"<html>oops</html>", "text/html", "<html>oops</html>"),
        (b"{not json", "application/json", "{not json"),
        (b"", "application/json", None),
        (b"Internal server error", None, "Internal server error"),
    ],
)
def test_error_bodies_decode_as_json_else_text(
    content: bytes, content_type: str | None, expected: object
) -> None:
    assert decode_body(content, content_type) == expected
