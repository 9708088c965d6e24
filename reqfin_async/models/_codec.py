"""One JSON encoder and one decoder per type, built once and reused.

Building a ``msgspec.json.Decoder`` compiles the type; caching it per type
keeps that cost off the hot path of every response::

    invoice = decode(body, Invoice)
    body = encode(new_invoice)
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import msgspec

__all__ = ["ENCODER", "decode", "decoder", "encode"]

T = TypeVar("T")

# Decimal quantities and percentages are JSON numbers on the wire, not strings.
ENCODER = msgspec.json.Encoder(decimal_format="number")


@functools.cache
def _cached_decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp)


def decoder(tp: type[T]) -> msgspec.json.Decoder[T]:
    """The shared decoder for ``tp`` (``Invoice``, ``list[Invoice]``...).

    Example::

        invoices = decoder(list[Invoice]).decode(body)
    """
    # Any: a generic alias such as list[Invoice] is hashable, which the cache needs.
    key: Any = tp
    dec: msgspec.json.Decoder[T] = _cached_decoder(key)
    return dec


def decode(data: bytes | str, tp: type[T]) -> T:
    """Decode JSON ``data`` into ``tp``; raises ``msgspec.ValidationError`` on a shape mismatch.

    Example::

        change = decode(body, InvoiceChange)
    """
    return decoder(tp).decode(data)


def encode(obj: Any) -> bytes:
    """Encode ``obj`` (a struct, a list of structs, builtins) as compact JSON bytes.

    Example::

        body = encode(NewInvoice(...))
    """
    return ENCODER.encode(obj)
