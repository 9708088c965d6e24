"""JSON answers and the errors handlers raise, in the API's error body shapes.

Handlers raise :class:`ApiError`; the middlewares turn it (and aiohttp's own
HTTP exceptions, such as an unknown route) into a JSON answer::

    raise ApiError(404, "Invoice not found")
    # -> 404 {"statusCode": 404, "message": "Invoice not found"}
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

__all__ = [
    "ApiError",
    "bad_request",
    "OAuthError",
    "error_response",
    "json_response",
    "read_json_object",
    "validation_error",
]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with msgspec."""
    return web.Response(
        body=_encode(body), status=status, headers=headers, content_type="application/json"
    )


class ApiError(Exception):
    """An error answer: ``{"statusCode", "message", ...extra}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"statusCode": status, "message": message, **(extra or {})}
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """This error as a JSON answer."""
        return json_response(self.body, self.status, self.headers)


class OAuthError(ApiError):
    """An RFC 6749 error: ``{"error": code, "error_description": text}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(status, description)
        self.body = {"error": error, "error_description": description}
        if status == 401:
            self.headers["WWW-Authenticate"] = 'Basic realm="sandbox"'


def bad_request(message: str) -> ApiError:
    """A 400 answer: ``{"statusCode": 400, "message": ..., "error": "Bad Request"}``."""
    return ApiError(400, message, extra={"error": "Bad Request"})


def validation_error(errors: list[dict[str, str]]) -> ApiError:
    """The 400 answer listing every offending field."""
    return ApiError(400, "Validation failed", extra={"error": "Bad Request", "errors": errors})


def error_response(exc: Exception, request: web.Request) -> web.Response:
    """The JSON answer for an :class:`ApiError` or an aiohttp HTTP exception."""
    if isinstance(exc, ApiError):
        return exc.response()
    assert isinstance(exc, web.HTTPException)
    if exc.status in (404, 405):
        # Like the real API (NestJS): an unknown route or method is a 404.
        body = {
            "statusCode": 404,
            "message": f"Cannot {request.method} {request.path}",
            "error": "Not Found",
        }
        return json_response(body, 404)
    headers = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
    message = exc.text or HTTPStatus(exc.status).phrase
    return json_response({"statusCode": exc.status, "message": message}, exc.status, headers)


async def read_json_object(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON body, which must be an object (an empty body is ``{}``)."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise bad_request("A JSON body is required")
        return {}
    try:
        body = _decode(raw)
    except msgspec.DecodeError as exc:
        raise bad_request(f"Invalid JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise bad_request("The JSON body must be an object")
    return body
