"""InvoiceCollectorClient against the sandbox: every operation, errors, checks, retries."""

from __future__ import annotations

import aiohttp
import pytest

from reqfin_async import RetryPolicy
from reqfin_async.collector import (
    CollectorAuthenticationError,
    CollectorBadRequestError,
    CollectorNotFoundError,
    CollectorServerError,
    CollectorStatusError,
    Customer,
    InvoiceCollectorClient,
)
from reqfin_async.errors import (
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    InternalServerError,
    InvoiceValidationError,
    NotFoundError,
)
from reqfin_async.sandbox.collector import CollectorSandbox

from .conftest import user_with_collector


def quick_retries(attempts: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, backoff_base_s=0.01)


# -- operations ----------------------------------------------------------------------------
async def test_get_customer_reads_name_and_callback(client: InvoiceCollectorClient) -> None:
    customer = await client.get_customer()
    # The sandbox also sends an "id" the document does not show: unknown fields are skipped.
    assert customer == Customer(name="default", callback=None)


async def test_update_customer_sets_the_callback_and_the_name(
    client: InvoiceCollectorClient, server: CollectorSandbox
) -> None:
    await client.update_customer(callback="https://erp.example/cb", name="Acme")
    assert await client.get_customer() == Customer(name="Acme", callback="https://erp.example/cb")
    assert server.callback == "https://erp.example/cb"


async def test_create_user_token_creates_the_user_once_and_a_new_token_each_time(
    client: InvoiceCollectorClient, server: CollectorSandbox
) -> None:
    first = await client.create_user_token(email="ann@acme.example", locale="fr", remote_id="A1")
    second = await client.create_user_token(email="ann@acme.example", locale="fr", remote_id="A1")
    assert list(server.users) == ["A1"]
    assert server.users["A1"].locale == "fr"
    assert first.token != second.token
    assert first.remote_id == "A1"
    assert first.expires_at.tzinfo is not None


async def test_ui_url_keeps_the_path_prefix_and_opens_the_users_page(
    client: InvoiceCollectorClient, server: CollectorSandbox
) -> None:
    token = await client.create_user_token(email="ann@acme.example", remote_id="A1")
    url = client.ui_url(token)
    assert url == f"{server.url}/ui?token={token.token}"
    assert client.ui_url(token.token) == url
    async with aiohttp.ClientSession() as http, http.get(url) as page:
        assert page.status == 200
        assert "Your collectors" in await page.text()


async def test_ui_url_needs_a_token(client: InvoiceCollectorClient) -> None:
    with pytest.raises(ValueError, match="user token"):
        client.ui_url("")


async def test_delete_user_removes_it_and_an_unknown_one_is_a_bad_request(
    client: InvoiceCollectorClient, server: CollectorSandbox
) -> None:
    await user_with_collector(client, server, "A1")
    await client.delete_user(remote_id="A1")
    assert server.users == {}
    with pytest.raises(CollectorBadRequestError) as caught:
        await client.delete_user(remote_id="A1")
    assert caught.value.message == 'User with remote_id "A1" not found.'
    assert isinstance(caught.value, BadRequestError)


async def test_test_callback_without_a_callback_keeps_the_servers_message(
    client: InvoiceCollectorClient,
) -> None:
    with pytest.raises(CollectorBadRequestError, match="Callback URL not defined"):
        await client.test_callback()


# -- errors ----------------------------------------------------------------------------------
async def test_a_wrong_bearer_is_an_authentication_error_with_the_message(
    server: CollectorSandbox,
) -> None:
    async with InvoiceCollectorClient(server.url, "not-the-bearer") as ic:
        with pytest.raises(CollectorAuthenticationError) as caught:
            await ic.get_customer()
    assert isinstance(caught.value, AuthenticationError)
    assert caught.value.status_code == 401
    assert caught.value.message == "Invalid bearer."
    assert str(caught.value) == "GET /customer -> 401 Unauthorized: Invalid bearer."


async def test_an_unknown_route_keeps_the_reason(server: CollectorSandbox) -> None:
    # A server without the /api/v1 prefix: every route is unknown.
    async with InvoiceCollectorClient(server.origin, server.bearer) as ic:
        with pytest.raises(CollectorNotFoundError) as caught:
            await ic.get_customer()
    assert isinstance(caught.value, NotFoundError)
    assert caught.value.message == "Endpoint not found"
    assert caught.value.body == {"type": "error", "reason": "Endpoint not found"}


async def test_a_500_text_body_becomes_the_message_after_the_retries(
    server: CollectorSandbox,
) -> None:
    server.fail_next(10)
    async with InvoiceCollectorClient(server.url, server.bearer, retry=quick_retries(2)) as ic:
        with pytest.raises(CollectorServerError) as caught:
            await ic.get_customer()
    assert isinstance(caught.value, InternalServerError)
    assert caught.value.message == "Internal server error"
    assert ic.stats.requests == 2


