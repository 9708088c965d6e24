"""Accept, reject and cancel: the changes a party can make to an invoice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from ._base import OpenStrEnum, RequestStruct, ResponseStruct

__all__ = ["ChangeType", "InvoiceChange", "NewInvoiceChange"]


class ChangeType(OpenStrEnum):
    """The kind of change: the buyer accepts or rejects, the seller cancels.

    Example::

        NewInvoiceChange(type=ChangeType.REJECT, input={"note": "Duplicate"})
        change.action_type is ChangeType.CANCEL
    """

    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"


class NewInvoiceChange(RequestStruct, kw_only=True, omit_defaults=False):
    """The body of ``POST /invoices/{id}/changes``; ``input`` is always sent.

    ``input.note`` is required to reject::

        body = NewInvoiceChange(type=ChangeType.REJECT, input={"note": "Duplicate"})
        encode(body)  # b'{"type":"reject","input":{"note":"Duplicate"}}'
    """

    type: ChangeType
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class InvoiceChange(ResponseStruct, kw_only=True):
    """The change record the API answers with; the change itself applies asynchronously.

    Example::

        change = await client.invoices.cancel(invoice_id)
        change.status  # "pending"
    """

    id: str
    request_id: str | None = None
    action_type: ChangeType | None = None
    input: dict[str, Any] = msgspec.field(default_factory=dict)
    network_type: str | None = None
    chain_name: str | None = None
    user_id: str | None = None
    timestamp: datetime | None = None
    status: str | None = None
    send_notification: bool | None = None
