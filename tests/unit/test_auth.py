"""Credentials: static keys, PKCE helpers, and the OAuth token cache on a fake clock."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from reqfin_async import (
    ApiKeyAuth,
    AuthenticationError,
    AuthorizationRequest,
    BearerAuth,
    ClientCredentialsAuth,
    InternalServerError,
    PkcePair,
    RateLimitError,
    RefreshTokenAuth,
    RequestOptions,
    TokenSet,
    authorization_url,
)
from reqfin_async._http.retry import Safety
from reqfin_async.auth.oauth import parse_token_response, token_lifetime_s
from tests.fakeapi import FakeAPI, client_for, invoice_json, reply

RFC7636_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC7636_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
TOKEN_URL = "https://auth.request.finance/oauth/token"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TokenEndpoint:
    """Stands in for the transport's ``post_form``: answers token sets, records forms."""

    def __init__(self, *answers: tuple[int, Any], delay_s: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay_s = delay_s
        self.forms: list[dict[str, str]] = []
        self.safeties: list[Safety] = []

    async def post_form(
        self, url: str, form: Mapping[str, str], *, options: RequestOptions, safety: Safety
    ) -> tuple[int, Any, str | None]:
        self.forms.append(dict(form))
        self.safeties.append(safety)
        await asyncio.sleep(self.delay_s)
        status, body = self.answers[min(len(self.forms), len(self.answers)) - 1]
        return status, body, "req-tok"


def tokens(access: str, expires_in: int | None = 3600, refresh: str | None = None) -> Any:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    if refresh is not None:
        body["refresh_token"] = refresh
    return (200, body)


def credentials(clock: Clock | None = None) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        client_id="cid", client_secret="cs-secret", clock=clock or Clock(), token_url=TOKEN_URL
    )


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    async with FakeAPI() as api:
        yield api


# -- static credentials ----------------------------------------------------------------------
async def test_api_key_is_sent_bare(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(invoice_json()))
    async with client_for(fake_api, ApiKeyAuth("  key-123  ")) as client:
        await client.invoices.get("inv-1")
    assert fake_api.requests[0].headers["Authorization"] == "key-123"


async def test_bearer_token_is_sent_with_its_prefix(fake_api: FakeAPI) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(invoice_json()))
    async with client_for(fake_api, BearerAuth("tok-456")) as client:
        await client.invoices.get("inv-1")
    assert fake_api.requests[0].headers["Authorization"] == "Bearer tok-456"


@pytest.mark.parametrize("key", ["", "   ", "Bearer abc", "bearer abc"])
def test_api_key_refuses_empty_or_prefixed_keys(key: str) -> None:
    with pytest.raises(ValueError, match=r"ApiKeyAuth|bare"):
        ApiKeyAuth(key)


def test_bearer_refuses_an_empty_token() -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        BearerAuth(" ")


def test_static_credentials_hide_their_secret_in_repr() -> None:
    assert repr(ApiKeyAuth("key-123")) == "ApiKeyAuth(key=[redacted])"
    assert repr(BearerAuth("tok-456")) == "BearerAuth(token=[redacted])"
    assert "cs-secret" not in repr(credentials())
    refresh = RefreshTokenAuth(client_id="c", client_secret="cs-secret", refresh_token="rt-secret")
    assert "cs-secret" not in repr(refresh)
    assert "rt-secret" not in repr(refresh)


# -- PKCE ----------------------------------------------------------------------------------
def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    pair = PkcePair.from_verifier(RFC7636_VERIFIER)
    assert pair.challenge == RFC7636_CHALLENGE
    assert pair.method == "S256"


def test_generated_pairs_are_fresh_valid_and_unpadded() -> None:
    first, second = PkcePair.generate(), PkcePair.generate()
    assert first.verifier != second.verifier
    for pair in (first, second):
        assert 43 <= len(pair.verifier) <= 128
        digest = hashlib.sha256(pair.verifier.encode()).digest()
        assert pair.challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert "=" not in pair.challenge
        assert pair.verifier not in repr(pair)


@pytest.mark.parametrize("length", [42, 129])
def test_a_verifier_of_the_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="43 to 128"):
        PkcePair.from_verifier("a" * length)


def _query(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in parsed.values())
    return {key: values[0] for key, values in parsed.items()}


