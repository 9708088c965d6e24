"""OAuth 2 credentials with a single-flight token cache.

The access token is kept until ``expires_in`` minus a margin, measured on the
monotonic clock (a wall-clock jump cannot make a token look fresh). Any number
of concurrent calls that need a token await one shared refresh task, so
exactly one token request is made; a 401 drops only the token that failed.

The refresh runs in its own task and callers await it through
``asyncio.shield``: a caller cancelled mid-refresh (a timeout, a client
disconnect) leaves the request to finish, so a rotated refresh token is never
lost half-way, and the next caller picks up the same task.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import msgspec

from .._callbacks import call_back
from .._http.options import RequestOptions, RetryPolicy, Timeout
from .._http.retry import Safety
from .._log import get_logger
from .._urls import check_base_url
from ..errors import AuthenticationError, status_error
from ..models.token import TokenSet
from .base import Auth, FormPoster

__all__ = [
    "DEFAULT_TOKEN_URL",
    "DEFAULT_AUDIENCE",
    "OAuthAuth",
    "ClientCredentialsAuth",
    "RefreshTokenAuth",
    "OnRefresh",
]

DEFAULT_TOKEN_URL = "https://auth.request.finance/oauth/token"  # noqa: S105 - a URL
DEFAULT_AUDIENCE = "accounts"
DEFAULT_TOKEN_LIFETIME_S = 24 * 3600  # what the API documents when `expires_in` is absent
EXPIRY_MARGIN_S = 60.0
EXPIRY_MARGIN_SHARE = 0.1  # short-lived tokens get a proportional margin instead

OnRefresh = Callable[[TokenSet], Awaitable[None] | None]

_log = get_logger()


def _retrieve(task: asyncio.Task[str]) -> None:
    if not task.cancelled():
        task.exception()


def token_lifetime_s(expires_in: int | None) -> float:
    """How long to trust a token: ``expires_in`` minus a margin, never below zero."""
    lifetime = float(expires_in if expires_in is not None else DEFAULT_TOKEN_LIFETIME_S)
    margin = min(EXPIRY_MARGIN_S, lifetime * EXPIRY_MARGIN_SHARE)
    return max(0.0, lifetime - margin)


class OAuthAuth(Auth, abc.ABC):
    """Base of the OAuth credentials: caches the access token, refreshes it once for all."""

    refreshable: ClassVar[bool] = True
    grant_type: ClassVar[str]
    #: Whether a failed token request may be repeated when the server may have acted.
    grant_safety: ClassVar[Safety] = Safety.IDEMPOTENT

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        timeout: Timeout | float = Timeout(),
        retry: RetryPolicy | int = RetryPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not client_secret:
            raise ValueError("client_secret must not be empty")
        check_base_url(token_url, what="token_url")
        self.client_id = client_id
        self.token_url = token_url
        self._client_secret = client_secret
        self._options = RequestOptions(
            timeout=Timeout.coerce(timeout), retry=RetryPolicy.coerce(retry)
        )
        self._clock = clock
        # The header value, built once per token: the same string object on every
        # request also keeps the transport's header cache lookups cheap.
        self._authorization: str | None = None
        self._valid_until = 0.0
        self._refreshing: asyncio.Task[str] | None = None

    # -- the cache -----------------------------------------------------------
    def _store(self, tokens: TokenSet) -> None:
        self._authorization = f"Bearer {tokens.access_token}"
        self._valid_until = self._clock() + token_lifetime_s(tokens.expires_in)

    def current(self) -> str | None:
        if self._authorization is not None and self._clock() < self._valid_until:
            return self._authorization
        return None

    async def authorization(self, http: FormPoster) -> str:
        value = self.current()
        if value is None:
            task = self._refreshing
            if task is None or task.done():
                task = asyncio.ensure_future(self._refresh(http))
                # Retrieved here so that a refresh nobody awaits any more never logs
                # "exception was never retrieved"; the callers still get it.
                task.add_done_callback(_retrieve)
                self._refreshing = task
            value = f"Bearer {await asyncio.shield(task)}"
        return value

    def invalidate(self, value: str) -> None:
        if self._authorization is not None and value == self._authorization:
            self._authorization = None
            self._valid_until = 0.0

    async def _refresh(self, http: FormPoster) -> str:
        tokens = await self.request_tokens(http)
        self._store(tokens)
        _log.info("token_refreshed", grant_type=self.grant_type, expires_in=tokens.expires_in)
        await self._after_refresh(tokens)
        return tokens.access_token

    async def _after_refresh(self, tokens: TokenSet) -> None:
        """Hook for credentials that keep more than the access token."""

    # -- the token endpoint ------------------------------------------------------
    @abc.abstractmethod
    def _form(self) -> dict[str, str]:
        """The grant's form fields, without client credentials."""

    async def request_tokens(self, http: FormPoster) -> TokenSet:
        """Ask the token endpoint for a new token set; refusals raise ``AuthenticationError``."""
        form = {
            "grant_type": self.grant_type,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            **self._form(),
        }
        status, body, request_id = await http.post_form(
            self.token_url, form, options=self._options, safety=self.grant_safety
        )
        return parse_token_response(self.token_url, status, body, request_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r}, client_secret=[redacted])"


