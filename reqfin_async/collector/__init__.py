"""The Invoice-Collector: a client for a self-hosted server, and a receiver for its callbacks.

::

    async with InvoiceCollectorClient("http://localhost:8080/api/v1", bearer=bearer) as ic:
        await ic.update_customer(callback="https://erp.example/collector-callback")
        token = await ic.create_user_token(email="ann@acme.example", locale="en", remote_id="A1")
        redirect_to(ic.ui_url(token))

    app = collector_callback_app(save_invoice, dedupe=SQLiteDedupe("deliveries.sqlite3"))
"""

from __future__ import annotations

from .callbacks import (
    CollectedInvoice,
    CollectorCallback,
    CollectorInfo,
    DeliveryKey,
    DisconnectionNotice,
    InvoiceDelivery,
    parse_collector_callback,
)
from .client import DEFAULT_COLLECTOR_URL, DEFAULT_USER_TOKEN_LIFETIME_S, InvoiceCollectorClient
from .dedupe import DedupeStore, MemoryDedupe, SQLiteDedupe
from .errors import (
    CollectorAuthenticationError,
    CollectorBadRequestError,
    CollectorCallbackError,
    CollectorConflictError,
    CollectorNotFoundError,
    CollectorPermissionDeniedError,
    CollectorRateLimitError,
    CollectorServerError,
    CollectorStatusError,
)
from .models import LOCALES, Customer, Locale, UserToken
from .receiver import (
    DEFAULT_CALLBACK_MAX_BODY_BYTES,
    OnDisconnected,
    OnInvoice,
    collector_callback_app,
    collector_callback_handler,
)

__all__ = [
    # client
    "InvoiceCollectorClient",
    "DEFAULT_COLLECTOR_URL",
    "DEFAULT_USER_TOKEN_LIFETIME_S",
    "Customer",
    "UserToken",
    "Locale",
    "LOCALES",
    # errors
    "CollectorStatusError",
    "CollectorBadRequestError",
    "CollectorAuthenticationError",
    "CollectorPermissionDeniedError",
    "CollectorNotFoundError",
    "CollectorConflictError",
    "CollectorRateLimitError",
    "CollectorServerError",
    "CollectorCallbackError",
    # callbacks
    "CollectorCallback",
    "InvoiceDelivery",
    "DisconnectionNotice",
    "CollectorInfo",
    "CollectedInvoice",
    "DeliveryKey",
    "parse_collector_callback",
    # receiver
    "collector_callback_app",
    "collector_callback_handler",
    "OnInvoice",
    "OnDisconnected",
    "DEFAULT_CALLBACK_MAX_BODY_BYTES",
    "DedupeStore",
    "MemoryDedupe",
    "SQLiteDedupe",
]
