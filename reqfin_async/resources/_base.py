"""What every resource shares: sending through the client's transport and decoding."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import msgspec

from .._http.retry import Safety
from .._http.transport import Params, Response
from ..errors import APIResponseValidationError, InvoiceValidationError
from ..models._codec import decoder

if TYPE_CHECKING:
    from ..client import RequestFinanceClient

T = TypeVar("T")


@functools.lru_cache(maxsize=8192)
def _quoted(text: str) -> str | None:
    # Cached: a poller asks for the same ids over and over.
    text = text.strip()
    if not text or text in (".", ".."):
        # Quoting leaves dot segments alone, and URL normalisation would resolve them.
        return None
    return quote(text, safe="")


def path_segment(value: str, field: str) -> str:
    """``value`` quoted as one path segment, so an id can never reach another route."""
    quoted = _quoted(value) if isinstance(value, str) else None
    if quoted is None:
        problem = "must be a non-empty string"
        if isinstance(value, str) and value.strip():
            problem = f"{value.strip()!r} is not an id"
        raise InvoiceValidationError([(field, problem)])
    return quoted


class Resource:
    """A family of endpoints bound to one client (or client view)."""

    __slots__ = ("_client",)

    def __init__(self, client: RequestFinanceClient) -> None:
        self._client = client

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: bytes | None = None,
        safety: Safety = Safety.IDEMPOTENT,
    ) -> Response:
        client = self._client
        return await client.transport.request(
            method, path, options=client.options, params=params, body=body, safety=safety
        )

    async def _fetch(self, path: str, tp: type[T], *, params: Params | None = None) -> T:
        client = self._client  # the hot path of every GET: one call less than _send
        response = await client.transport.request(
            "GET", path, options=client.options, params=params
        )
        return decode_response(response, tp)


def decode_response(response: Response, tp: type[T]) -> T:
    """The body of ``response`` as ``tp``; a body of another shape raises a clear error."""
    try:
        return decoder(tp).decode(response.content)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise APIResponseValidationError(
            method=response.method,
            path=response.path,
            problem=str(exc),
            request_id=response.request_id,
        ) from None