def parse_token_response(url: str, status: int, body: Any, request_id: str | None) -> TokenSet:
    """A ``TokenSet`` from a token endpoint's answer, or the error it stands for."""
    if 200 <= status < 300:
        try:
            return msgspec.convert(body, TokenSet)
        except msgspec.ValidationError as exc:
            raise AuthenticationError(
                method="POST",
                path=url,
                status_code=status,
                body=None,
                request_id=request_id,
                reason=f"unreadable token response ({exc})",
            ) from None
    if 400 <= status < 500 and status != 429:
        raise AuthenticationError(
            method="POST", path=url, status_code=status, body=body, request_id=request_id
        )
    raise status_error(
        method="POST", path=url, status_code=status, body=body, request_id=request_id
    )


class ClientCredentialsAuth(OAuthAuth):
    """The Client Credentials flow: acting for your own account with the app's secret.

    There is no refresh token: a new access token is requested with the secret
    whenever the cached one expires. ::

        auth = ClientCredentialsAuth(client_id=cid, client_secret=secret)
        async with RequestFinanceClient(auth, network="live") as client: ...
    """

    grant_type: ClassVar[str] = "client_credentials"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        audience: str = DEFAULT_AUDIENCE,
        timeout: Timeout | float = Timeout(),
        retry: RetryPolicy | int = RetryPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            token_url=token_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
        )
        self.audience = audience

    def _form(self) -> dict[str, str]:
        return {"audience": self.audience}


class RefreshTokenAuth(OAuthAuth):
    """Refresh-token grant for the Authorization Code flow (acting for a user).

    Refresh tokens rotate: each answer may carry a new one, which replaces the
    old one at once and is handed to ``on_refresh`` (sync or async) so that it
    can be stored; the old one will be refused from then on. ::

        auth = RefreshTokenAuth(client_id=cid, client_secret=secret,
                                refresh_token=stored, on_refresh=save_tokens)
    """

    grant_type: ClassVar[str] = "refresh_token"
    # Repeating a refresh the server may have honoured would reuse a rotated token.
    grant_safety: ClassVar[Safety] = Safety.UNSAFE

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str = DEFAULT_TOKEN_URL,
        on_refresh: OnRefresh | None = None,
        access_token: str | None = None,
        expires_in: int | None = None,
        timeout: Timeout | float = Timeout(),
        retry: RetryPolicy | int = RetryPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            token_url=token_url,
            timeout=timeout,
            retry=retry,
            clock=clock,
        )
        if not refresh_token:
            raise ValueError("refresh_token must not be empty")
        self._refresh_token = refresh_token
        self._on_refresh = on_refresh
        if access_token:
            self._store(TokenSet(access_token=access_token, expires_in=expires_in))

    @classmethod
    def from_token_set(
        cls,
        tokens: TokenSet,
        *,
        client_id: str,
        client_secret: str,
        token_url: str = DEFAULT_TOKEN_URL,
        on_refresh: OnRefresh | None = None,
    ) -> RefreshTokenAuth:
        """Continue from the tokens an authorization-code exchange returned.

        ::

            tokens = await exchange_code(code, client_id=cid, client_secret=secret, ...)
            auth = RefreshTokenAuth.from_token_set(tokens, client_id=cid, client_secret=secret)
        """
        if not tokens.refresh_token:
            raise ValueError(
                "this token set has no refresh token: ask for the offline_access scope"
            )
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=tokens.refresh_token,
            token_url=token_url,
            on_refresh=on_refresh,
            access_token=tokens.access_token,
            expires_in=tokens.expires_in,
        )

    @property
    def refresh_token(self) -> str:
        """The current refresh token (rotated ones replace it)."""
        return self._refresh_token

    def _form(self) -> dict[str, str]:
        return {"refresh_token": self._refresh_token}

    async def _after_refresh(self, tokens: TokenSet) -> None:
        if tokens.refresh_token and tokens.refresh_token != self._refresh_token:
            self._refresh_token = tokens.refresh_token
            _log.info("refresh_token_rotated")
        if self._on_refresh is not None:
            # Hand over the complete set: without rotation the answer omits the refresh token.
            complete = msgspec.structs.replace(tokens, refresh_token=self._refresh_token)
            await call_back(self._on_refresh, complete)
