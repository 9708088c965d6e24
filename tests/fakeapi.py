"""A small programmable HTTP server on 127.0.0.1 for the client's tests.

Routes are registered per method and path pattern, each with a queue of
handlers consumed in order (the last one repeats); every request is recorded
with its method, paths, query, headers, raw body and arrival time::

    async with FakeAPI() as api:
        api.add("GET", "/invoices/{id}", reply(500), reply({"id": "1"}))
        client = RequestFinanceClient(ApiKeyAuth("k"), base_url=api.url)
        ...
        assert len(api.calls("GET", "/invoices/1")) == 2

Patterns are matched against the raw path (percent-escapes kept), so a test
can tell ``/invoices/a%2Fb`` from ``/invoices/a/b``. ``{name}`` matches one
segment; the values are in ``request["params"]`` (see :func:`param`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from reqfin_async import ApiKeyAuth, Auth, RequestFinanceClient, RetryPolicy, Timeout

__all__ = [
    "FAST_RETRY",
    "FakeAPI",
    "Handler",
    "Recorded",
    "client_for",
    "delayed",
    "drop_connection",
    "free_port",
    "invoice_json",
    "param",
    "reply",
    "text_reply",
    "token_reply",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_SEGMENT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    """The decoded path (``/invoices/a/b`` for ``/invoices/a%2Fb``)."""
    raw_path: str
    """The path exactly as sent, without the query."""
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    body: bytes
    at: float
    """``time.monotonic()`` when the request arrived."""

    def __repr__(self) -> str:
        query = f"?{self.query_string()}" if self.query else ""
        return f"<Recorded {self.method} {self.raw_path}{query} ({len(self.body)} bytes)>"

    def query_string(self) -> str:
        return "&".join(f"{key}={value}" for key, value in self.query.items())

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(slots=True)
class _Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handlers: list[Handler]
    served: int = 0

    def next_handler(self) -> Handler:
        handler = self.handlers[min(self.served, len(self.handlers) - 1)]
        self.served += 1
        return handler


def _compile(pattern: str) -> re.Pattern[str]:
    parts = _SEGMENT.split(pattern)
    # split() alternates literal text and group names: even indexes are literal.
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


@dataclass
class FakeAPI:
    """The server; an async context manager that listens on ``url`` while open."""

    port: int = 0
    requests: list[Recorded] = field(default_factory=list, repr=False)
    _routes: list[_Route] = field(default_factory=list, repr=False)
    _runner: web.AppRunner | None = field(default=None, repr=False)
    _url: str | None = field(default=None, repr=False)

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Cancelling handlers whose client went away keeps slow handlers from
        # outliving a test that timed out on them.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{self.port}"
        self._runner = runner

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the base URL to give a client."""
        assert self._url is not None, "start the server first"
        return self._url

    # -- programming ----------------------------------------------------------
    def add(self, method: str, pattern: str, *handlers: Handler) -> None:
        """Answer ``method pattern`` with ``handlers`` in turn, the last one repeating.

        Registering the same method and pattern again replaces its queue.
        """
        if not handlers:
            raise ValueError("give at least one handler")
        method = method.upper()
        route = _Route(method, pattern, _compile(pattern), list(handlers))
        for i, existing in enumerate(self._routes):
            if existing.method == method and existing.pattern == pattern:
                self._routes[i] = route
                return
        self._routes.append(route)

    # -- inspection ---------------------------------------------------------
    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """The recorded requests, filtered by method and by pattern of the raw path."""
        regex = _compile(path) if path is not None else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (regex is None or regex.match(r.raw_path))
        ]

    # -- serving ------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        raw_path = request.rel_url.raw_path
        query: MultiDict[str] = MultiDict(parse_qsl(request.rel_url.raw_query_string))
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                raw_path=raw_path,
                query=MultiDictProxy(query),
                headers=request.headers,
                body=body,
                at=time.monotonic(),
            )
        )
        for route in self._routes:
            if route.method != request.method:
                continue
            match = route.regex.match(raw_path)
            if match is None:
                continue
            request["params"] = match.groupdict()
            return await route.next_handler()(request)
        return web.json_response(
            {"message": f"no route for {request.method} {raw_path}"}, status=404
        )


