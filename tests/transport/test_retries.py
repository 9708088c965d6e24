"""Which failures are retried, how often, how long the client waits, and what it sends again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anyio
import pytest

from reqfin_async import (
    APIConnectionError,
    ApiKeyAuth,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestFinanceClient,
    RetryPolicy,
)
from tests.fakeapi import (
    FAST_RETRY,
    FakeAPI,
    client_for,
    delayed,
    drop_connection,
    free_port,
    invoice_json,
    reply,
)

INVOICE = invoice_json("inv-1")
CONTACT = {"email": "ap@acme.example", "contactType": ["customer"]}
ERROR_BODY = {"message": "something broke", "code": "E42"}


def _sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace ``anyio.sleep`` by a recorder that does not wait."""
    asked: list[float] = []

    async def fake_sleep(delay: float) -> None:
        asked.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    return asked


# -- GET: every transient failure is retried -----------------------------------------------
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_get_is_retried_after_a_transient_status(fake_api: FakeAPI, status: int) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(status), reply(status), reply(INVOICE))
    async with client_for(fake_api) as client:
        invoice = await client.invoices.get("inv-1")
    assert invoice.id == "inv-1"
    assert len(fake_api.requests) == 3


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (408, APIStatusError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
    ],
)
async def test_get_gives_up_after_max_attempts_with_the_typed_error(
    fake_api: FakeAPI, status: int, error_type: type[APIStatusError]
) -> None:
    fake_api.add(
        "GET", "/invoices/{id}", reply(ERROR_BODY, status=status, headers={"X-Request-Id": "rq-9"})
    )
    async with client_for(fake_api) as client:
        with pytest.raises(error_type) as info:
            await client.invoices.get("inv-1")
    assert len(fake_api.requests) == FAST_RETRY.max_attempts
    error = info.value
    assert type(error) is error_type
    assert error.status_code == status
    assert error.body == ERROR_BODY
    assert error.request_id == "rq-9"
    assert (error.method, error.path) == ("GET", "/invoices/inv-1")


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, BadRequestError),
    ],
)
async def test_get_is_not_retried_after_a_client_error(
    fake_api: FakeAPI, status: int, error_type: type[APIStatusError]
) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(ERROR_BODY, status=status))
    async with client_for(fake_api) as client:
        with pytest.raises(error_type):
            await client.invoices.get("inv-1")
    assert len(fake_api.requests) == 1


