"""What the Invoice-Collector API answers and takes: snake_case JSON on the wire.

The core models rename attributes to camelCase; this API does not, so the
bases here reset ``rename``. Unknown answer fields are skipped (servers add
some), unknown request fields are refused (a typo must not vanish)::

    customer = decode(body, Customer)
    body = encode(NewUser(email="a@b.example", locale="en", remote_id="A1"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ..models._base import RequestStruct, ResponseStruct

__all__ = [
    "Locale",
    "LOCALES",
    "Customer",
    "UserToken",
    "CustomerUpdate",
    "NewUser",
    "UserRef",
    "TokenAnswer",
]

Locale = Literal["en", "fr"]
LOCALES: tuple[Locale, ...] = ("en", "fr")


class _Answer(ResponseStruct, rename=None, kw_only=True):
    """Base of the answers: snake_case names, unknown fields skipped."""


class _Body(RequestStruct, rename=None, kw_only=True):
    """Base of the request bodies: snake_case names, unknown fields refused."""


class Customer(_Answer, kw_only=True):
    """You, the customer of a self-hosted server: a name and the callback invoices go to.

    ::

        customer = await ic.get_customer()
        customer.callback   # "https://erp.example/collector-callback" (None until set)
    """

    name: str
    callback: str | None = None


class TokenAnswer(_Answer, kw_only=True):
    """The answer of ``POST /user`` (other fields the server adds are skipped)."""

    token: str


class CustomerUpdate(_Body, kw_only=True):
    """The body of ``POST /customer``."""

    callback: str
    name: str | None = None


class NewUser(_Body, kw_only=True):
    """The body of ``POST /user``."""

    email: str
    locale: Locale
    remote_id: str


class UserRef(_Body, kw_only=True):
    """The body of ``DELETE /user``."""

    remote_id: str


@dataclass(frozen=True, slots=True)
class UserToken:
    """A short-lived user token, to open the collector UI for one of your users.

    ::

        token = await ic.create_user_token(email="ann@acme.example", locale="en", remote_id="A1")
        redirect_to(ic.ui_url(token))   # before token.expires_at

    The answer carries no expiry: ``expires_at`` is an estimate from the
    client's ``token_lifetime_s`` counted from the answer (the document says
    10 minutes). The token itself never shows in a repr.
    """

    token: str = field(repr=False)
    remote_id: str
    expires_at: datetime
