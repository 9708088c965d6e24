"""The OAuth token and authorize endpoints (RFC 6749, PKCE S256, rotating refresh tokens)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from yarl import URL

from reqfin_async.sandbox import Sandbox

from .conftest import fetch, pkce_pair

REDIRECT = "http://127.0.0.1:9/callback"


def client_form(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    return {
        "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret,
        **extra,
    }


async def post_token(http: aiohttp.ClientSession, form: dict[str, str]) -> tuple[int, Any]:
    async with http.post("/oauth/token", data=form) as response:
        return response.status, await response.json()


async def authorize(
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    *,
    scope: str = "openid profile email offline_access",
    **extra: str,
) -> tuple[str, str]:
    """Run ``/authorize``; returns ``(code, verifier)``."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": sandbox.config.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "audience": "accounts",
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    async with http.get("/authorize", params=params, allow_redirects=False) as response:
        assert response.status == 302
        location = URL(response.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT
    assert location.query["state"] == "xyz"
    return location.query["code"], verifier


def code_form(sandbox: Sandbox, code: str, verifier: str) -> dict[str, str]:
    return client_form(
        sandbox,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Network": "test"}


async def test_client_credentials_token_acts_as_the_main_user(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    status, tokens = await post_token(http, form)
    assert status == 200
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == sandbox.config.token_lifetime_s
    assert "refresh_token" not in tokens
    assert tokens["scope"] == "openid profile email user:read"
    status, me = await fetch(http, "/users", bearer(tokens["access_token"]))
    assert (status, me["email"]) == (200, "seller@sandbox.test")


async def test_token_endpoint_takes_json_too(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    body = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    async with http.post("/oauth/token", json=body) as response:
        assert response.status == 200
        assert (await response.json())["access_token"]


async def test_wrong_client_secret_is_invalid_client(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    form["client_secret"] = "nope"
    status, body = await post_token(http, form)
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"]


async def test_unknown_grant_is_unsupported(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await post_token(http, client_form(sandbox, grant_type="password"))
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_client_credentials_need_the_accounts_audience(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, body = await post_token(http, client_form(sandbox, grant_type="client_credentials"))
    assert (status, body["error"]) == (400, "invalid_request")


async def test_authorization_code_with_pkce_gives_a_refresh_token(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    status, tokens = await post_token(http, code_form(sandbox, code, verifier))
    assert status == 200
    assert tokens["refresh_token"]
    assert tokens["id_token"].count(".") == 2
    assert tokens["expires_in"] == sandbox.config.token_lifetime_s
    status, _ = await fetch(http, "/invoices", bearer(tokens["access_token"]))
    assert status == 200


async def test_no_refresh_token_without_offline_access(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox, scope="openid profile email")
    _, tokens = await post_token(http, code_form(sandbox, code, verifier))
    assert "refresh_token" not in tokens


async def test_pkce_verifier_mismatch_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, _ = await authorize(http, sandbox)
    status, body = await post_token(http, code_form(sandbox, code, "w" * 43))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_authorization_code_is_single_use(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    status, _ = await post_token(http, code_form(sandbox, code, verifier))
    assert status == 200
    status, body = await post_token(http, code_form(sandbox, code, verifier))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_redirect_uri_must_match_the_authorization(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    form = code_form(sandbox, code, verifier) | {"redirect_uri": "http://127.0.0.1:9/other"}
    status, body = await post_token(http, form)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_expired_authorization_code_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    sandbox.state.auth_codes[code].expires_at = time.time() - 1  # ten minutes later
    status, body = await post_token(http, code_form(sandbox, code, verifier))
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_reused_refresh_token_gets_invalid_grant(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    _, first = await post_token(http, code_form(sandbox, code, verifier))
    refresh = client_form(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    status, second = await post_token(http, refresh)
    assert status == 200
    assert second["refresh_token"] != first["refresh_token"]
    status, body = await post_token(http, refresh)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert body["error_description"]
    # The rotated token keeps working.
    rotated = refresh | {"refresh_token": second["refresh_token"]}
    status, _ = await post_token(http, rotated)
    assert status == 200


async def test_refresh_needs_the_client_secret(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox)
    _, tokens = await post_token(http, code_form(sandbox, code, verifier))
    form = {
        "grant_type": "refresh_token",
        "client_id": sandbox.config.client_id,
        "refresh_token": tokens["refresh_token"],
    }
    status, body = await post_token(http, form)
    assert (status, body["error"]) == (401, "invalid_client")


async def test_expired_access_token_gets_401(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    form = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    _, tokens = await post_token(http, form)
    sandbox.state.access_tokens[tokens["access_token"]].expires_at = time.time() - 1
    status, body = await fetch(http, "/invoices", bearer(tokens["access_token"]))
    assert (status, body["statusCode"]) == (401, 401)


async def test_unknown_bearer_token_gets_401(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, _ = await fetch(http, "/invoices", bearer("eyJhbGciOiJub25lIn0.e30."))
    assert status == 401


async def test_authorize_refuses_a_bad_client_or_a_missing_challenge(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    _, challenge = pkce_pair()
    base = {
        "response_type": "code",
        "client_id": sandbox.config.client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    for params in (base | {"client_id": "someone-else"}, {**base, "code_challenge": ""}):
        async with http.get("/authorize", params=params, allow_redirects=False) as response:
            assert response.status == 400
            assert (await response.json())["error"]


async def test_login_hint_authorizes_another_user(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox, login_hint="buyer@sandbox.test")
    _, tokens = await post_token(http, code_form(sandbox, code, verifier))
    _, me = await fetch(http, "/users", bearer(tokens["access_token"]))
    assert me["email"] == "buyer@sandbox.test"


async def test_organizations_need_oauth(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": sandbox.config.api_key, "X-Network": "test"}
    status, _ = await fetch(http, "/users/organizations", headers)
    assert status == 403


async def test_organizations_need_the_user_read_scope(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code, verifier = await authorize(http, sandbox, scope="openid profile email")
    _, tokens = await post_token(http, code_form(sandbox, code, verifier))
    status, _ = await fetch(http, "/users/organizations", bearer(tokens["access_token"]))
    assert status == 403


async def test_organizations_list_memberships_with_owners(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    _, tokens = await post_token(http, form)
    status, orgs = await fetch(http, "/users/organizations", bearer(tokens["access_token"]))
    assert status == 200
    by_name = {org["displayName"]: org for org in orgs}
    assert set(by_name) == {"Acme Corp", "Globex"}
    assert by_name["Globex"]["role"] == "admin"
    assert by_name["Acme Corp"]["owner"]["email"] == "seller@sandbox.test"
    assert set(by_name["Globex"]["owner"]) == {"id", "email", "firstname", "lastname"}
    assert set(by_name["Globex"]) == {"id", "name", "displayName", "role", "owner"}


async def test_oauth_calls_have_their_own_budget(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = client_form(sandbox, grant_type="client_credentials", audience="accounts")
    _, tokens = await post_token(http, form)
    async with http.get("/invoices", headers=bearer(tokens["access_token"])) as response:
        assert response.headers["X-Rate-Limit-Limit"] == str(sandbox.config.oauth_limit)
        assert response.headers["X-Rate-Limit-Remaining"] == str(sandbox.config.oauth_limit - 1)
