"""``client.clients``: the account's contacts (customers and vendors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._http.retry import Safety
from ..models._codec import encode
from ..models.contact import ClientContact, NewClientContact
from ..validation import validate_new_client
from ._base import Resource, decode_response, path_segment

__all__ = ["ClientsResource"]


class ClientsResource(Resource):
    """``client.clients`` — contacts of the account (``/clients``).

    ::

        contact = await client.clients.create({"email": "ap@acme.com", "contactType": ["customer"]})
        customers = await client.clients.list()
    """

    __slots__ = ()

    async def create(self, body: NewClientContact | Mapping[str, Any]) -> ClientContact:
        """``POST /clients`` — ``email`` and ``contactType`` are required (checked first)."""
        payload = encode(validate_new_client(body))
        response = await self._send("POST", "/clients", body=payload, safety=Safety.UNSAFE)
        return decode_response(response, ClientContact)

    async def update(
        self, client_id: str, body: NewClientContact | Mapping[str, Any]
    ) -> ClientContact:
        """``PUT /clients/{id}`` — replaces the contact; safe to retry."""
        path = f"/clients/{path_segment(client_id, 'client_id')}"
        payload = encode(validate_new_client(body))
        response = await self._send("PUT", path, body=payload, safety=Safety.IDEMPOTENT)
        return decode_response(response, ClientContact)

    async def get(self, client_id: str) -> ClientContact:
        """``GET /clients/{id}``."""
        return await self._fetch(f"/clients/{path_segment(client_id, 'client_id')}", ClientContact)

    async def list(self, *, type: str = "customer") -> list[ClientContact]:
        """``GET /clients?type=customer`` (or another contact type)."""
        return await self._fetch("/clients", list[ClientContact], params=(("type", type),))
