"""Parties of an invoice: the buyer and the seller, and their postal address."""

from __future__ import annotations

from typing import Any

import msgspec

from ._base import ResponseStruct

__all__ = ["Address", "PartyInfo"]


class Address(ResponseStruct, kw_only=True):
    """A postal address, in the API's camelCase keys or the on-chain hCard keys.

    The API echoes both styles; read through ``street``, ``postcode`` and
    ``town``, which prefer camelCase and fall back to hCard::

        addr = Address(street_address="4933 Oakwood Avenue", city="New York", country="US")
        addr.town  # "New York"
    """

    street_address: str | None = None
    extended_address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None
    """ISO 3166-1 alpha-2 code, such as ``"US"``."""

    # The hCard keys of the Request Network content format (address.json).
    locality: str | None = None
    post_office_box: str | None = msgspec.field(default=None, name="post-office-box")
    hcard_street_address: str | None = msgspec.field(default=None, name="street-address")
    hcard_extended_address: str | None = msgspec.field(default=None, name="extended-address")
    hcard_postal_code: str | None = msgspec.field(default=None, name="postal-code")
    country_name: str | None = msgspec.field(default=None, name="country-name")
    """Free text (``"France"``, ``"US"``), unlike ``country``."""

    @property
    def street(self) -> str | None:
        """``streetAddress``, else ``street-address``."""
        return self.street_address or self.hcard_street_address

    @property
    def postcode(self) -> str | None:
        """``postalCode``, else ``postal-code``."""
        return self.postal_code or self.hcard_postal_code

    @property
    def town(self) -> str | None:
        """``city``, else ``locality``."""
        return self.city or self.locality


class PartyInfo(ResponseStruct, kw_only=True):
    """The buyer or the seller of an invoice (``buyerInfo`` / ``sellerInfo``).

    Lenient on input because the same shape is decoded from the server::

        buyer = PartyInfo(email="justin@acme.example", business_name="Acme Ltd.")
        invoice.buyer_info.email
    """

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    business_name: str | None = None
    phone: str | None = None
    address: Address | None = None
    tax_registration: str | None = None
    company_registration: str | None = None
    miscellaneous: dict[str, Any] | None = None
    user_id: str | None = None
    """Set by the server on responses; not sent."""