def test_authorization_url_carries_the_whole_request() -> None:
    url = authorization_url(
        client_id="cid",
        redirect_uri="https://app.example/callback",
        code_challenge=RFC7636_CHALLENGE,
        state="st-1",
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "auth.request.finance",
        "/authorize",
    )
    query = _query(url)
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://app.example/callback",
        "scope": "openid profile email offline_access",
        "audience": "accounts",
        "state": "st-1",
        "code_challenge": RFC7636_CHALLENGE,
        "code_challenge_method": "S256",
    }


def test_prompt_consent_is_added_only_when_asked() -> None:
    common: dict[str, Any] = {
        "client_id": "cid",
        "redirect_uri": "https://app.example/cb",
        "code_challenge": RFC7636_CHALLENGE,
        "state": "s",
    }
    assert "prompt" not in _query(authorization_url(**common))
    asked = _query(authorization_url(**common, prompt_consent=True, scopes=("openid", "user:read")))
    assert asked["prompt"] == "consent"
    assert asked["scope"] == "openid user:read"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"state": ""}, "state"),
        ({"client_id": ""}, "client_id"),
        ({"issuer": "http://auth.example.com"}, "https"),
    ],
)
def test_authorization_url_refuses_unsafe_requests(changes: dict[str, str], problem: str) -> None:
    arguments: dict[str, Any] = {
        "client_id": "cid",
        "redirect_uri": "https://app.example/cb",
        "code_challenge": RFC7636_CHALLENGE,
        "state": "s",
        **changes,
    }
    with pytest.raises(ValueError, match=problem):
        authorization_url(**arguments)


def test_authorization_request_ties_url_state_and_verifier_together() -> None:
    start = AuthorizationRequest.create(
        client_id="cid", redirect_uri="https://app.example/cb", prompt_consent=True
    )
    query = _query(start.url)
    assert query["state"] == start.state
    assert query["prompt"] == "consent"
    assert query["code_challenge"] == PkcePair.from_verifier(start.code_verifier).challenge
    assert start.code_verifier not in start.url
    assert start.code_verifier not in repr(start)
    other = AuthorizationRequest.create(client_id="cid", redirect_uri="https://app.example/cb")
    assert other.state != start.state
    assert "prompt" not in _query(other.url)


def test_check_state_refuses_a_wrong_or_missing_state() -> None:
    start = AuthorizationRequest.create(client_id="cid", redirect_uri="https://app.example/cb")
    start.check_state(start.state)
    for returned in ("forged", start.state + "x", "", None):
        with pytest.raises(ValueError, match="state"):
            start.check_state(returned)


# -- the token cache ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expires_in", "trusted_s"),
    [(86400, 86340.0), (3600, 3540.0), (100, 90.0), (0, 0.0), (None, 86340.0)],
)
def test_a_token_is_trusted_until_expiry_minus_a_margin(
    expires_in: int | None, trusted_s: float
) -> None:
    assert token_lifetime_s(expires_in) == trusted_s


async def test_the_cached_token_serves_until_the_margin_on_the_injected_clock() -> None:
    clock = Clock()
    endpoint = TokenEndpoint(tokens("a1", 3600), tokens("a2", 3600))
    auth = credentials(clock)
    assert await auth.authorization(endpoint) == "Bearer a1"
    clock.now += 3539.9
    assert await auth.authorization(endpoint) == "Bearer a1"
    clock.now += 0.2
    assert await auth.authorization(endpoint) == "Bearer a2"
    assert len(endpoint.forms) == 2
    assert endpoint.forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "cs-secret",
        "audience": "accounts",
    }
    assert endpoint.safeties == [Safety.IDEMPOTENT, Safety.IDEMPOTENT]


async def test_concurrent_callers_share_one_token_request() -> None:
    endpoint = TokenEndpoint(tokens("a1"), delay_s=0.02)
    auth = credentials()
    values = await asyncio.gather(*(auth.authorization(endpoint) for _ in range(250)))
    assert set(values) == {"Bearer a1"}
    assert len(endpoint.forms) == 1


async def test_invalidate_drops_only_the_token_that_failed() -> None:
    endpoint = TokenEndpoint(tokens("a1"), tokens("a2"), tokens("a3"))
    auth = credentials()
    assert await auth.authorization(endpoint) == "Bearer a1"
    auth.invalidate("Bearer a1")
    assert await auth.authorization(endpoint) == "Bearer a2"
    auth.invalidate("Bearer a1")  # a late 401 for the old token
    assert await auth.authorization(endpoint) == "Bearer a2"
    assert len(endpoint.forms) == 2


