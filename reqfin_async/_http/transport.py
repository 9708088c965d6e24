"""The transport: one aiohttp session, the request loop, retries and rate pacing.

Every HTTP concern of the client lives here, so that resources only say which
method, path and body they send and what type they read back.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

import aiohttp
import anyio
import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from .._log import debug_enabled, get_logger
from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    status_error,
)
from .options import RequestOptions, RetryPolicy
from .ratelimit import RateLimiter
from .retry import Safety, is_retryable, parse_retry_after, retry_delay

if TYPE_CHECKING:
    from ..auth.base import Auth

__all__ = ["Transport", "Response", "TransportStats", "Params"]

Params = Mapping[str, str] | Sequence[tuple[str, str]]
T = TypeVar("T")

DEFAULT_MAX_CONNECTIONS = 100
# The coroutine behind ClientSession.request() in every aiohttp 3 release; the
# public wrapper stays the fallback should a later release rename it.
_NATIVE_SEND = callable(getattr(aiohttp.ClientSession, "_request", None))
_MAX_HEADER_SETS = 32
_log = get_logger()


@dataclass(slots=True)
class Response:
    """One successful answer: status, headers and the raw body, decoded by the caller."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes
    method: str
    path: str

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")


@dataclass(slots=True)
class TransportStats:
    """Counters since the client opened: attempts sent, retries, 429s and failures."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: int = 0
    token_requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


def decode_body(content: bytes, content_type: str | None) -> Any:
    """An error body as JSON when it parses, else as text (the API's shape is not published)."""
    if not content:
        return None
    if content_type is None or "json" in content_type or content[:1] in (b"{", b"["):
        try:
            return msgspec.json.decode(content)
        except msgspec.DecodeError:
            pass
    return content.decode("utf-8", errors="replace")


def _is_dropped(exc: BaseException) -> bool:
    """A connection that broke under a request (not one that could not be opened)."""
    return isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    ) and not isinstance(exc, aiohttp.ClientConnectorError)


