"""``InvoiceCollectorClient``: the customer endpoints of a self-hosted Invoice-Collector.

The client composes the core :class:`~reqfin_async._http.transport.Transport`
(one aiohttp session made inside the loop, timeouts, retries, redacted debug
logs) with ``Authorization: Bearer <bearer>``; this module only says which
method, path and body each operation sends and what it reads back::

    async with InvoiceCollectorClient("http://localhost:8080/api/v1", bearer=bearer) as ic:
        token = await ic.create_user_token(email="ann@acme.example", locale="en", remote_id="A1")
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from .._http.headers import user_agent as user_agent_header
from .._http.options import RequestOptions, RetryPolicy, Timeout
from .._http.retry import Safety
from .._http.transport import DEFAULT_MAX_CONNECTIONS, Response, Transport, TransportStats
from .._urls import check_base_url
from ..auth.base import BearerAuth
from ..errors import APIStatusError, ClientClosedError
from ..models._codec import encode
from ..resources._base import decode_response
from .checks import check_customer_update, check_new_user, check_remote_id
from .errors import collector_status_error
from .models import Customer, CustomerUpdate, Locale, NewUser, TokenAnswer, UserRef, UserToken

__all__ = ["InvoiceCollectorClient", "DEFAULT_COLLECTOR_URL", "DEFAULT_USER_TOKEN_LIFETIME_S"]

DEFAULT_COLLECTOR_URL = "http://localhost:8080/api/v1"
# The document's lifetime; newer servers give 30 minutes, so 10 is the safe guess.
DEFAULT_USER_TOKEN_LIFETIME_S = 600.0


def _check_collector_url(base_url: str, *, allow_insecure_http: bool) -> None:
    url = URL(base_url)
    if allow_insecure_http and url.scheme == "http" and url.host:
        try:
            public = ipaddress.ip_address(url.host.strip("[]")).is_global
        except ValueError:
            public = False  # a name (a compose service, a LAN host): the caller vouches for it
        if public:
            raise ValueError(
                f"allow_insecure_http is for private hosts; {url.host} is a public address"
            )
    check_base_url(base_url, allow_http=allow_insecure_http)


class InvoiceCollectorClient:
    """The asyncio client of a self-hosted Invoice-Collector's customer API.

    ::

        async with InvoiceCollectorClient("http://localhost:8080/api/v1", bearer=bearer) as ic:
            await ic.update_customer(callback="https://erp.example/collector-callback")

    ``base_url`` keeps its path prefix (``/api/v1``). Plain http is accepted
    for loopback hosts; ``allow_insecure_http=True`` also accepts it for a
    host on your private network (a container next to yours), a conscious
    choice since the bearer then travels in clear text. Every call is safe to
    repeat, so transient failures are retried under ``retry``. A ``session``
    or ``connector`` you pass is used and left open.
    """

    def __init__(
        self,
        base_url: str,
        bearer: str,
        *,
        timeout: Timeout | float | None = Timeout(),
        retry: RetryPolicy | int = RetryPolicy(),
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        allow_insecure_http: bool = False,
        token_lifetime_s: float = DEFAULT_USER_TOKEN_LIFETIME_S,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        user_agent: str | None = None,
    ) -> None:
        if session is not None and connector is not None:
            raise ValueError("pass either a session or a connector, not both")
        if not isinstance(bearer, str) or not bearer.strip():
            raise ValueError("bearer must be the customer's non-empty bearer token")
        if bearer.strip().lower().startswith("bearer "):
            raise ValueError("pass the bearer token without the 'Bearer ' prefix")
        if token_lifetime_s <= 0:
            raise ValueError(f"token_lifetime_s must be positive, got {token_lifetime_s}")
        _check_collector_url(base_url, allow_insecure_http=allow_insecure_http)
        self._transport = Transport(
            base_url=base_url,
            auth=BearerAuth(bearer),
            static_headers={
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": user_agent_header(user_agent),
            },
            session=session,
            connector=connector,
            max_connections=max_connections,
        )
        self._options = RequestOptions(
            timeout=Timeout.coerce(timeout), retry=RetryPolicy.coerce(retry)
        )
        self._token_lifetime = timedelta(seconds=token_lifetime_s)

    # -- properties -----------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def options(self) -> RequestOptions:
        """The timeout and retry policy every call runs with."""
        return self._options

    @property
    def stats(self) -> TransportStats:
        """Counters of requests, retries and errors since the client was built."""
        return self._transport.stats

    @property
    def closed(self) -> bool:
        return self._transport.closed

    # -- operations -----------------------------------------------------------
    async def get_customer(self) -> Customer:
        """Your name and callback URL (``GET /customer``).

        ::

            customer = await ic.get_customer()
            customer.name, customer.callback
        """
        return decode_response(await self._send("GET", "/customer"), Customer)

    async def update_customer(self, *, callback: str, name: str | None = None) -> None:
        """Set the URL invoices are POSTed to, and optionally your name (``POST /customer``).

        ::

            await ic.update_customer(callback="https://erp.example/collector-callback")

        ``callback`` must be an absolute http(s) URL: it is checked before sending.
        """
        check_customer_update(callback, name)
        await self._send(
            "POST", "/customer", body=encode(CustomerUpdate(callback=callback, name=name))
        )

    async def create_user_token(
        self, *, email: str, locale: Locale = "en", remote_id: str
    ) -> UserToken:
        """A new short-lived token for one of your users, created on first use (``POST /user``).

        ::

            token = await ic.create_user_token(email="ann@acme.example", remote_id="A1")
            url = ic.ui_url(token)

        The user is created or found by ``remote_id`` (no spaces), and the
        server emails ``email`` the terms of use; ``locale`` is ``en`` or ``fr``.
        All three are checked before sending. Each call makes a new token;
        older ones stay valid until they expire.
        """
        check_new_user(email, locale, remote_id)
        issued_at = datetime.now(UTC)
        body = encode(NewUser(email=email, locale=locale, remote_id=remote_id))
        answer = decode_response(await self._send("POST", "/user", body=body), TokenAnswer)
        return UserToken(
            token=answer.token, remote_id=remote_id, expires_at=issued_at + self._token_lifetime
        )

    def ui_url(self, token: UserToken | str) -> str:
        """The page where the user adds and removes collectors (no request is made).

        ::

            url = ic.ui_url(token)   # "http://localhost:8080/api/v1/ui?token=..."
        """
        value = token.token if isinstance(token, UserToken) else token
        if not isinstance(value, str) or not value:
            raise ValueError("ui_url needs a user token from create_user_token()")
        return f"{self.base_url}/ui?{urlencode({'token': value})}"

    async def test_callback(self) -> None:
        """Ask the server to POST a fake invoice to your callback now (``GET /test_callback``).

        ::

            await ic.test_callback()   # your receiver gets one invoice delivery
        """
        # Each call delivers a new fake invoice: never resent after a doubtful failure.
        await self._send("GET", "/test_callback", safety=Safety.UNSAFE)

    async def delete_user(self, *, remote_id: str) -> None:
        """Remove a user with its credentials and collectors (``DELETE /user``).

        ::

            await ic.delete_user(remote_id="A1")

        An unknown ``remote_id`` raises ``CollectorBadRequestError`` (the server
        answers 400); so may a retry after an answer lost on the way back.
        """
        check_remote_id(remote_id)
        await self._send("DELETE", "/user", body=encode(UserRef(remote_id=remote_id)))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        safety: Safety = Safety.IDEMPOTENT,
    ) -> Response:
        if self._transport.closed:
            raise ClientClosedError(
                "this InvoiceCollectorClient is closed: create a new one to send more calls"
            )
        try:
            # Safe to repeat but for the test callback: reads, deletes, the customer
            # update (same body, same state) and POST /user (create-or-get by remote_id).
            return await self._transport.request(
                method, path, options=self._options, body=body, safety=safety
            )
        except APIStatusError as exc:
            raise collector_status_error(exc) from None

    # -- lifecycle ------------------------------------------------------------
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
        """Close the session this client created (idempotent)."""
        await self._transport.aclose()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<InvoiceCollectorClient{state} base_url={self.base_url!r} bearer=[redacted]>"