# -- handlers -------------------------------------------------------------------
def param(request: web.Request, name: str) -> str:
    """The value of ``{name}`` in the pattern that matched ``request`` (still percent-escaped)."""
    params: dict[str, str] = request["params"]
    return params[name]


def reply(
    data: Any = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Handler:
    """Answer ``data`` as JSON (or nothing when ``data`` is None) with ``status`` and headers.

    ``reply(500)`` is a shortcut for an empty answer with that status.
    """
    if isinstance(data, int) and not isinstance(data, bool) and status == 200:
        data, status = None, data
    content = b"" if data is None else msgspec.json.encode(data)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=content,
            status=status,
            headers=dict(headers or {}),
            content_type="application/json" if content else None,
        )

    return handler


def text_reply(
    text: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "text/plain",
) -> Handler:
    """Answer plain text (an HTML error page, a proxy's message)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=text, status=status, headers=dict(headers or {}), content_type=content_type
        )

    return handler


def token_reply(
    access_token: str,
    *,
    expires_in: int | None = 3600,
    refresh_token: str | None = None,
) -> Handler:
    """Answer like an OAuth token endpoint."""
    data: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer"}
    if expires_in is not None:
        data["expires_in"] = expires_in
    if refresh_token is not None:
        data["refresh_token"] = refresh_token
    return reply(data)


def delayed(seconds: float, handler: Handler) -> Handler:
    """Wait ``seconds`` before letting ``handler`` answer."""

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await handler(request)

    return slow


async def _drop(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    assert transport is not None
    transport.close()
    await asyncio.sleep(0)
    return web.Response()


def drop_connection(before: Callable[[web.Request], Awaitable[None]] | None = None) -> Handler:
    """Close the connection without an answer (after running ``before``, when given).

    The client sees ``ServerDisconnectedError``.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        if before is not None:
            await before(request)
        return await _drop(request)

    return handler


def free_port() -> int:
    """A port nothing listens on: bound, noted and closed, so that connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def refused_port() -> AsyncIterator[int]:
    """A port where connecting is refused (a callback URL nobody listens on)."""
    yield free_port()


async def _not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(b"THIS IS NOT HTTP\r\n\r\n")
    await writer.drain()
    writer.close()


@asynccontextmanager
async def garbage_port() -> AsyncIterator[int]:
    """A port whose server answers a request with something that is not HTTP."""
    garbage = await asyncio.start_server(_not_http, "127.0.0.1", 0)
    try:
        yield garbage.sockets[0].getsockname()[1]
    finally:
        garbage.close()
        await garbage.wait_closed()


# -- clients and data for the tests -------------------------------------------------
#: Quick retries, so that a test waits milliseconds rather than seconds.
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)


def client_for(
    api: FakeAPI,
    auth: Auth | None = None,
    *,
    retry: RetryPolicy | int = FAST_RETRY,
    timeout: Timeout | float | None = 2.0,
    **kwargs: Any,
) -> RequestFinanceClient:
    """A client pointed at ``api`` with an API key, quick retries and short timeouts."""
    return RequestFinanceClient(
        auth or ApiKeyAuth("test-api-key"),
        base_url=api.url,
        retry=retry,
        timeout=timeout,
        **kwargs,
    )


def invoice_json(
    invoice_id: str = "inv-1",
    *,
    number: str = "1",
    status: str = "open",
    **extra: Any,
) -> dict[str, Any]:
    """An invoice as ``GET /invoices/{id}`` answers it (the fields the client reads)."""
    data: dict[str, Any] = {
        "id": invoice_id,
        "invoiceNumber": number,
        "status": status,
        "creationDate": "2022-12-22T14:38:16.916Z",
        "invoiceItems": [
            {"currency": "USD", "name": "Television", "quantity": 2, "unitPrice": "9999"}
        ],
        "role": "seller",
    }
    data.update(extra)
    return data
