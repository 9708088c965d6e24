"""Status changes and watch results as JSON bytes, for durable and shared stores.

An exception cannot travel or be stored, so a result's ``error`` becomes its
text, restored as a ``RestoredError``::

    data = encode_result(result)
    assert decode_result(data).reason == result.reason
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from ..errors import RequestFinanceError
from ..models._codec import ENCODER
from ..models.invoice import Invoice, InvoiceStatus
from .events import FinishReason, StatusChange, WatchResult

__all__ = ["RestoredError", "encode_change", "decode_change", "encode_result", "decode_result"]


class RestoredError(RequestFinanceError):
    """The error of a failed watch, as recorded by a store (its text only)."""


class _Change(msgspec.Struct, kw_only=True):
    key: str
    request_id: str | None
    old_status: InvoiceStatus | None
    new_status: InvoiceStatus | None
    invoice: Invoice | None
    at: datetime
    final: bool = False


class _Result(msgspec.Struct, kw_only=True):
    key: str
    request_id: str | None
    status: InvoiceStatus | None
    reason: FinishReason
    at: datetime
    invoice: Invoice | None = None
    error: str | None = None


_CHANGE_DECODER = msgspec.json.Decoder(_Change)
_RESULT_DECODER = msgspec.json.Decoder(_Result)


def encode_change(change: StatusChange) -> bytes:
    return ENCODER.encode(
        _Change(
            key=change.key,
            request_id=change.request_id,
            old_status=change.old_status,
            new_status=change.new_status,
            invoice=change.invoice,
            at=change.at,
            final=change.final,
        )
    )


def decode_change(data: bytes) -> StatusChange:
    wire = _CHANGE_DECODER.decode(data)
    return StatusChange(
        key=wire.key,
        request_id=wire.request_id,
        old_status=wire.old_status,
        new_status=wire.new_status,
        invoice=wire.invoice,
        at=wire.at,
        final=wire.final,
    )


def encode_result(result: WatchResult) -> bytes:
    return ENCODER.encode(
        _Result(
            key=result.key,
            request_id=result.request_id,
            status=result.status,
            reason=result.reason,
            at=result.at,
            invoice=result.invoice,
            error=str(result.error) if result.error is not None else None,
        )
    )


def decode_result(data: bytes) -> WatchResult:
    wire = _RESULT_DECODER.decode(data)
    return WatchResult(
        key=wire.key,
        request_id=wire.request_id,
        status=wire.status,
        reason=wire.reason,
        at=wire.at,
        invoice=wire.invoice,
        error=RestoredError(wire.error) if wire.error is not None else None,
    )
