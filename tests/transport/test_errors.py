"""What a failed call raises when a real server answers: the class, the body, the request id."""

from __future__ import annotations

import pytest

from reqfin_async import (
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from tests.fakeapi import FakeAPI, Handler, client_for, reply, text_reply


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
async def test_each_status_raises_its_error_class(
    fake_api: FakeAPI, status: int, error_type: type[APIStatusError]
) -> None:
    body = {"message": "no", "status": status}
    fake_api.add(
        "GET", "/invoices/{id}", reply(body, status=status, headers={"x-request-id": "r1"})
    )
    async with client_for(fake_api, retry=0) as client:
        with pytest.raises(APIStatusError) as info:
            await client.invoices.get("inv-7")
    error = info.value
    assert type(error) is error_type
    assert error.status_code == status
    assert error.body == body
    assert error.request_id == "r1"
    assert error.method == "GET"
    assert error.path == "/invoices/inv-7"


async def test_the_error_message_names_the_call_status_request_id_and_body(
    fake_api: FakeAPI,
) -> None:
    fake_api.add(
        "GET",
        "/invoices/{id}",
        reply({"message": "Invoice not found"}, status=404, headers={"X-Request-Id": "req-123"}),
    )
    async with client_for(fake_api) as client:
        with pytest.raises(NotFoundError) as info:
            await client.invoices.get("nope")
    assert str(info.value) == (
        "GET /invoices/nope -> 404 Not Found (request id req-123): {'message': 'Invoice not found'}"
    )


async def test_a_text_body_is_kept_as_text(fake_api: FakeAPI) -> None:
    page = "<html><body>Bad Gateway</body></html>"
    fake_api.add("GET", "/invoices/{id}", text_reply(page, status=502, content_type="text/html"))
    async with client_for(fake_api, retry=0) as client:
        with pytest.raises(InternalServerError) as info:
            await client.invoices.get("inv-1")
    assert info.value.body == page
    assert info.value.request_id is None
    assert str(info.value) == f"GET /invoices/inv-1 -> 502 Bad Gateway: {page}"


async def test_an_empty_error_body_reads_as_none(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/invoices/{id}/changes", reply(403))
    async with client_for(fake_api) as client:
        with pytest.raises(PermissionDeniedError) as info:
            await client.invoices.accept("inv-1")
    assert info.value.body is None
    assert str(info.value) == "POST /invoices/inv-1/changes -> 403 Forbidden"


async def test_a_429_carries_its_retry_after(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(429, headers={"Retry-After": "7"}))
    async with client_for(fake_api, retry=0) as client:
        with pytest.raises(RateLimitError) as info:
            await client.invoices.get("inv-1")
    assert info.value.retry_after == 7.0


async def test_a_secret_query_value_never_reaches_the_error(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/pay", reply({"message": "expired link"}, status=404))
    async with client_for(fake_api) as client:
        with pytest.raises(NotFoundError) as info:
            await client.transport.request(
                "GET", "/pay?token=s3cr3t-pay-token", options=client.options
            )
    assert fake_api.requests[0].query["token"] == "s3cr3t-pay-token"
    assert "s3cr3t-pay-token" not in str(info.value)
    assert "s3cr3t-pay-token" not in repr(info.value)
    assert info.value.path == "/pay?token=[redacted]"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(reply([{"id": "inv-1"}]), id="a list"),
        pytest.param(reply({"status": "open"}), id="no id"),
        pytest.param(reply({"id": 42}), id="id of the wrong type"),
        pytest.param(text_reply("OK"), id="not json"),
        pytest.param(reply(204), id="no body"),
    ],
)
async def test_a_success_of_the_wrong_shape_raises_a_validation_error(
    fake_api: FakeAPI, answer: Handler
) -> None:
    fake_api.add("GET", "/invoices/{id}", answer)
    async with client_for(fake_api) as client:
        with pytest.raises(APIResponseValidationError) as info:
            await client.invoices.get("inv-1")
    assert info.value.method == "GET"
    assert info.value.path == "/invoices/inv-1"
    assert str(info.value).startswith("GET /invoices/inv-1: unexpected response")
    assert len(fake_api.requests) == 1


async def test_the_validation_error_names_the_request_id(fake_api: FakeAPI) -> None:
    fake_api.add(
        "GET", "/users", reply({"email": "x@acme.example"}, headers={"X-Request-Id": "q9"})
    )
    async with client_for(fake_api) as client:
        with pytest.raises(APIResponseValidationError) as info:
            await client.organizations.current_user()
    assert info.value.request_id == "q9"
    assert str(info.value) == (
        "GET /users: unexpected response (request id q9): Object missing required field `id`"
    )


async def test_an_unreadable_paginated_page_raises_a_validation_error(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices", reply({"invoices": [{"id": 1}], "total": 1}))
    async with client_for(fake_api) as client:
        with pytest.raises(APIResponseValidationError):
            await client.invoices.page()