async def test_get_is_retried_after_a_timeout(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", delayed(1.0, reply(INVOICE)), reply(INVOICE))
    async with client_for(fake_api, timeout=0.2) as client:
        invoice = await client.invoices.get("inv-1")
    assert invoice.id == "inv-1"
    assert len(fake_api.requests) == 2


async def test_get_timing_out_every_time_raises_after_max_attempts(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", delayed(1.0, reply(INVOICE)))
    retry = RetryPolicy(max_attempts=2, backoff_base_s=0.01, backoff_cap_s=0.05)
    async with client_for(fake_api, timeout=0.15, retry=retry) as client:
        with pytest.raises(APITimeoutError):
            await client.invoices.get("inv-1")
    assert len(fake_api.requests) == 2


async def test_get_is_retried_after_dropped_connections(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", drop_connection())
    async with client_for(fake_api) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.invoices.get("inv-1")
        assert client.stats.requests == FAST_RETRY.max_attempts
        assert client.stats.retries == FAST_RETRY.max_attempts - 1
        fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
        assert (await client.invoices.get("inv-1")).id == "inv-1"
    assert not info.value.refused
    assert "ServerDisconnectedError" in str(info.value)


async def test_get_dropped_every_time_reaches_the_server_max_attempts_times(
    fake_api: FakeAPI,
) -> None:
    # "Up to max_attempts" on the wire: aiohttp's own silent resend of an idempotent
    # request must not double the attempts the policy allows.
    fake_api.add("GET", "/invoices/{id}", drop_connection())
    async with client_for(fake_api) as client:
        with pytest.raises(APIConnectionError):
            await client.invoices.get("inv-1")
    assert len(fake_api.requests) == FAST_RETRY.max_attempts


async def test_get_is_retried_when_the_connection_is_refused() -> None:
    port = free_port()
    client = RequestFinanceClient(
        ApiKeyAuth("k"), base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY, timeout=1.0
    )
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.invoices.get("inv-1")
        assert client.stats.requests == FAST_RETRY.max_attempts
    assert info.value.refused
    assert "cannot connect" in str(info.value)


async def test_a_single_attempt_policy_never_retries(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(503))
    async with client_for(fake_api, retry=RetryPolicy.none()) as client:
        with pytest.raises(InternalServerError):
            await client.invoices.get("inv-1")
        with pytest.raises(InternalServerError):
            await client.with_options(retry=0).invoices.get("inv-1")
    assert len(fake_api.requests) == 2


async def test_put_is_retried_with_byte_identical_bodies(fake_api: FakeAPI) -> None:
    fake_api.add("PUT", "/clients/{id}", reply(500), reply(502), reply({"id": "c1"}))
    async with client_for(fake_api) as client:
        contact = await client.clients.update("c1", CONTACT)
    assert contact.id == "c1"
    bodies = [r.body for r in fake_api.requests]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert fake_api.requests[0].json()["email"] == "ap@acme.example"


# -- POST: retried only when the server cannot have acted ------------------------------------


async def test_post_answered_500_is_not_retried(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/clients", reply(ERROR_BODY, status=500), reply({"id": "c1"}))
    async with client_for(fake_api) as client:
        with pytest.raises(InternalServerError):
            await client.clients.create(CONTACT)
    assert len(fake_api.calls("POST")) == 1


async def test_post_of_a_change_answered_502_is_not_retried(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/invoices/{id}/changes", reply(502))
    async with client_for(fake_api) as client:
        with pytest.raises(InternalServerError):
            await client.invoices.cancel("inv-1")
    assert len(fake_api.calls("POST")) == 1


async def test_post_timing_out_is_not_retried(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/clients", delayed(1.0, reply({"id": "c1"})))
    async with client_for(fake_api, timeout=0.2) as client:
        with pytest.raises(APITimeoutError):
            await client.clients.create(CONTACT)
    await asyncio.sleep(0.05)  # room for a resend to arrive, if one were made
    assert len(fake_api.calls("POST")) == 1


async def test_post_whose_connection_dropped_is_not_retried(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/clients", drop_connection(), reply({"id": "c1"}))
    async with client_for(fake_api) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.clients.create(CONTACT)
    assert not info.value.refused
    assert len(fake_api.calls("POST")) == 1


async def test_post_refused_connection_is_retried() -> None:
    client = RequestFinanceClient(
        ApiKeyAuth("k"), base_url=f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY
    )
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.clients.create(CONTACT)
        assert client.stats.requests == FAST_RETRY.max_attempts
    assert info.value.refused


@pytest.mark.parametrize("status", [429, 503])
async def test_post_told_to_come_back_later_is_retried_with_the_same_bytes(
    fake_api: FakeAPI, status: int
) -> None:
    fake_api.add(
        "POST",
        "/clients",
        reply(status, headers={"Retry-After": "0.05"}),
        reply({"id": "c1"}, status=201),
    )
    async with client_for(fake_api) as client:
        contact = await client.clients.create(CONTACT)
    assert contact.id == "c1"
    first, second = fake_api.calls("POST", "/clients")
    assert first.body == second.body
    assert second.at - first.at >= 0.05


@pytest.mark.parametrize("status", [429, 503])
async def test_post_refused_without_retry_after_is_not_retried(
    fake_api: FakeAPI, status: int
) -> None:
    fake_api.add("POST", "/clients", reply(status), reply({"id": "c1"}, status=201))
    async with client_for(fake_api) as client:
        with pytest.raises(APIStatusError) as info:
            await client.clients.create(CONTACT)
    assert info.value.status_code == status
    assert len(fake_api.calls("POST")) == 1


# -- how long the client waits ------------------------------------------------------------
async def test_retry_after_in_seconds_is_waited_out(fake_api: FakeAPI) -> None:
    fake_api.add(
        "GET", "/invoices/{id}", reply(503, headers={"Retry-After": "0.2"}), reply(INVOICE)
    )
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
    first, second = fake_api.requests
    assert second.at - first.at >= 0.2


async def test_retry_after_as_an_http_date_is_waited_out(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    header = format_datetime(when, usegmt=True)
    fake_api.add(
        "GET", "/invoices/{id}", reply(503, headers={"Retry-After": header}), reply(INVOICE)
    )
    sleeps = _sleeps(monkeypatch)
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
    assert len(fake_api.requests) == 2
    assert len(sleeps) == 1
    # The date has one-second resolution and a moment passed since it was written.
    assert 28.0 <= sleeps[0] <= 31.0


async def test_retry_after_above_the_cap_stops_retrying_at_once(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(429, headers={"Retry-After": "120"}))
    retry = RetryPolicy(max_attempts=5, backoff_base_s=0.01, retry_after_cap_s=60.0)
    async with client_for(fake_api, retry=retry) as client:
        with pytest.raises(RateLimitError) as info:
            await client.invoices.get("inv-1")
    assert info.value.retry_after == 120.0
    assert len(fake_api.requests) == 1


async def test_backoff_between_attempts_stays_within_base_and_cap(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(500))
    sleeps = _sleeps(monkeypatch)
    retry = RetryPolicy(max_attempts=6, backoff_base_s=1.0, backoff_cap_s=3.0)
    async with client_for(fake_api, retry=retry) as client:
        with pytest.raises(InternalServerError):
            await client.invoices.get("inv-1")
    assert len(fake_api.requests) == 6
    assert len(sleeps) == 5
    ceilings = [1.0, 2.0, 3.0, 3.0, 3.0]
    for delay, ceiling in zip(sleeps, ceilings, strict=True):
        assert 0.0 <= delay <= ceiling
