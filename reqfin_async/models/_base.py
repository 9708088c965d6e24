"""The base classes of the wire models.

Attributes are snake_case; ``rename="camel"`` maps them to the API's JSON
names. Fields left at their default are not encoded, so a request body never
carries ``null`` for what the caller did not set. msgspec applies ``kw_only``
to the fields a class itself declares, so every model repeats ``kw_only=True``.
"""

from __future__ import annotations

import enum
from typing import Self

import msgspec

__all__ = ["OpenStrEnum", "RequestStruct", "ResponseStruct"]


class ResponseStruct(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True, gc=False):
    """Base of models decoded from the server: unknown fields are skipped.

    ``gc=False``: an answer is a tree of structs that never refers back to itself,
    so the garbage collector need not track them; decoding a page of invoices then
    no longer triggers collections (msgspec's documented use of the option).

    The API adds fields over time; skipping them keeps old clients working::

        class Thing(ResponseStruct, kw_only=True):
            display_name: str | None = None   # wire name "displayName"
    """


class RequestStruct(
    msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True, forbid_unknown_fields=True
):
    """Base of models sent to the server: an unknown field is an error, not a silent drop.

    A misspelt key would otherwise vanish on the way to the API::

        class NewThing(RequestStruct, kw_only=True):
            display_name: str
    """


class OpenStrEnum(enum.StrEnum):
    """A string enum that also takes values it does not know, for forward compatibility.

    An unknown value becomes a cached pseudo-member (not listed when iterating
    the class), so that a status the server adds tomorrow decodes today::

        InvoiceStatus("frozen").value   # "frozen"
        InvoiceStatus("frozen").is_known  # False
    """

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        # setdefault: two threads meeting the same new value share one member.
        known: Self = cls._value2member_map_.setdefault(value, member)  # type: ignore[assignment]
        return known

    @property
    def is_known(self) -> bool:
        """Whether this value is one of the declared members."""
        # By identity: a pseudo-member "PAID" is named like the member PAID.
        return type(self).__members__.get(self._name_) is self
