"""The session's life, the headers of every call, per-call views and timeouts, on a real server."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import warnings
from typing import Any

import aiohappyeyeballs
import aiohttp
import pytest

from reqfin_async import (
    ApiKeyAuth,
    APITimeoutError,
    ClientClosedError,
    ClientCredentialsAuth,
    RequestFinanceClient,
    RetryPolicy,
    Timeout,
    __version__,
)
from reqfin_async._http.transport import Transport
from tests.fakeapi import (
    FAST_RETRY,
    FakeAPI,
    client_for,
    delayed,
    free_port,
    invoice_json,
    reply,
    token_reply,
)

OK_INVOICE = reply(invoice_json("inv-1"))


def is_closed(session: aiohttp.ClientSession) -> bool:
    return session.closed


def _count_sessions(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Record every aiohttp session created from now on."""
    made: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def counting(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real(*args, **kwargs)
        made.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", counting)
    return made


# -- lifecycle ------------------------------------------------------------------------
def test_client_built_outside_any_loop_creates_its_session_inside_the_loop() -> None:
    port = free_port()
    client = RequestFinanceClient(
        ApiKeyAuth("k"), base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY
    )
    assert client.transport._session is None  # nothing is built at construction

    async def use() -> None:
        async with FakeAPI(port=port) as api:
            api.add("GET", "/invoices/{id}", OK_INVOICE)
            async with client:
                session = client.transport._session
                assert session is not None
                assert session._loop is asyncio.get_running_loop()
                invoice = await client.invoices.get("inv-1")
            assert invoice.id == "inv-1"
            assert session.closed

    asyncio.run(use())


async def test_one_session_serves_every_call_and_every_view(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    made = _count_sessions(monkeypatch)
    client = client_for(fake_api)
    assert made == []
    async with client:
        view = client.with_options(timeout=1.0, retry=0, organization="org-1")
        await asyncio.gather(*(client.invoices.get("inv-1") for _ in range(5)))
        await view.invoices.get("inv-1")
        await client.with_options(organization="org-2").invoices.get("inv-1")
    assert len(made) == 1
    assert made[0].closed


async def test_async_with_closes_the_session_it_created(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
        session = client.transport._session
        assert session is not None
        assert not client.closed
    assert is_closed(session)
    assert client.closed


async def test_aclose_closes_a_session_opened_by_a_first_call(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    client = client_for(fake_api)
    await client.invoices.get("inv-1")  # no `async with`: the session is made on first use
    session = client.transport._session
    assert session is not None
    await client.aclose()
    assert session.closed
    await client.aclose()  # idempotent


async def test_a_session_passed_in_is_used_and_left_open(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with aiohttp.ClientSession(headers={"X-Mine": "yes"}) as session:
        async with client_for(fake_api, session=session) as client:
            await client.invoices.get("inv-1")
        assert not session.closed
        # The client really sent through it: the session's own default header arrived.
        assert fake_api.requests[0].headers["X-Mine"] == "yes"
        async with session.get(fake_api.url + "/invoices/inv-1") as response:
            assert response.status == 200


async def test_a_connector_passed_in_is_used_and_left_open(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    connector = aiohttp.TCPConnector(limit=3)
    try:
        async with client_for(fake_api, connector=connector) as client:
            await client.invoices.get("inv-1")
            session = client.transport._session
            assert session is not None
            assert session.connector is connector
        assert session.closed
        assert not connector.closed
    finally:
        await connector.close()


async def test_a_closed_client_refuses_calls_with_a_clear_message(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
    with pytest.raises(ClientClosedError, match=r"client is closed.*new RequestFinanceClient"):
        await client.invoices.get("inv-1")
    with pytest.raises(ClientClosedError):
        await client.__aenter__()
    assert len(fake_api.requests) == 1


async def test_a_closed_user_session_is_reported_as_closed_client(fake_api: FakeAPI) -> None:
    session = aiohttp.ClientSession()
    client = client_for(fake_api, session=session)
    await session.close()
    with pytest.raises(ClientClosedError, match="session given to this client was closed"):
        await client.invoices.get("inv-1")
    assert fake_api.requests == []


async def test_closing_a_view_leaves_the_parent_open(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with client_for(fake_api) as client:
        view = client.with_options(timeout=1.0)
        await view.invoices.get("inv-1")
        await view.aclose()
        async with client.with_options(retry=0) as other_view:
            await other_view.invoices.get("inv-1")
        assert not client.closed
        await client.invoices.get("inv-1")
    assert len(fake_api.requests) == 3
    with pytest.raises(ClientClosedError):
        await view.invoices.get("inv-1")  # the parent is closed now, and the view with it


async def test_no_resource_warning_after_a_closed_client_is_collected(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with client_for(fake_api) as client:
            await client.invoices.get("inv-1")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert "__del__" not in vars(RequestFinanceClient)
    assert "__del__" not in vars(Transport)


# -- headers --------------------------------------------------------------------------
@pytest.mark.parametrize("network", ["live", "test"])
async def test_every_call_sends_the_standard_headers(fake_api: FakeAPI, network: Any) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    fake_api.add("POST", "/clients", reply({"id": "c1"}, status=201))
    async with client_for(fake_api, network=network) as client:
        await client.invoices.get("inv-1")
        await client.clients.create({"email": "ap@acme.example", "contactType": ["customer"]})
    assert len(fake_api.requests) == 2
    for request in fake_api.requests:
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
        assert f"reqfin-async/{__version__}" in request.headers["User-Agent"]
        assert request.headers["X-Network"] == network
        assert request.headers["Authorization"] == "test-api-key"
        assert "X-Organization" not in request.headers


async def test_organization_is_sent_when_set_on_the_client_or_a_view(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with client_for(fake_api, organization="org-a") as client:
        await client.invoices.get("inv-1")
        await client.with_options(organization="org-b").invoices.get("inv-1")
        await client.with_options(organization=None).invoices.get("inv-1")
        await client.invoices.get("inv-1")
    sent = [r.headers.get("X-Organization") for r in fake_api.requests]
    assert sent == ["org-a", "org-b", None, "org-a"]


async def test_a_custom_user_agent_suffix_keeps_the_library_name(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", OK_INVOICE)
    async with client_for(fake_api, user_agent="acme-billing/2.1") as client:
        await client.invoices.get("inv-1")
    agent = fake_api.requests[0].headers["User-Agent"]
    assert agent.startswith(f"reqfin-async/{__version__} ")
    assert agent.endswith(" acme-billing/2.1")


# -- views share the session, the token cache and the rate budget ---------------------------
async def test_views_share_the_token_cache_and_the_rate_limiter(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _count_sessions(monkeypatch)
    fake_api.add("POST", "/oauth/token", token_reply("access-1"))
    fake_api.add(
        "GET",
        "/invoices/{id}",
        reply(
            invoice_json("inv-1"),
            headers={
                "X-Rate-Limit-Limit": "100",
                "X-Rate-Limit-Remaining": "57",
                "X-Rate-Limit-Reset": "30",
            },
        ),
    )
    auth = ClientCredentialsAuth(
        client_id="cid", client_secret="secret", token_url=fake_api.url + "/oauth/token"
    )
    async with client_for(fake_api, auth) as client:
        view = client.with_options(timeout=Timeout(total_s=1.0), organization="org-1")
        await view.invoices.get("inv-1")
        assert client.rate_limit.limit == 100  # learnt from the view's answer
        assert client.rate_limit.remaining == 57
        await client.invoices.get("inv-1")
        await client.with_options(retry=RetryPolicy.none()).invoices.get("inv-1")
        assert view.transport is client.transport
        assert view.transport.limiter is client.transport.limiter
    assert len(made) == 1
    assert len(fake_api.calls("POST", "/oauth/token")) == 1
    api_calls = fake_api.calls("GET", "/invoices/inv-1")
    assert [r.headers["Authorization"] for r in api_calls] == ["Bearer access-1"] * 3


# -- timeouts -------------------------------------------------------------------------
async def test_a_slow_answer_raises_api_timeout_error(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", delayed(1.5, OK_INVOICE))
    async with client_for(fake_api, timeout=0.2, retry=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.invoices.get("inv-1")
    assert time.monotonic() - started < 1.0
    assert str(info.value) == "GET /invoices/inv-1: timed out after 0.2 s"
    assert info.value.method == "GET"
    assert info.value.timeout_s == 0.2
    assert len(fake_api.requests) == 1


async def test_a_view_timeout_applies_to_the_view_only(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", delayed(0.3, OK_INVOICE))
    async with client_for(fake_api, timeout=2.0, retry=0) as client:
        with pytest.raises(APITimeoutError):
            await client.with_options(timeout=0.1).invoices.get("inv-1")
        invoice = await client.invoices.get("inv-1")
    assert invoice.id == "inv-1"


@pytest.fixture
def sockets_never_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connecting a socket takes far longer than any test's connect timeout."""

    async def hang(*args: object, **kwargs: object) -> socket.socket:
        await asyncio.sleep(30)
        raise AssertionError("the connect timeout should have fired")

    # aiohttp opens every socket through aiohappyeyeballs, inside the connect timeout.
    monkeypatch.setattr(aiohappyeyeballs, "start_connection", hang)


@pytest.mark.usefixtures("sockets_never_connect")
async def test_the_connect_timeout_bounds_connecting(fake_api: FakeAPI) -> None:
    timeout = Timeout(connect_s=0.1, total_s=10.0)
    async with client_for(fake_api, timeout=timeout, retry=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await client.invoices.get("inv-1")
        assert time.monotonic() - started < 1.0


@pytest.mark.usefixtures("sockets_never_connect")
async def test_a_post_that_could_not_connect_in_time_is_retried(fake_api: FakeAPI) -> None:
    # A connect timeout means nothing was sent: even a POST may go again.
    timeout = Timeout(connect_s=0.05, total_s=10.0)
    async with client_for(fake_api, timeout=timeout) as client:
        with pytest.raises(APITimeoutError):
            await client.clients.create({"email": "a@acme.example"})
        assert client.stats.requests == FAST_RETRY.max_attempts