async def test_refresh_token_rotation_replaces_and_hands_over_the_new_token() -> None:
    clock = Clock()
    endpoint = TokenEndpoint(
        tokens("a1", refresh="rt-1"), tokens("a2"), tokens("a3", refresh="rt-3")
    )
    handed: list[TokenSet] = []
    auth = RefreshTokenAuth(
        client_id="cid",
        client_secret="cs",
        refresh_token="rt-0",
        on_refresh=handed.append,
        clock=clock,
    )
    for _ in range(3):
        await auth.authorization(endpoint)
        clock.now += 86400
    assert [form["refresh_token"] for form in endpoint.forms] == ["rt-0", "rt-1", "rt-1"]
    assert [t.refresh_token for t in handed] == ["rt-1", "rt-1", "rt-3"]
    assert auth.refresh_token == "rt-3"
    assert set(endpoint.safeties) == {Safety.UNSAFE}
    assert endpoint.forms[0]["grant_type"] == "refresh_token"


async def test_an_async_on_refresh_is_awaited() -> None:
    handed: list[str | None] = []

    async def store(tokens_: TokenSet) -> None:
        await asyncio.sleep(0)
        handed.append(tokens_.refresh_token)

    auth = RefreshTokenAuth(
        client_id="cid", client_secret="cs", refresh_token="rt-0", on_refresh=store
    )
    await auth.authorization(TokenEndpoint(tokens("a1", refresh="rt-1")))
    assert handed == ["rt-1"]


async def test_a_token_set_from_a_code_exchange_is_used_before_any_refresh() -> None:
    endpoint = TokenEndpoint(tokens("a2", refresh="rt-2"))
    start = TokenSet(access_token="a1", refresh_token="rt-1", expires_in=3600)
    auth = RefreshTokenAuth.from_token_set(start, client_id="cid", client_secret="cs")
    assert await auth.authorization(endpoint) == "Bearer a1"
    assert endpoint.forms == []
    assert auth.refresh_token == "rt-1"


async def test_a_seeded_access_token_expires_on_the_clock() -> None:
    clock = Clock()
    endpoint = TokenEndpoint(tokens("a2", refresh="rt-2"))
    auth = RefreshTokenAuth(
        client_id="cid",
        client_secret="cs",
        refresh_token="rt-1",
        access_token="a1",
        expires_in=3600,
        clock=clock,
    )
    assert await auth.authorization(endpoint) == "Bearer a1"
    clock.now += 3600
    assert await auth.authorization(endpoint) == "Bearer a2"
    assert endpoint.forms[0]["refresh_token"] == "rt-1"


def test_a_token_set_without_refresh_token_cannot_start_a_refresh_flow() -> None:
    with pytest.raises(ValueError, match="offline_access"):
        RefreshTokenAuth.from_token_set(
            TokenSet(access_token="a"), client_id="cid", client_secret="cs"
        )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"token_url": "http://auth.example.com/oauth/token"}, "https"),
    ],
)
def test_oauth_credentials_refuse_bad_settings(arguments: dict[str, str], problem: str) -> None:
    settings = {"client_id": "cid", "client_secret": "cs", "token_url": TOKEN_URL, **arguments}
    with pytest.raises(ValueError, match=problem):
        ClientCredentialsAuth(
            client_id=settings["client_id"],
            client_secret=settings["client_secret"],
            token_url=settings["token_url"],
        )


# -- reading the token endpoint's answer ---------------------------------------------------------
def test_a_refusal_names_the_oauth_error() -> None:
    with pytest.raises(AuthenticationError) as info:
        parse_token_response(
            TOKEN_URL, 403, {"error": "invalid_grant", "error_description": "Wrong"}, "r1"
        )
    assert info.value.oauth_error == "invalid_grant"
    assert info.value.request_id == "r1"


def test_an_unreadable_success_is_an_authentication_error_without_the_body() -> None:
    with pytest.raises(AuthenticationError, match="unreadable token response") as info:
        parse_token_response(TOKEN_URL, 200, {"token": "half-a-secret"}, None)
    assert info.value.body is None
    assert "half-a-secret" not in str(info.value)


def test_server_trouble_at_the_token_endpoint_is_not_an_authentication_error() -> None:
    with pytest.raises(RateLimitError):
        parse_token_response(TOKEN_URL, 429, None, None)
    with pytest.raises(InternalServerError):
        parse_token_response(TOKEN_URL, 502, "Bad Gateway", None)