async def test_a_get_is_retried_through_a_failing_server(server: CollectorSandbox) -> None:
    server.fail_next(2)
    async with InvoiceCollectorClient(server.url, server.bearer, retry=quick_retries(4)) as ic:
        customer = await ic.get_customer()
    assert customer.name == "default"
    assert ic.stats.requests == 3
    assert ic.stats.retries == 2


async def test_a_user_creation_is_retried_too(server: CollectorSandbox) -> None:
    server.fail_next(1)
    async with InvoiceCollectorClient(server.url, server.bearer, retry=quick_retries(3)) as ic:
        await ic.create_user_token(email="ann@acme.example", remote_id="A1")
    assert list(server.users) == ["A1"]


def test_the_html_page_of_malformed_json_gives_its_first_line() -> None:
    from reqfin_async.collector.errors import server_message

    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head><title>Error</title></head>\n<body>\n'
        "<pre>SyntaxError: Unexpected token } in JSON at position 12<br> &nbsp; &nbsp;"
        "at JSON.parse (&lt;anonymous&gt;)</pre>\n</body>\n</html>\n"
    )
    assert server_message(page) == "SyntaxError: Unexpected token } in JSON at position 12"
    assert server_message({"type": "error", "message": "m"}) == "m"
    assert server_message("Internal server error") == "Internal server error"
    assert server_message(None) is None


# -- checks before sending -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("email", "locale", "remote_id", "fields"),
    [
        ("not-an-email", "en", "A1", ["email"]),
        ("ann@acme.example", "de", "A1", ["locale"]),
        ("ann@acme.example", "en", "A 1", ["remote_id"]),
        ("ann@acme.example", "en", "", ["remote_id"]),
        ("nope", "es", "has space", ["email", "locale", "remote_id"]),
    ],
)
async def test_create_user_token_refuses_bad_input_before_sending(
    client: InvoiceCollectorClient,
    server: CollectorSandbox,
    email: str,
    locale: str,
    remote_id: str,
    fields: list[str],
) -> None:
    before = server.request_count
    with pytest.raises(InvoiceValidationError) as caught:
        await client.create_user_token(email=email, locale=locale, remote_id=remote_id)  # type: ignore[arg-type]
    assert caught.value.fields == fields
    assert server.request_count == before


@pytest.mark.parametrize(
    "callback", ["erp.example/cb", "ftp://erp.example/cb", "/relative", "https://", ""]
)
async def test_update_customer_refuses_a_callback_that_is_not_an_absolute_http_url(
    client: InvoiceCollectorClient, server: CollectorSandbox, callback: str
) -> None:
    before = server.request_count
    with pytest.raises(InvoiceValidationError, match="callback"):
        await client.update_customer(callback=callback)
    assert server.request_count == before


async def test_delete_user_refuses_a_remote_id_with_spaces_before_sending(
    client: InvoiceCollectorClient, server: CollectorSandbox
) -> None:
    before = server.request_count
    with pytest.raises(InvoiceValidationError, match="spaces"):
        await client.delete_user(remote_id="A 1")
    assert server.request_count == before


# -- construction and lifecycle ----------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["http://collector.example/api/v1", "http://8.8.8.8:8080/api/v1", "ftp://localhost/api"],
)
def test_plain_http_is_refused_for_a_public_host(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        InvoiceCollectorClient(url, "b")


@pytest.mark.parametrize(
    "url", ["http://invoice-collector:8080/api/v1", "http://10.0.0.7:8080/api/v1"]
)
def test_allow_insecure_http_accepts_a_private_host(url: str) -> None:
    assert InvoiceCollectorClient(url, "b", allow_insecure_http=True).base_url == url


def test_allow_insecure_http_still_refuses_a_public_address() -> None:
    with pytest.raises(ValueError, match="public address"):
        InvoiceCollectorClient("http://8.8.8.8/api/v1", "b", allow_insecure_http=True)


@pytest.mark.parametrize("bearer", ["", "  ", "Bearer abc"])
def test_a_bearer_must_be_the_bare_token(bearer: str) -> None:
    with pytest.raises(ValueError, match="bearer"):
        InvoiceCollectorClient("http://localhost:8080/api/v1", bearer)


async def test_a_closed_client_refuses_calls(server: CollectorSandbox) -> None:
    ic = InvoiceCollectorClient(server.url, server.bearer)
    async with ic:
        await ic.get_customer()
    assert ic.closed
    with pytest.raises(ClientClosedError, match="InvoiceCollectorClient is closed"):
        await ic.get_customer()
    await ic.aclose()  # idempotent


async def test_a_session_given_by_the_caller_is_used_and_left_open(
    server: CollectorSandbox,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with InvoiceCollectorClient(server.url, server.bearer, session=session) as ic:
            await ic.get_customer()
        assert not session.closed


async def test_status_errors_share_one_collector_base(client: InvoiceCollectorClient) -> None:
    with pytest.raises(CollectorStatusError):
        await client.delete_user(remote_id="nobody")
