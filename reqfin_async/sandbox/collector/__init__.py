"""A local emulation of a self-hosted Invoice-Collector, for examples and tests.

It serves the documented endpoints under ``/api/v1`` (bearer and user-token
auth, the server's error shapes) and delivers invoices to the customer's
callback the way the real server does: only a 200 counts, three tries
``retry_delay_s`` apart, and what failed is sent again at the next
collection. A control plane (``/sandbox/...``) plays the users and the
suppliers. It shares no code with ``reqfin_async.collector``::

    async with CollectorSandbox(CollectorSandboxConfig(retry_delay_s=0.05)) as server:
        ...  # point an InvoiceCollectorClient at server.url with server.bearer
"""

from __future__ import annotations

from .collection import CollectReport
from .config import CollectorSandboxConfig
from .delivery import DeliveryAttempt
from .documents import PDF, PNG
from .server import CollectorSandbox, run_collector_sandbox
from .state import CATALOG, MADE_UP, Credential, SourceInvoice, User

__all__ = [
    "CollectorSandbox",
    "CollectorSandboxConfig",
    "run_collector_sandbox",
    "CollectReport",
    "DeliveryAttempt",
    "Credential",
    "SourceInvoice",
    "User",
    "CATALOG",
    "MADE_UP",
    "PDF",
    "PNG",
]
