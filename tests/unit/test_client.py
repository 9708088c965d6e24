"""What the client accepts at construction, what it shows, and the views ``with_options`` makes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from reqfin_async import (
    ApiKeyAuth,
    BearerAuth,
    ClientCredentialsAuth,
    RateLimiter,
    RequestFinanceClient,
    RetryPolicy,
    Timeout,
)

SECRET_KEY = "sk_live_abcdef0123456789"


def make(**kwargs: Any) -> RequestFinanceClient:
    return RequestFinanceClient(ApiKeyAuth(SECRET_KEY), **kwargs)


# -- network and base URL -------------------------------------------------------------------
@pytest.mark.parametrize("network", ["live", "test"])
def test_live_and_test_networks_are_accepted(network: Any) -> None:
    assert make(network=network).network == network


@pytest.mark.parametrize("network", ["prod", "mainnet", "", "LIVE"])
def test_any_other_network_is_refused_at_construction(network: Any) -> None:
    with pytest.raises(ValueError, match="network must be 'live' or 'test'"):
        make(network=network)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.request.finance",
        "https://api.request.finance/",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
        "http://127.0.0.2",
    ],
)
def test_https_and_loopback_base_urls_are_accepted(url: str) -> None:
    assert make(base_url=url).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://example.com", "must use https"),
        ("http://api.request.finance", "must use https"),
        ("http://10.0.0.5:8080", "must use https"),
        ("ftp://api.request.finance", "absolute http"),
        ("api.request.finance", "absolute http"),
        ("https://api.request.finance?key=1", "query or fragment"),
    ],
)
def test_other_base_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        make(base_url=url)


# -- other arguments ------------------------------------------------------------------------
def test_auth_must_be_an_auth_object() -> None:
    with pytest.raises(TypeError, match="auth must be an Auth"):
        RequestFinanceClient(SECRET_KEY)  # type: ignore[arg-type]


def test_a_blank_organization_is_refused() -> None:
    with pytest.raises(ValueError, match="organization"):
        make(organization="  ")


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_view_with_a_blank_organization_is_refused(blank: str) -> None:
    # "" would otherwise send no X-Organization at all, silently.
    with pytest.raises(ValueError, match="organization"):
        make().with_options(organization=blank)


async def test_a_session_and_a_connector_together_are_refused() -> None:
    connector = aiohttp.TCPConnector()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="either a session or a connector"):
            make(session=session, connector=connector)
    await connector.close()


def test_numbers_become_timeout_and_retry_policies() -> None:
    client = make(timeout=4.0, retry=2)
    assert client.options.timeout == Timeout(connect_s=4.0, total_s=4.0)
    assert client.options.retry.max_attempts == 3


def test_the_rate_limiter_can_be_off_or_given() -> None:
    assert make(rate_limit=False).transport.limiter is None
    assert not make(rate_limit=False).rate_limit.known
    limiter = RateLimiter(pace_below=0.5)
    assert make(rate_limit=limiter).transport.limiter is limiter
    assert isinstance(make().transport.limiter, RateLimiter)


def test_construction_opens_nothing() -> None:
    client = make()
    assert client.transport._session is None
    assert not client.closed


# -- what it shows --------------------------------------------------------------------------
def test_repr_shows_the_settings_and_never_the_key() -> None:
    client = make(network="live", organization="org-7")
    shown = repr(client)
    assert shown.startswith("<RequestFinanceClient network='live' ")
    for part in (
        "base_url='https://api.request.finance'",
        "organization='org-7'",
        "auth=ApiKeyAuth(key=[redacted])>",
    ):
        assert part in shown
    assert SECRET_KEY not in shown


async def test_repr_says_when_the_client_is_closed() -> None:
    client = make()
    await client.aclose()
    assert repr(client).startswith("<RequestFinanceClient closed ")


def test_reprs_of_oauth_clients_hide_their_secrets() -> None:
    auth = ClientCredentialsAuth(client_id="cid-1", client_secret="cs-secret-value")
    shown = repr(RequestFinanceClient(auth))
    assert "cs-secret-value" not in shown
    assert "client_id='cid-1'" in shown
    assert "bearer-token-value" not in repr(make().with_options()._auth)
    assert "bearer-token-value" not in repr(RequestFinanceClient(BearerAuth("bearer-token-value")))


# -- views ---------------------------------------------------------------------------------
def test_with_options_makes_a_view_and_leaves_the_parent_alone() -> None:
    client = make(organization="org-1", timeout=10.0, retry=RetryPolicy(max_attempts=4))
    view = client.with_options(timeout=1.0, retry=0, organization="org-2")
    assert view.options.timeout.total_s == 1.0
    assert view.options.retry.max_attempts == 1
    assert view.organization == "org-2"
    assert client.options.timeout.total_s == 10.0
    assert client.options.retry.max_attempts == 4
    assert client.organization == "org-1"
    assert view.transport is client.transport
    assert view.network == client.network
    assert view.invoices is not client.invoices
    assert client.with_options(organization=None).organization is None
    assert client.with_options().options == client.options


# -- from the environment ----------------------------------------------------------------------
def test_from_env_with_an_api_key() -> None:
    client = RequestFinanceClient.from_env(
        {
            "REQFIN_API_KEY": SECRET_KEY,
            "REQFIN_NETWORK": "live",
            "REQFIN_BASE_URL": "http://127.0.0.1:8080",
            "REQFIN_ORGANIZATION": "org-3",
        }
    )
    assert isinstance(client._auth, ApiKeyAuth)
    assert (client.network, client.base_url, client.organization) == (
        "live",
        "http://127.0.0.1:8080",
        "org-3",
    )


def test_from_env_with_client_credentials() -> None:
    client = RequestFinanceClient.from_env(
        {"REQFIN_CLIENT_ID": "cid", "REQFIN_CLIENT_SECRET": "cs"}, retry=0
    )
    assert isinstance(client._auth, ClientCredentialsAuth)
    assert client.network == "test"
    assert client.options.retry.max_attempts == 1


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "REQFIN_API_KEY"),
        ({"REQFIN_CLIENT_ID": "cid"}, "REQFIN_API_KEY"),
        ({"REQFIN_API_KEY": "k", "REQFIN_NETWORK": "prod"}, "REQFIN_NETWORK"),
    ],
)
def test_from_env_refuses_an_incomplete_environment(environ: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RequestFinanceClient.from_env(environ)
