"""The Invoice-Collector's callback deliveries, decoded into typed values.

The server POSTs JSON to your callback (no signature header), one of::

    {"type": "invoice", "remote_id", "collector": {"id", "name", ...},
     "invoice": {"id", "timestamp", "collected_timestamp", "link", "amount",
                 "mimetype", "metadata", "data": "<base64 of the file>"}}
    {"type": "notification_disconnected", "collector", "credential_id", "user_id", "remote_id"}

Timestamps are epoch milliseconds; ``amount`` is text such as ``"$93.50"``
and may be absent. ::

    delivery = parse_collector_callback(await request.read())
    if isinstance(delivery, InvoiceDelivery):
        store(delivery.remote_id, delivery.invoice.data)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec

from .._timestamps import from_unix_ms
from .errors import CollectorCallbackError

__all__ = [
    "CollectorInfo",
    "CollectedInvoice",
    "InvoiceDelivery",
    "DisconnectionNotice",
    "CollectorCallback",
    "DeliveryKey",
    "parse_collector_callback",
]


class DeliveryKey(NamedTuple):
    """What identifies one invoice delivery across redeliveries.

    ::

        delivery.key == DeliveryKey("free", "A1", "FREE-00001")
    """

    collector_id: str
    remote_id: str
    invoice_id: str


@dataclass(frozen=True, slots=True)
class CollectorInfo:
    """The collector (the supplier's connector) a delivery comes from.

    ::

        delivery.collector.id, delivery.collector.name   # "free", "Free Mobile"
        delivery.collector.details["description"]        # any other field the server sent
    """

    id: str
    name: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class CollectedInvoice:
    """One invoice file fetched by a collector; ``data`` is the file itself.

    ::

        Path(f"{inv.id}.pdf").write_bytes(inv.data)   # inv.mimetype == "application/pdf"
        inv.amount                                     # "$93.50", or None
    """

    id: str
    timestamp: datetime
    collected_timestamp: datetime | None
    link: str | None
    amount: str | None
    mimetype: str
    metadata: Mapping[str, Any]
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class InvoiceDelivery:
    """A new invoice for your user ``remote_id`` (``"type": "invoice"``).

    ::

        delivery.remote_id, delivery.invoice.data
        delivery.key    # (collector id, remote_id, invoice id): the deduplication key
    """

    remote_id: str
    collector: CollectorInfo
    invoice: CollectedInvoice

    @property
    def key(self) -> DeliveryKey:
        return DeliveryKey(self.collector.id, self.remote_id, self.invoice.id)


@dataclass(frozen=True, slots=True)
class DisconnectionNotice:
    """A credential stopped working: ask user ``remote_id`` to reconnect it.

    ::

        notify(notice.remote_id, f"reconnect {notice.collector.name}")
    """

    collector: CollectorInfo
    credential_id: str
    user_id: str
    remote_id: str


CollectorCallback = InvoiceDelivery | DisconnectionNotice

# Older servers sent the collector as its bare id; newer ones as an object.
_CollectorField = dict[str, Any] | str
# The parts of the deduplication key may not be empty.
_Id = Annotated[str, msgspec.Meta(min_length=1)]


class _InvoiceWire(msgspec.Struct, kw_only=True):
    id: _Id
    timestamp: int | float
    collected_timestamp: int | float | None = None
    link: str | None = None
    amount: str | None = None
    mimetype: str
    metadata: dict[str, Any] = {}
    data: bytes  # msgspec checks and decodes the base64 text


class _InvoiceDeliveryWire(msgspec.Struct, kw_only=True, tag_field="type", tag="invoice"):
    remote_id: _Id
    collector: _CollectorField
    invoice: _InvoiceWire


class _DisconnectionWire(
    msgspec.Struct, kw_only=True, tag_field="type", tag="notification_disconnected"
):
    collector: _CollectorField
    credential_id: str
    user_id: str
    remote_id: str


_DECODER = msgspec.json.Decoder(_InvoiceDeliveryWire | _DisconnectionWire)


def parse_collector_callback(body: bytes) -> CollectorCallback:
    """Decode one callback body into an ``InvoiceDelivery`` or a ``DisconnectionNotice``.

    ::

        match parse_collector_callback(body):
            case InvoiceDelivery(remote_id=rid, invoice=inv): save(rid, inv.data)
            case DisconnectionNotice(remote_id=rid): ask_to_reconnect(rid)

    Raises ``CollectorCallbackError`` (a ``ValueError``) naming the problem:
    not JSON, an unknown ``type``, a missing field, ``data`` not base64...
    """
    try:
        wire = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise CollectorCallbackError(f"the callback body is not JSON: {exc}") from None
    except msgspec.ValidationError as exc:
        raise CollectorCallbackError(f"not an Invoice-Collector callback: {exc}") from None
    collector = _collector(wire.collector)
    if isinstance(wire, _DisconnectionWire):
        return DisconnectionNotice(
            collector=collector,
            credential_id=wire.credential_id,
            user_id=wire.user_id,
            remote_id=wire.remote_id,
        )
    invoice = wire.invoice
    collected = invoice.collected_timestamp
    return InvoiceDelivery(
        remote_id=wire.remote_id,
        collector=collector,
        invoice=CollectedInvoice(
            id=invoice.id,
            timestamp=_from_ms(invoice.timestamp, "invoice.timestamp"),
            collected_timestamp=(
                None if collected is None else _from_ms(collected, "invoice.collected_timestamp")
            ),
            link=invoice.link,
            amount=invoice.amount,
            mimetype=invoice.mimetype,
            metadata=invoice.metadata,
            data=invoice.data,
        ),
    )


def _collector(value: _CollectorField) -> CollectorInfo:
    if isinstance(value, str):
        ident: object = value
        name: object = None
        details: Mapping[str, Any] = {}
    else:
        ident, name = value.get("id"), value.get("name")
        details = {k: v for k, v in value.items() if k not in ("id", "name")}
    if not isinstance(ident, str) or not ident:
        raise CollectorCallbackError(
            "not an Invoice-Collector callback: `$.collector.id` must be a non-empty string"
        )
    return CollectorInfo(id=ident, name=name if isinstance(name, str) else None, details=details)


def _from_ms(value: float, where: str) -> datetime:
    moment = from_unix_ms(value)
    if moment is None:
        raise CollectorCallbackError(f"`$.{where}` is not a time in milliseconds: {value}")
    return moment