def _classify_failure(
    exc: TimeoutError | aiohttp.ClientError,
    method: str,
    path: str,
    options: RequestOptions,
    safety: Safety,
) -> tuple[APIError, bool, str]:
    """The error a failed attempt stands for, whether it may be retried, and a short name."""
    if isinstance(exc, TimeoutError):
        # A connect timeout means nothing was sent: safe to repeat even a POST.
        unsent = isinstance(exc, aiohttp.ConnectionTimeoutError)
        error: APIError = APITimeoutError(
            method=method, path=path, timeout_s=options.timeout.total_s
        )
        return error, safety is Safety.IDEMPOTENT or unsent, "timeout"
    if isinstance(exc, aiohttp.ClientSSLError):
        return (
            APIConnectionError(method=method, path=path, message=f"TLS failure: {exc}"),
            False,
            "tls",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        # The request never reached the server: even a POST may be sent again.
        error = APIConnectionError(
            method=method, path=path, message=f"cannot connect: {exc.os_error}", refused=True
        )
        return error, True, "connect"
    error = APIConnectionError(method=method, path=path, message=f"{type(exc).__name__}: {exc}")
    return error, safety is Safety.IDEMPOTENT, type(exc).__name__


class Transport:
    """Sends requests for one client: headers, auth, timeouts, retries, pacing.

    The aiohttp session is created inside the running loop on first use and
    closed by :meth:`aclose`; a session or connector handed in by the user is
    used as is and never closed here.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        static_headers: Mapping[str, str],
        session: aiohttp.ClientSession | None = None,
        connector: aiohttp.BaseConnector | None = None,
        limiter: RateLimiter | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.limiter = limiter
        self.stats = TransportStats()
        self._static_headers = dict(static_headers)
        self._header_sets: dict[tuple[str | None, str], CIMultiDict[str]] = {}
        self._user_session = session
        self._user_connector = connector
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = session
        self._closed = False
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    # -- lifecycle -----------------------------------------------------------
    @property
    def rng(self) -> random.Random:
        """The source of jitter (seedable in tests)."""
        return self._rng

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError(
                "this client is closed: create a new RequestFinanceClient to send more calls"
            )
        session = self._session
        if session is None:
            # Created here, inside the running loop, never at construction time.
            if self._user_connector is not None:
                connector: aiohttp.BaseConnector = self._user_connector
            else:
                connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            session = aiohttp.ClientSession(
                connector=connector,
                connector_owner=self._user_connector is None,
                # An API client has no use for cookies, and keeping them could mix accounts.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            if hasattr(session, "_retry_connection"):
                # aiohttp silently resends an idempotent request once after a dropped
                # connection; retries belong to our policy (and to the rate budget's
                # count), which resends a first drop at once instead.
                session._retry_connection = False
            self._session = session
        elif session.closed:
            raise ClientClosedError("the aiohttp session given to this client was closed")
        return session

    async def open(self) -> None:
        """Create the session now (``async with client`` does this)."""
        self._ensure_session()

    async def aclose(self) -> None:
        """Close the session this transport created; idempotent."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and session is not self._user_session:
            await session.close()

    # -- headers ------------------------------------------------------------
    def _header_set(self, organization: str | None, auth_value: str) -> CIMultiDict[str]:
        """The headers of a call, built once per organization and token.

        aiohttp copies what it is given, so the same few sets serve every call;
        a ``CIMultiDict`` is taken as is, where a ``dict`` would be converted on
        each call.
        """
        if len(self._header_sets) >= _MAX_HEADER_SETS:  # tokens rotate: stay small
            self._header_sets.clear()
        headers: CIMultiDict[str] = CIMultiDict(self._static_headers)
        if organization:
            headers["X-Organization"] = organization
        if auth_value:
            headers["Authorization"] = auth_value
        self._header_sets[(organization, auth_value)] = headers
        return headers

    # -- the request loop ---------------------------------------------------
    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        options: RequestOptions,
        params: Params | None = ...,
        body: bytes | None = ...,
        safety: Safety = ...,
        into: None = ...,
    ) -> Response: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        options: RequestOptions,
        params: Params | None = ...,
        body: bytes | None = ...,
        safety: Safety = ...,
        into: Callable[[Response], T],
    ) -> T: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        options: RequestOptions,
        params: Params | None = None,
        body: bytes | None = None,
        safety: Safety = Safety.IDEMPOTENT,
        into: Callable[[Response], Any] | None = None,
    ) -> Any:
        """Send one call, retrying what the policy allows; return a 2xx/3xx answer or raise.

        With ``into``, the answer is returned as ``into(response)`` (a decoded
        body): a resource can then hand this coroutine to its caller as is,
        without a coroutine of its own around it.
        """
        # The hot path of every call: names are bound once, and the success path
        # makes as few calls of its own as it can (each costs more than it seems
        # amid thousands of tasks).
        url = self.base_url + path
        policy = options.retry
        timeout = options.client_timeout
        organization = options.organization
        header_sets = self._header_sets
        auth = self.auth
        limiter = self.limiter
        stats = self.stats
        debug = debug_enabled()
        started = 0.0
        refreshed = False
        dropped_once = False
        attempt = 0
        while True:
            attempt += 1
            auth_value = auth.current()
            if auth_value is None:
                auth_value = await auth.authorization(self)
            if limiter is not None and not limiter.try_acquire():
                await limiter.acquire()
            stats.requests += 1
            if debug:
                started = time.perf_counter()
            retry_after: float | None = None
            try:
                try:
                    # Looked up on every attempt, after every wait: the client may
                    # have been closed during a backoff or a token refresh.
                    session = self._session
                    if session is None or session.closed or self._closed:
                        session = self._ensure_session()
                    headers = header_sets.get((organization, auth_value))
                    if headers is None:
                        headers = self._header_set(organization, auth_value)
                    # aiohttp's own coroutine, awaited: session.request() wraps it in a
                    # context manager (more frames to pass on every suspension, its
                    # keywords packed twice) for the release() the finally below does.
                    send = session._request if _NATIVE_SEND else session.request
                    resp = await send(
                        method, url, params=params, data=body, headers=headers, timeout=timeout
                    )
                    try:
                        content = await resp.read()
                    finally:
                        resp.release()
                except BaseException:
                    if limiter is not None:
                        limiter.release()  # no answer: the call just ends
                    raise
                if limiter is not None:
                    limiter.answered(resp.headers, refused=resp.status == 429)
            except (TimeoutError, aiohttp.ClientError) as exc:
                error, retryable, failure = _classify_failure(exc, method, path, options, safety)
                if debug:
                    self._log_failure(method, path, attempt, started, failure)
                if retryable and not dropped_once and _is_dropped(exc):
                    # Most often a pooled keep-alive connection the server had closed:
                    # resend at once, as HTTP/1.1 allows for idempotent requests.
                    dropped_once = True
                    if attempt < policy.max_attempts:
                        stats.errors += 1
                        stats.retries += 1
                        continue
            else:
                status = resp.status
                resp_headers = resp.headers
                by_status = stats.by_status
                by_status[status] = by_status.get(status, 0) + 1
                if debug:
                    _log.debug(
                        "http_request",
                        method=method,
                        path=path,  # the log's processor redacts it
                        status=status,
                        attempt=attempt,
                        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                        request_id=resp_headers.get("x-request-id"),
                    )
                if status < 400:
                    response = Response(status, resp_headers, content, method, path)
                    return response if into is None else into(response)
                retry_after = parse_retry_after(resp_headers.get("Retry-After"))
                if status == 429:
                    stats.rate_limited += 1
                    if limiter is not None and retry_after is not None:
                        # Every caller waits, but never longer than a retry would: a
                        # server asking for an hour must not freeze the client for one.
                        limiter.pause(min(retry_after, policy.retry_after_cap_s))
                if status == 401 and self.auth.refreshable and not refreshed:
                    # Only the token that failed is dropped; the call is tried once more.
                    refreshed = True
                    self.auth.invalidate(auth_value)
                    attempt -= 1
                    continue
                error = status_error(
                    method=method,
                    path=path,
                    status_code=status,
                    body=decode_body(content, resp.content_type),
                    request_id=resp_headers.get("x-request-id"),
                    reason=resp.reason,
                    retry_after=retry_after,
                )
                retryable = is_retryable(status, safety, retry_after)
            stats.errors += 1
            delay = (
                self._next_retry(
                    policy,
                    attempt,
                    retry_after,
                    method,
                    path,
                    type(error).__name__,
                    getattr(error, "status_code", None),
                )
                if retryable
                else None
            )
            if delay is None:
                raise error
            await anyio.sleep(delay)

    def _next_retry(
        self,
        policy: RetryPolicy,
        attempt: int,
        retry_after: float | None,
        method: str,
        path: str,
        reason: str,
        status: int | None,
    ) -> float | None:
        """The wait before the next attempt, counted and logged; ``None`` when none is left."""
        delay = retry_delay(policy, attempt, retry_after, self._rng)
        if delay is not None:
            self.stats.retries += 1
            _log.info(
                "http_retry",
                method=method,
                path=path,
                attempt=attempt,
                delay_s=round(delay, 3),
                reason=reason,
                status=status,
            )
        return delay

    def _log_failure(
        self, method: str, path: str, attempt: int, started: float, failure: str
    ) -> None:
        _log.debug(
            "http_request",
            method=method,
            path=path,  # the log's processor redacts it
            status=None,
            attempt=attempt,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            failure=failure,
        )

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        options: RequestOptions,
        safety: Safety,
    ) -> tuple[int, Any, str | None]:
        """POST a form to an absolute URL (an OAuth token endpoint), with retries but no auth.

        Returns ``(status, decoded body, request id)`` for any answer; raises
        only when no answer came.
        """
        policy = options.retry
        timeout = options.client_timeout
        headers = {"Accept": "application/json", "User-Agent": self._static_headers["User-Agent"]}
        attempt = 0
        while True:
            attempt += 1
            session = self._ensure_session()  # closed during a backoff: ClientClosedError
            self.stats.token_requests += 1
            retry_after: float | None = None
            try:
                async with session.post(
                    url, data=dict(form), headers=headers, timeout=timeout
                ) as resp:
                    content = await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                error, retryable, _ = _classify_failure(exc, "POST", url, options, safety)
            else:
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                answer = (
                    status,
                    decode_body(content, resp.content_type),
                    resp.headers.get("x-request-id"),
                )
                # The caller turns the last answer into an error; transient ones are retried.
                if status >= 400:
                    self.stats.errors += 1
                if not is_retryable(status, safety, retry_after):
                    return answer
                delay = self._next_retry(
                    policy, attempt, retry_after, "POST", url, f"status {status}", status
                )
                if delay is None:
                    return answer
                await anyio.sleep(delay)
                continue
            self.stats.errors += 1
            delay = (
                self._next_retry(
                    policy, attempt, retry_after, "POST", url, type(error).__name__, None
                )
                if retryable
                else None
            )
            if delay is None:
                raise error
            await anyio.sleep(delay)
