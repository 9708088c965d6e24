"""OAuth through the client: client credentials, organizations and ``X-Organization``,
the authorization code flow with PKCE, and refresh-token rotation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest
from yarl import URL

from reqfin_async import (
    ApiKeyAuth,
    AuthenticationError,
    AuthorizationRequest,
    BearerAuth,
    ClientCredentialsAuth,
    NotFoundError,
    PermissionDeniedError,
    PkcePair,
    RefreshTokenAuth,
    RequestFinanceClient,
    TokenSet,
    exchange_code,
)
from reqfin_async.auth import DEFAULT_SCOPES
from reqfin_async.sandbox import Sandbox, SandboxConfig
from tests.specbody import SELLER_EMAIL, invoice_body

from .conftest import make_client

REDIRECT_URI = "http://127.0.0.1:9/callback"


def client_credentials(sandbox: Sandbox) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        token_url=sandbox.token_url,
    )


@pytest.fixture
async def oauth_client(sandbox: Sandbox) -> AsyncIterator[RequestFinanceClient]:
    async with make_client(sandbox, client_credentials(sandbox)) as client:
        yield client


async def authorize(sandbox: Sandbox, start: AuthorizationRequest) -> str:
    """Play the browser: follow ``start.url`` without redirects; the code sent back."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(start.url, allow_redirects=False) as answer,
    ):
        assert answer.status == 302
        location = URL(answer.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT_URI
    start.check_state(location.query.get("state"))
    return location.query["code"]


async def code_flow(sandbox: Sandbox, scopes: Sequence[str] = DEFAULT_SCOPES) -> TokenSet:
    """The authorization code flow with PKCE, end to end: the token set."""
    start = AuthorizationRequest.create(
        client_id=sandbox.config.client_id,
        redirect_uri=REDIRECT_URI,
        issuer=sandbox.url,
        scopes=scopes,
    )
    code = await authorize(sandbox, start)
    return await exchange_code(
        code,
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        redirect_uri=REDIRECT_URI,
        code_verifier=start.code_verifier,
        token_url=sandbox.token_url,
    )


# -- client credentials -----------------------------------------------------------------


async def test_client_credentials_token_is_fetched_once_and_reused(
    oauth_client: RequestFinanceClient,
) -> None:
    created = await oauth_client.invoices.create(invoice_body("CC-1"))
    await oauth_client.invoices.get(created.id)
    await asyncio.gather(*(oauth_client.invoices.get(created.id) for _ in range(10)))
    me = await oauth_client.organizations.current_user()
    assert me.email == SELLER_EMAIL
    assert oauth_client.stats.token_requests == 1
    assert oauth_client.stats.requests == 13


async def test_organizations_are_listed_with_oauth(
    oauth_client: RequestFinanceClient,
) -> None:
    organizations = await oauth_client.organizations.list()
    by_name = {org.name: org for org in organizations}
    assert set(by_name) == {"acme-corp", "globex"}
    acme, globex = by_name["acme-corp"], by_name["globex"]
    assert acme.display_name == "Acme Corp"
    assert acme.role == globex.role == "admin"
    assert acme.owner is not None
    assert acme.owner.email == SELLER_EMAIL
    assert globex.owner is not None
    assert globex.owner.email == "globex@sandbox.test"
    # Without X-Organization, calls act for the organization the user owns.
    assert (await oauth_client.organizations.current_user()).organization == acme.id


async def test_organizations_need_oauth(seller: RequestFinanceClient) -> None:
    with pytest.raises(PermissionDeniedError):
        await seller.organizations.list()


async def test_x_organization_scopes_the_data(oauth_client: RequestFinanceClient) -> None:
    by_name = {org.name: org.id for org in await oauth_client.organizations.list()}
    globex = oauth_client.with_options(organization=by_name["globex"])
    acme = oauth_client.with_options(organization=by_name["acme-corp"])
    assert (await globex.organizations.current_user()).organization == by_name["globex"]

    in_globex = await globex.invoices.create(invoice_body("ORG-1"))
    in_own = await oauth_client.invoices.create(invoice_body("ORG-2"))

    assert (await globex.invoices.get(in_globex.id)).id == in_globex.id
    with pytest.raises(NotFoundError):
        await oauth_client.invoices.get(in_globex.id)
    with pytest.raises(NotFoundError):
        await globex.invoices.get(in_own.id)
    # The owned organization is the default: naming it changes nothing.
    assert (await acme.invoices.get(in_own.id)).id == in_own.id
    assert [i.id for i in await globex.invoices.list().collect()] == [in_globex.id]
    assert [i.id for i in await oauth_client.invoices.list().collect()] == [in_own.id]
    # Invoice numbers are unique per organization, not per user.
    assert (await globex.invoices.create(invoice_body("ORG-2"))).invoice_number == "ORG-2"
    # The views share the client's token.
    assert oauth_client.stats.token_requests == 1


async def test_an_organization_the_user_is_not_in_is_refused(
    oauth_client: RequestFinanceClient,
) -> None:
    stranger = oauth_client.with_options(organization="000000000000000000000000")
    with pytest.raises(PermissionDeniedError):
        await stranger.invoices.list().collect()


async def test_wrong_client_secret_is_refused_with_invalid_client(sandbox: Sandbox) -> None:
    auth = ClientCredentialsAuth(
        client_id=sandbox.config.client_id, client_secret="wrong", token_url=sandbox.token_url
    )
    async with make_client(sandbox, auth) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.organizations.current_user()
    assert caught.value.oauth_error == "invalid_client"
    assert caught.value.status_code == 401


async def test_a_revoked_access_token_is_replaced_once_and_the_call_retried(
    sandbox: Sandbox, oauth_client: RequestFinanceClient
) -> None:
    await oauth_client.organizations.current_user()
    sandbox.state.access_tokens.clear()  # the server forgets every token it issued
    me = await oauth_client.organizations.current_user()
    assert me.email == SELLER_EMAIL
    assert oauth_client.stats.token_requests == 2
    assert oauth_client.stats.by_status == {200: 2, 401: 1}


async def test_a_wrong_api_key_is_refused_without_retry(sandbox: Sandbox) -> None:
    async with make_client(sandbox, ApiKeyAuth("not-the-key")) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.invoices.list().collect()
        assert client.stats.requests == 1
    assert caught.value.status_code == 401
    assert caught.value.oauth_error is None
    assert "not-the-key" not in str(caught.value)


# -- authorization code with PKCE --------------------------------------------------------


async def test_authorization_code_flow_with_pkce_end_to_end(sandbox: Sandbox) -> None:
    tokens = await code_flow(sandbox)
    assert tokens.token_type == "Bearer"
    assert tokens.refresh_token  # offline_access is among the default scopes
    assert tokens.expires_in == sandbox.config.token_lifetime_s
    async with make_client(sandbox, BearerAuth(tokens.access_token)) as client:
        me = await client.organizations.current_user()
        assert me.email == SELLER_EMAIL
        created = await client.invoices.create(invoice_body("PKCE-1"))
    # The user's data, whatever the credential: the API key sees the same invoice.
    async with make_client(sandbox) as with_key:
        assert (await with_key.invoices.get(created.id)).invoice_number == "PKCE-1"


async def test_authorization_code_with_a_wrong_verifier_is_refused(sandbox: Sandbox) -> None:
    start = AuthorizationRequest.create(
        client_id=sandbox.config.client_id, redirect_uri=REDIRECT_URI, issuer=sandbox.url
    )
    code = await authorize(sandbox, start)
    with pytest.raises(AuthenticationError) as caught:
        await exchange_code(
            code,
            client_id=sandbox.config.client_id,
            client_secret=sandbox.config.client_secret,
            redirect_uri=REDIRECT_URI,
            code_verifier=PkcePair.generate().verifier,  # not the one of the challenge
            token_url=sandbox.token_url,
        )
    assert caught.value.oauth_error == "invalid_grant"
    assert caught.value.status_code == 400


async def test_authorization_code_is_single_use(sandbox: Sandbox) -> None:
    start = AuthorizationRequest.create(
        client_id=sandbox.config.client_id, redirect_uri=REDIRECT_URI, issuer=sandbox.url
    )
    code = await authorize(sandbox, start)

    async def exchange() -> TokenSet:
        return await exchange_code(
            code,
            client_id=sandbox.config.client_id,
            client_secret=sandbox.config.client_secret,
            redirect_uri=REDIRECT_URI,
            code_verifier=start.code_verifier,
            token_url=sandbox.token_url,
        )

    await exchange()
    with pytest.raises(AuthenticationError) as caught:
        await exchange()
    assert caught.value.oauth_error == "invalid_grant"


async def test_a_forged_state_is_detected(sandbox: Sandbox) -> None:
    start = AuthorizationRequest.create(
        client_id=sandbox.config.client_id, redirect_uri=REDIRECT_URI, issuer=sandbox.url
    )
    with pytest.raises(ValueError, match="state"):
        start.check_state("forged")
    with pytest.raises(ValueError, match="state"):
        start.check_state(None)


async def test_code_flow_needs_the_user_read_scope_for_organizations(sandbox: Sandbox) -> None:
    without = await code_flow(sandbox)
    async with make_client(sandbox, BearerAuth(without.access_token)) as client:
        with pytest.raises(PermissionDeniedError, match="user:read"):
            await client.organizations.list()

    with_scope = await code_flow(sandbox, scopes=(*DEFAULT_SCOPES, "user:read"))
    assert with_scope.scope is not None
    assert "user:read" in with_scope.scope.split()
    async with make_client(sandbox, BearerAuth(with_scope.access_token)) as client:
        names = {org.name for org in await client.organizations.list()}
    assert names == {"acme-corp", "globex"}


# -- refresh-token rotation --------------------------------------------------------------


async def test_refresh_token_rotates_after_expiry_and_the_old_one_is_refused() -> None:
    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, token_lifetime_s=1)
    async with Sandbox(config) as sandbox:
        tokens = await code_flow(sandbox)
        original = tokens.refresh_token
        assert original is not None
        rotated: list[TokenSet] = []
        auth = RefreshTokenAuth.from_token_set(
            tokens,
            client_id=config.client_id,
            client_secret=config.client_secret,
            token_url=sandbox.token_url,
            on_refresh=rotated.append,
        )
        async with make_client(sandbox, auth) as client:
            await asyncio.sleep(1.1)  # the access token has expired, on both sides
            me = await client.organizations.current_user()
            assert me.email == SELLER_EMAIL
            assert rotated, "the expired access token was not refreshed"
            assert client.stats.token_requests == len(rotated)
            first = rotated[0].refresh_token
            assert first is not None
            assert first != original
            assert auth.refresh_token == rotated[-1].refresh_token
            assert rotated[0].access_token != tokens.access_token

        # Whoever still holds the old refresh token is refused.
        stale = RefreshTokenAuth(
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=original,
            token_url=sandbox.token_url,
        )
        async with make_client(sandbox, stale) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.organizations.current_user()
        assert caught.value.oauth_error == "invalid_grant"
        assert caught.value.status_code == 400


