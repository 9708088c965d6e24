"""What every resource shares: sending through the client's transport and decoding."""

from __future__ import annotations

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


def path_segment(value: str, field: str) -> str:
    """``value`` quoted as one path segment, so an id can never reach another route."""
    if not isinstance(value, str) or not value.strip():
        raise InvoiceValidationError([(field, "must be a non-empty string")])
    text = value.strip()
    if text in (".", ".."):
        # Quoting leaves dot segments alone, and URL normalisation would resolve them.
        raise InvoiceValidationError([(field, f"{text!r} is not an id")])
    return quote(text, safe="")


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
        return decode_response(await self._send("GET", path, params=params), tp)


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
