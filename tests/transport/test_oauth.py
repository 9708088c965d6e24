"""OAuth against a real token endpoint: the form sent, the single-flight cache, 401s, rotation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from reqfin_async import (
    APIConnectionError,
    AuthenticationError,
    ClientCredentialsAuth,
    InternalServerError,
    RefreshTokenAuth,
    RetryPolicy,
    TokenSet,
    exchange_code,
)
from tests.fakeapi import (
    FakeAPI,
    client_for,
    delayed,
    drop_connection,
    invoice_json,
    reply,
    token_reply,
)

INVOICE = invoice_json("inv-1")
FORM_TYPE = "application/x-www-form-urlencoded"


class TokenServer:
    """A token endpoint: access tokens ``access-N``; refresh tokens rotate ``rt-0``, ``rt-1``...

    A refresh token is spent as soon as the request arrives, like a real server
    that rotates; an old one is refused with ``invalid_grant``.
    """

    def __init__(self, api: FakeAPI, *, delay_s: float = 0.0, rotate: bool = True) -> None:
        self.api = api
        self.delay_s = delay_s
        self.rotate = rotate
        self.refresh_token = "rt-0"
        self.issued = 0
        api.add("POST", "/oauth/token", self.handler)

    @property
    def url(self) -> str:
        return self.api.url + "/oauth/token"

    def forms(self) -> list[dict[str, str]]:
        return [r.form() for r in self.api.calls("POST", "/oauth/token")]

    async def handler(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": 3600}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") != self.refresh_token:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "Unknown or invalid token."},
                    status=403,
                )
            if self.rotate:
                self.refresh_token = f"rt-{self.issued + 1}"
                answer["refresh_token"] = self.refresh_token
        self.issued += 1
        answer["access_token"] = f"access-{self.issued}"
        await asyncio.sleep(self.delay_s)
        return web.json_response(answer)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _api_answers_by_token(api: FakeAPI, good: set[str]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization", "").removeprefix("Bearer ") in good:
            return web.json_response(INVOICE)
        return web.json_response({"message": "Unauthorized"}, status=401)

    api.add("GET", "/invoices/{id}", handler)


def _client_credentials(tokens: TokenServer, **kwargs: Any) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        client_id="cid", client_secret="the-client-secret", token_url=tokens.url, **kwargs
    )


def _refresh_auth(tokens: TokenServer, **kwargs: Any) -> RefreshTokenAuth:
    return RefreshTokenAuth(
        client_id="cid",
        client_secret="the-client-secret",
        refresh_token="rt-0",
        token_url=tokens.url,
        **kwargs,
    )


# -- client credentials -----------------------------------------------------------------
async def test_client_credentials_posts_a_form_to_the_token_url(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    async with client_for(fake_api, _client_credentials(tokens)) as client:
        await client.invoices.get("inv-1")
    (token_request,) = fake_api.calls("POST", "/oauth/token")
    assert token_request.headers["Content-Type"] == FORM_TYPE
    assert token_request.form() == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "the-client-secret",
        "audience": "accounts",
    }
    assert "Authorization" not in token_request.headers
    (api_request,) = fake_api.calls("GET", "/invoices/{id}")
    assert api_request.headers["Authorization"] == "Bearer access-1"


async def test_two_hundred_concurrent_calls_make_one_token_request(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api, delay_s=0.05)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    async with client_for(fake_api, _client_credentials(tokens)) as client:
        invoices = await asyncio.gather(*(client.invoices.get("inv-1") for _ in range(200)))
    assert len(invoices) == 200
    assert len(tokens.forms()) == 1
    sent = {r.headers["Authorization"] for r in fake_api.calls("GET", "/invoices/{id}")}
    assert sent == {"Bearer access-1"}


async def test_the_token_is_reused_until_it_nearly_expires(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    clock = FakeClock()
    async with client_for(fake_api, _client_credentials(tokens, clock=clock)) as client:
        await client.invoices.get("inv-1")
        clock.now += 3600 - 61  # within expires_in minus the margin
        await client.invoices.get("inv-1")
        assert len(tokens.forms()) == 1
        clock.now += 2  # past the margin: renewed before the server would refuse it
        await client.invoices.get("inv-1")
    assert len(tokens.forms()) == 2
    sent = [r.headers["Authorization"] for r in fake_api.calls("GET", "/invoices/{id}")]
    assert sent == ["Bearer access-1", "Bearer access-1", "Bearer access-2"]


# -- 401s --------------------------------------------------------------------------------
async def test_a_401_refreshes_the_token_once_and_retries_the_call(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api)
    _api_answers_by_token(fake_api, good={"access-2"})
    async with client_for(fake_api, _client_credentials(tokens)) as client:
        invoice = await client.invoices.get("inv-1")
    assert invoice.id == "inv-1"
    assert len(tokens.forms()) == 2
    sent = [r.headers["Authorization"] for r in fake_api.calls("GET", "/invoices/{id}")]
    assert sent == ["Bearer access-1", "Bearer access-2"]


async def test_a_second_401_raises_authentication_error(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api)
    _api_answers_by_token(fake_api, good=set())
    async with client_for(fake_api, _client_credentials(tokens)) as client:
        with pytest.raises(AuthenticationError) as info:
            async with asyncio.timeout(5):  # a refresh loop would otherwise hang here
                await client.invoices.get("inv-1")
    assert info.value.status_code == 401
    assert len(tokens.forms()) == 2
    assert len(fake_api.calls("GET", "/invoices/{id}")) == 2


async def test_a_late_401_does_not_drop_a_token_refreshed_since(fake_api: FakeAPI) -> None:
    tokens = TokenServer(fake_api)
    refusals = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal refusals
        if request.headers["Authorization"] == "Bearer access-2":
            return web.json_response(INVOICE)
        refusals += 1
        if refusals == 2:
            # This refusal of the old token arrives after the first caller refreshed it.
            await asyncio.sleep(0.2)
        return web.json_response({"message": "Unauthorized"}, status=401)

    fake_api.add("GET", "/invoices/{id}", handler)
    async with client_for(fake_api, _client_credentials(tokens)) as client:
        await asyncio.gather(client.invoices.get("inv-1"), client.invoices.get("inv-1"))
    assert len(tokens.forms()) == 2  # the first token, and one refresh for both callers
    sent = [r.headers["Authorization"] for r in fake_api.calls("GET", "/invoices/{id}")]
    assert sent.count("Bearer access-2") == 2


async def test_a_refused_grant_raises_authentication_error_with_the_oauth_code(
    fake_api: FakeAPI,
) -> None:
    fake_api.add(
        "POST",
        "/oauth/token",
        reply({"error": "invalid_grant", "error_description": "Wrong secret"}, status=400),
    )
    auth = ClientCredentialsAuth(
        client_id="cid", client_secret="wrong", token_url=fake_api.url + "/oauth/token"
    )
    async with client_for(fake_api, auth) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.invoices.get("inv-1")
    assert info.value.oauth_error == "invalid_grant"
    assert info.value.status_code == 400
    assert fake_api.calls("GET") == []
    assert len(fake_api.calls("POST", "/oauth/token")) == 1


async def test_client_credentials_token_request_is_retried_after_a_5xx(fake_api: FakeAPI) -> None:
    fake_api.add("POST", "/oauth/token", reply(503), token_reply("access-9"))
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    auth = ClientCredentialsAuth(
        client_id="cid",
        client_secret="s",
        token_url=fake_api.url + "/oauth/token",
        retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01),
    )
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
    assert len(fake_api.calls("POST", "/oauth/token")) == 2


async def test_a_refresh_token_grant_answered_500_is_not_sent_again(fake_api: FakeAPI) -> None:
    # The server may have rotated the refresh token: sending the old one again would fail.
    fake_api.add("POST", "/t", reply(500), token_reply("access-9"))
    auth = RefreshTokenAuth(
        client_id="cid", client_secret="s", refresh_token="rt-0", token_url=fake_api.url + "/t"
    )
    async with client_for(fake_api, auth) as client:
        with pytest.raises(InternalServerError):
            await client.invoices.get("inv-1")
    assert len(fake_api.calls("POST", "/t")) == 1


# -- refresh-token rotation --------------------------------------------------------------
@pytest.mark.parametrize("callback_kind", ["sync", "async"])
async def test_each_rotated_refresh_token_replaces_the_old_one_and_is_handed_over(
    fake_api: FakeAPI, callback_kind: str
) -> None:
    tokens = TokenServer(fake_api)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    handed: list[TokenSet] = []
    on_refresh: Callable[[TokenSet], Any]
    if callback_kind == "sync":
        on_refresh = handed.append
    else:

        async def on_refresh(tokens_: TokenSet) -> None:
            await asyncio.sleep(0)
            handed.append(tokens_)

    clock = FakeClock()
    auth = _refresh_auth(tokens, on_refresh=on_refresh, clock=clock)
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
        assert auth.refresh_token == "rt-1"
        clock.now += 7200
        await client.invoices.get("inv-1")
    assert auth.refresh_token == "rt-2"
    assert [form["refresh_token"] for form in tokens.forms()] == ["rt-0", "rt-1"]
    assert [t.refresh_token for t in handed] == ["rt-1", "rt-2"]
    assert [t.access_token for t in handed] == ["access-1", "access-2"]
    assert tokens.forms()[0] == {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "the-client-secret",
        "refresh_token": "rt-0",
    }


async def test_a_refresh_without_rotation_hands_over_the_current_refresh_token(
    fake_api: FakeAPI,
) -> None:
    tokens = TokenServer(fake_api, rotate=False)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    handed: list[TokenSet] = []
    auth = _refresh_auth(tokens, on_refresh=handed.append)
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
    assert [t.refresh_token for t in handed] == ["rt-0"]
    assert auth.refresh_token == "rt-0"


@contextlib.asynccontextmanager
async def _native_timeout(seconds: float) -> AsyncIterator[None]:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            yield


@contextlib.asynccontextmanager
async def _anyio_timeout(seconds: float) -> AsyncIterator[None]:
    with anyio.move_on_after(seconds):
        yield


@pytest.mark.parametrize(
    "cancel_after",
    [pytest.param(_anyio_timeout, id="anyio"), pytest.param(_native_timeout, id="asyncio")],
)
async def test_a_caller_cancelled_during_a_refresh_keeps_the_rotated_token(
    fake_api: FakeAPI, cancel_after: Callable[[float], contextlib.AbstractAsyncContextManager[None]]
) -> None:
    tokens = TokenServer(fake_api, delay_s=0.3)
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    handed: list[TokenSet] = []
    auth = _refresh_auth(tokens, on_refresh=handed.append)
    async with client_for(fake_api, auth) as client:
        async with cancel_after(0.05):
            await client.invoices.get("inv-1")
        await asyncio.sleep(0.4)  # the token endpoint has answered by now
        assert tokens.refresh_token == "rt-1"  # the server rotated
        assert auth.refresh_token == "rt-1"
        assert [t.refresh_token for t in handed] == ["rt-1"]
        invoice = await client.invoices.get("inv-1")  # the cached access token serves
    assert invoice.id == "inv-1"
    assert len(tokens.forms()) == 1


# -- the authorization-code exchange -------------------------------------------------------
async def test_exchange_code_posts_the_form_and_returns_the_tokens(fake_api: FakeAPI) -> None:
    fake_api.add(
        "POST",
        "/oauth/token",
        token_reply("access-x", refresh_token="refresh-x", expires_in=86400),
    )
    tokens = await exchange_code(
        "the-code",
        client_id="cid",
        client_secret="the-client-secret",
        redirect_uri="https://app.example/callback",
        code_verifier="v" * 64,
        token_url=fake_api.url + "/oauth/token",
    )
    assert tokens.access_token == "access-x"
    assert tokens.refresh_token == "refresh-x"
    assert tokens.expires_in == 86400
    (request,) = fake_api.requests
    assert request.headers["Content-Type"] == FORM_TYPE
    assert request.form() == {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": "the-client-secret",
        "code": "the-code",
        "redirect_uri": "https://app.example/callback",
        "code_verifier": "v" * 64,
    }


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [
        pytest.param(reply(500), InternalServerError, id="500"),
        pytest.param(reply(503), InternalServerError, id="503"),
        pytest.param(drop_connection(), APIConnectionError, id="dropped"),
        pytest.param(delayed(1.0, reply(500)), APIConnectionError, id="timeout"),
    ],
)
async def test_exchange_code_is_not_sent_again_after_an_ambiguous_failure(
    fake_api: FakeAPI, handler: Any, error_type: type[Exception]
) -> None:
    fake_api.add("POST", "/oauth/token", handler, token_reply("access-x"))
    with pytest.raises(error_type):
        await exchange_code(
            "the-code",
            client_id="cid",
            client_secret="s",
            redirect_uri="https://app.example/callback",
            code_verifier="v" * 64,
            token_url=fake_api.url + "/oauth/token",
            timeout=0.2,
        )
    assert len(fake_api.requests) == 1


async def test_exchange_code_refused_raises_with_the_oauth_code(fake_api: FakeAPI) -> None:
    fake_api.add(
        "POST",
        "/oauth/token",
        reply(
            {"error": "invalid_grant", "error_description": "Invalid authorization code"},
            status=403,
        ),
    )
    async with aiohttp.ClientSession() as session:
        with pytest.raises(AuthenticationError) as info:
            await exchange_code(
                "used-code",
                client_id="cid",
                client_secret="s",
                redirect_uri="https://app.example/callback",
                code_verifier="v" * 64,
                token_url=fake_api.url + "/oauth/token",
                session=session,
            )
        assert not session.closed  # a session passed in is left open
    assert info.value.oauth_error == "invalid_grant"
    assert info.value.status_code == 403