async def test_refresh_with_a_new_auth_from_the_stored_token_works(sandbox: Sandbox) -> None:
    """What ``on_refresh`` stores is enough to start again after a restart."""
    stored: list[str] = []
    tokens = await code_flow(sandbox)
    assert tokens.refresh_token is not None
    first = RefreshTokenAuth(
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        refresh_token=tokens.refresh_token,
        token_url=sandbox.token_url,
        on_refresh=lambda new: stored.append(new.refresh_token or ""),
    )
    async with make_client(sandbox, first) as client:
        await client.organizations.current_user()  # no access token given: refresh first
    assert len(stored) == 1
    assert stored[0] not in ("", tokens.refresh_token)

    restarted = RefreshTokenAuth(
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        refresh_token=stored[-1],
        token_url=sandbox.token_url,
    )
    async with make_client(sandbox, restarted) as client:
        assert (await client.organizations.current_user()).email == SELLER_EMAIL
    assert restarted.refresh_token != stored[-1]  # rotated once more


async def test_a_revoked_access_token_makes_the_refresh_token_rotate(sandbox: Sandbox) -> None:
    tokens = await code_flow(sandbox)
    original = tokens.refresh_token
    assert original is not None
    rotated: list[TokenSet] = []

    async def save(new: TokenSet) -> None:  # an async on_refresh is awaited
        rotated.append(new)

    auth = RefreshTokenAuth.from_token_set(
        tokens,
        client_id=sandbox.config.client_id,
        client_secret=sandbox.config.client_secret,
        token_url=sandbox.token_url,
        on_refresh=save,
    )
    async with make_client(sandbox, auth) as client:
        await client.organizations.current_user()
        assert rotated == []  # the exchanged access token was used as is
        sandbox.state.access_tokens.clear()
        await asyncio.gather(*(client.organizations.current_user() for _ in range(5)))
        assert len(rotated) == 1  # one refresh for all the callers
        assert client.stats.token_requests == 1
    assert rotated[0].refresh_token == auth.refresh_token != original


# -- live and test data ------------------------------------------------------------------


async def test_live_and_test_data_are_kept_apart(sandbox: Sandbox) -> None:
    async with (
        make_client(sandbox, network="test") as test,
        make_client(sandbox, ApiKeyAuth(sandbox.config.api_key), network="live") as live,
    ):
        on_test = await test.invoices.create(invoice_body("NET-1"))
        converted = await test.invoices.convert_to_request(on_test.id)
        assert converted.request_id is not None
        assert on_test.type == "test"
        for key in (on_test.id, converted.request_id):
            with pytest.raises(NotFoundError) as caught:
                await live.invoices.get(key)
            assert caught.value.status_code == 404
        assert await live.invoices.list().collect() == []
        with pytest.raises(NotFoundError):
            await live.invoices.convert_to_request(on_test.id)
        assert (await test.invoices.get(converted.request_id)).id == on_test.id
