"""``RequestFinanceClient``: options, lifecycle, and the wiring of the resources."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Literal, Self, get_args

import aiohttp

from ._http.headers import user_agent as user_agent_header
from ._http.options import UNSET, RequestOptions, RetryPolicy, Timeout, Unset
from ._http.ratelimit import RateLimiter, RateLimitState
from ._http.transport import DEFAULT_MAX_CONNECTIONS, Transport, TransportStats
from ._urls import check_base_url
from .auth.base import ApiKeyAuth, Auth
from .auth.oauth import DEFAULT_TOKEN_URL, ClientCredentialsAuth
from .resources.clients import ClientsResource
from .resources.currencies import CurrenciesResource
from .resources.invoices import InvoicesResource
from .resources.organizations import OrganizationsResource
from .resources.salaries import SalariesResource

__all__ = ["RequestFinanceClient", "Network", "DEFAULT_BASE_URL"]

Network = Literal["live", "test"]
DEFAULT_BASE_URL = "https://api.request.finance"
_NETWORKS: tuple[str, ...] = get_args(Network)


class RequestFinanceClient:
    """The asyncio client of the Request Finance invoice API.

    ::

        async with RequestFinanceClient(ApiKeyAuth(key), network="test") as client:
            invoice = await client.invoices.get("0196...")

    One aiohttp session serves every call; it is created inside the running
    loop and closed by ``async with`` or :meth:`aclose` (never by the garbage
    collector). A ``session`` or ``connector`` you pass is used and left open.
    ``with_options`` gives a view with other timeouts, retries or organization
    that shares this client's session, token cache and rate budget.
    """

    def __init__(
        self,
        auth: Auth,
        *,
        network: Network = "test",
        base_url: str = DEFAULT_BASE_URL,
        organization: str | None = None,
        timeout: Timeout | float | None = Timeout(),
        retry: RetryPolicy | int = RetryPolicy(),
        rate_limit: RateLimiter | bool = True,
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        user_agent: str | None = None,
    ) -> None:
        if not isinstance(auth, Auth):
            raise TypeError(
                f"auth must be an Auth such as ApiKeyAuth(...) or ClientCredentialsAuth(...), "
                f"got {type(auth).__name__}"
            )
        if network not in _NETWORKS:
            raise ValueError(f"network must be 'live' or 'test', got {network!r}")
        if session is not None and connector is not None:
            raise ValueError("pass either a session or a connector, not both")
        check_base_url(base_url)
        limiter = rate_limit if isinstance(rate_limit, RateLimiter) else None
        if rate_limit is True:
            limiter = RateLimiter()
        self._network: Network = network
        self._auth = auth
        self._transport = Transport(
            base_url=base_url,
            auth=auth,
            static_headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": user_agent_header(user_agent),
                "X-Network": network,
            },
            session=session,
            connector=connector,
            limiter=limiter,
            max_connections=max_connections,
        )
        self._options = RequestOptions(
            timeout=Timeout.coerce(timeout),
            retry=RetryPolicy.coerce(retry),
            organization=organization,
        )
        self._owns_transport = True
        self._bind_resources()

    def _bind_resources(self) -> None:
        self.invoices = InvoicesResource(self)
        self.salaries = SalariesResource(self)
        self.organizations = OrganizationsResource(self)
        self.clients = ClientsResource(self)
        self.currencies = CurrenciesResource(self)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **kwargs: object
    ) -> RequestFinanceClient:
        """A client configured from ``REQFIN_*`` environment variables.

        ``REQFIN_API_KEY`` — or ``REQFIN_CLIENT_ID`` and ``REQFIN_CLIENT_SECRET``
        (client credentials, with ``REQFIN_TOKEN_URL``) —, ``REQFIN_NETWORK``
        (``test`` by default), ``REQFIN_BASE_URL`` and ``REQFIN_ORGANIZATION``. ::

            async with RequestFinanceClient.from_env() as client: ...
        """
        env = os.environ if environ is None else environ
        auth: Auth
        if env.get("REQFIN_API_KEY"):
            auth = ApiKeyAuth(env["REQFIN_API_KEY"])
        elif env.get("REQFIN_CLIENT_ID") and env.get("REQFIN_CLIENT_SECRET"):
            auth = ClientCredentialsAuth(
                client_id=env["REQFIN_CLIENT_ID"],
                client_secret=env["REQFIN_CLIENT_SECRET"],
                token_url=env.get("REQFIN_TOKEN_URL", DEFAULT_TOKEN_URL),
            )
        else:
            raise ValueError(
                "set REQFIN_API_KEY, or REQFIN_CLIENT_ID and REQFIN_CLIENT_SECRET, to authenticate"
            )
        network = env.get("REQFIN_NETWORK", "test")
        if network not in _NETWORKS:
            raise ValueError(f"REQFIN_NETWORK must be 'live' or 'test', got {network!r}")
        return cls(
            auth,
            network=network,  # type: ignore[arg-type]  # checked just above
            base_url=env.get("REQFIN_BASE_URL", DEFAULT_BASE_URL),
            organization=env.get("REQFIN_ORGANIZATION") or None,
            **kwargs,  # type: ignore[arg-type]
        )

    # -- options --------------------------------------------------------------
    @property
    def network(self) -> Network:
        return self._network

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def organization(self) -> str | None:
        return self._options.organization

    @property
    def options(self) -> RequestOptions:
        """The timeout, retry policy and organization this client (or view) sends with."""
        return self._options

    @property
    def transport(self) -> Transport:
        """The shared transport (for extensions and the poller; not needed for normal use)."""
        return self._transport

    @property
    def rate_limit(self) -> RateLimitState:
        """What the client knows of its rate budget from the last answers."""
        limiter = self._transport.limiter
        if limiter is None:
            return RateLimitState(limit=None, remaining=None, reset_in_s=None, paused_for_s=0.0)
        return limiter.state()

    @property
    def stats(self) -> TransportStats:
        """Counters of requests, retries, 429s and errors since the client was built."""
        return self._transport.stats

    def with_options(
        self,
        *,
        timeout: Timeout | float | Unset | None = UNSET,
        retry: RetryPolicy | int | Unset = UNSET,
        organization: str | Unset | None = UNSET,
    ) -> RequestFinanceClient:
        """A view of this client with other per-call options; it shares the session.

        ::

            fast = client.with_options(timeout=2.0, retry=0)
            await fast.invoices.get(rid)
            await client.with_options(organization=org_id).invoices.create(body)
        """
        view = object.__new__(type(self))
        view._network = self._network
        view._auth = self._auth
        view._transport = self._transport
        view._options = self._options.replace(
            timeout=timeout, retry=retry, organization=organization
        )
        view._owns_transport = False
        view._bind_resources()
        return view

    # -- lifecycle ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._transport.closed

    async def __aenter__(self) -> Self:
        await self._transport.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session this client created. A view leaves the shared session open."""
        if self._owns_transport:
            await self._transport.aclose()

    def __repr__(self) -> str:
        org = f" organization={self.organization!r}" if self.organization else ""
        state = " closed" if self.closed else ""
        return (
            f"<RequestFinanceClient{state} network={self._network!r} "
            f"base_url={self.base_url!r}{org} auth={self._auth!r}>"
        )
