"""The Invoice-Collector's answer shapes, and reading its JSON request bodies.

Handled errors are ``{"type": "error", "message": ...}``; an unknown route is
``{"type": "error", "reason": "Endpoint not found"}``; a crash is the text
``Internal server error``; a body that is not JSON (or too large) gets the
HTML page of Express's body parser; an "empty" success is a bare 200::

    raise HandledError(400, 'Field "email" is missing.')
"""

from __future__ import annotations

import html
from typing import Any

import msgspec
from aiohttp import web

__all__ = [
    "HandledError",
    "BodyError",
    "empty",
    "json_answer",
    "error_answer",
    "unknown_route",
    "crash",
    "html_error_page",
    "read_json",
]

_encode = msgspec.json.Encoder().encode


class HandledError(Exception):
    """An error the server answers with ``{"type": "error", "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyError(Exception):
    """A body the JSON parser refused: answered with an HTML page, as Express does."""

    def __init__(self, status: int, detail: str, *, frame: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.frame = frame

    def response(self) -> web.Response:
        return html_error_page(self.status, self.detail, frame=self.frame)


def empty() -> web.Response:
    """An "empty" success: 200 with no body."""
    return web.Response(status=200)


def json_answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")


def error_answer(status: int, message: str) -> web.Response:
    return json_answer({"type": "error", "message": message}, status)


def unknown_route() -> web.Response:
    return json_answer({"type": "error", "reason": "Endpoint not found"}, 404)


def crash() -> web.Response:
    return web.Response(status=500, text="Internal server error")


def html_error_page(status: int, detail: str, *, frame: str | None = None) -> web.Response:
    """Express's default error page: the error, then its stack frames, in a ``<pre>``."""
    shown = html.escape(detail)
    if frame is not None:
        shown += "<br> &nbsp; &nbsp;at " + html.escape(frame)
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Error</title>\n</head>\n<body>\n<pre>{shown}</pre>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=page, content_type="text/html")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object of the body (``{}`` when empty or not an object, as Express leaves it)."""
    try:
        raw = await request.read()  # the app's client_max_size caps it
    except web.HTTPRequestEntityTooLarge:
        raise BodyError(413, "PayloadTooLargeError: request entity too large") from None
    if not raw.strip():
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise BodyError(400, f"SyntaxError: {exc}", frame="JSON.parse (<anonymous>)") from None
    return body if isinstance(body, dict) else {}
