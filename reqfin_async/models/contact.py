"""The account's contacts, which the API calls "clients" (``/clients``)."""

from __future__ import annotations

from typing import Any

import msgspec

from ._base import RequestStruct, ResponseStruct
from .party import Address

__all__ = ["ClientContact", "NewClientContact"]


def _customer() -> list[str]:
    return ["customer"]


class ClientContact(ResponseStruct, kw_only=True):
    """A contact as the API returns it.

    Example::

        contact = decode(body, ClientContact)
        "customer" in contact.contact_type
    """

    id: str
    email: str | None = None
    contact_type: list[str] = msgspec.field(default_factory=list)
    business_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: Address | None = None
    tax_registration: str | None = None
    company_registration: str | None = None
    phone: str | None = None
    miscellaneous: dict[str, Any] | None = None


class NewClientContact(RequestStruct, kw_only=True):
    """The body of ``POST /clients`` and ``PUT /clients/{id}``; ``contactType`` is always sent.

    Example::

        body = NewClientContact(email="justin@acme.example", business_name="Acme Ltd.")
        body.contact_type  # ["customer"]
    """

    email: str
    contact_type: list[str] = msgspec.field(default_factory=_customer)
    business_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: Address | None = None
    tax_registration: str | None = None
    company_registration: str | None = None
    phone: str | None = None
    miscellaneous: dict[str, Any] | None = None
