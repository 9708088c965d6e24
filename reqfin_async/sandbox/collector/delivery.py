"""Callback deliveries: the documented JSON payloads, POSTed with the server's policy.

A try counts only when the callback answers **200** (204 is a failure, as on
the real server); a delivery makes ``delivery_attempts`` tries,
``retry_delay_s`` apart. Every try is recorded for the tests::

    sender = CallbackSender(config, state)
    ok = await sender.deliver(invoice_payload(credential, invoice), kind="invoice")
    sender.attempts[-1].status   # 200
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from ..._redact import redact_text
from .config import CollectorSandboxConfig
from .documents import PDF, pdf_document
from .state import CATALOG, CollectorState, Credential, SourceInvoice

__all__ = [
    "CallbackSender",
    "DeliveryAttempt",
    "invoice_payload",
    "disconnected_payload",
    "fake_invoice_payload",
]

_log = logging.getLogger("reqfin_async.sandbox.collector")
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One POST to the callback: what was sent and how the callback answered."""

    kind: str
    invoice_id: str | None
    attempt: int
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def _invoice_body(remote_id: str, collector: dict[str, str], invoice: SourceInvoice) -> bytes:
    fields: dict[str, Any] = {
        "id": invoice.id,
        "timestamp": invoice.timestamp_ms,
        "collected_timestamp": int(time.time() * 1000),
        "link": invoice.link,
        "mimetype": invoice.mimetype,
        "metadata": invoice.metadata,
        "data": base64.b64encode(invoice.data).decode("ascii"),
    }
    if invoice.amount is not None:
        fields["amount"] = invoice.amount
    return _encode(
        {"type": "invoice", "remote_id": remote_id, "collector": collector, "invoice": fields}
    )


def invoice_payload(credential: Credential, invoice: SourceInvoice) -> bytes:
    """The callback body delivering ``invoice`` found through ``credential``."""
    return _invoice_body(credential.user.remote_id, credential.collector, invoice)


def disconnected_payload(credential: Credential) -> bytes:
    """The callback body saying ``credential`` stopped working."""
    return _encode(
        {
            "type": "notification_disconnected",
            "collector": credential.collector,
            "credential_id": credential.id,
            "user_id": credential.user.id,
            "remote_id": credential.user.remote_id,
        }
    )


def fake_invoice_payload() -> bytes:
    """The fake invoice ``GET /test_callback`` sends (a fresh id every time)."""
    invoice_id = "TEST-" + secrets.token_hex(4).upper()
    name, description = CATALOG["free"]
    invoice = SourceInvoice(
        id=invoice_id,
        timestamp_ms=int(time.time() * 1000),
        amount="$93.50",
        mimetype=PDF,
        link="https://free.sandbox.invalid/invoices/" + invoice_id,
        data=pdf_document([f"Test invoice {invoice_id}", "Total $93.50"]),
        metadata={"test": True},
    )
    collector = {"id": "free", "name": name, "description": description}
    return _invoice_body("test_remote_id", collector, invoice)


class CallbackSender:
    """POSTs payloads to the customer's current callback URL."""

    def __init__(self, config: CollectorSandboxConfig, state: CollectorState) -> None:
        self._config = config
        self._state = state
        self._session: aiohttp.ClientSession | None = None
        self.attempts: list[DeliveryAttempt] = []

    async def try_once(
        self, body: bytes, *, kind: str, invoice_id: str | None = None, attempt: int = 1
    ) -> DeliveryAttempt:
        """One POST; the outcome is recorded in :attr:`attempts` and returned."""
        url = self._state.callback
        status: int | None = None
        error: str | None = None
        if url is None:
            error = "no callback URL is set"
        else:
            if self._session is None:
                timeout = aiohttp.ClientTimeout(total=self._config.delivery_timeout_s)
                self._session = aiohttp.ClientSession(timeout=timeout)
            headers = {"Content-Type": "application/json"}
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Shown in logs, answers and /sandbox/deliveries: the URL may carry a token.
                error = redact_text(f"{type(exc).__name__}: {exc}")
        result = DeliveryAttempt(kind, invoice_id, attempt, status, error)
        self.attempts.append(result)
        if not result.ok:
            why = error or f"HTTP {status}"
            _log.warning("callback try %d (%s %s) failed: %s", attempt, kind, invoice_id, why)
        return result

    async def deliver(self, body: bytes, *, kind: str, invoice_id: str | None = None) -> bool:
        """Up to ``delivery_attempts`` tries, ``retry_delay_s`` apart; whether one got a 200."""
        for attempt in range(1, self._config.delivery_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._config.retry_delay_s)
            result = await self.try_once(body, kind=kind, invoice_id=invoice_id, attempt=attempt)
            if result.ok:
                return True
        return False

    async def aclose(self) -> None:
        """Close the HTTP session (after the delivery tasks were cancelled)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()
