"""Webhook deliveries: signed POSTs of invoice events, retried a few times.

The body is ``{"variant", "event", "timestamp", "invoice"}``; the header
``X-Webhook-Signature`` is the lower-case hex HMAC-SHA256 of the raw body keyed
with the webhook secret. Each delivery runs in a task the sandbox owns::

    sender = WebhookSender(config, tasks, stats)
    sender.emit("rnf_invoice", "paid", record.encoded("seller", False))
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import aiohttp
import msgspec

from .._redact import redact_text
from .config import SandboxConfig
from .services import Stats
from .state import now_iso
from .tasks import TaskSet

__all__ = ["WEBHOOK_ATTEMPTS", "WebhookSender", "sign"]

WEBHOOK_ATTEMPTS = 3
_BACKOFF_S = 0.2  # doubled after each failed attempt
_TIMEOUT = aiohttp.ClientTimeout(total=5.0)
_log = logging.getLogger("reqfin_async.sandbox")
_encode = msgspec.json.Encoder().encode


def sign(body: bytes, secret: str) -> str:
    """The ``X-Webhook-Signature`` of ``body``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Sends events to the configured URL; :meth:`configure` changes it at run time."""

    def __init__(self, config: SandboxConfig, tasks: TaskSet, stats: Stats) -> None:
        self.url = config.webhook_url
        self.secret = config.webhook_secret
        self._iso_timestamp = config.webhook_timestamp == "iso"
        self._tasks = tasks
        self._stats = stats
        self._session: aiohttp.ClientSession | None = None

    def configure(self, url: str | None, secret: str | None = None) -> None:
        """Deliver to ``url`` from now on (``None`` stops deliveries)."""
        self.url = url
        if secret is not None:
            self.secret = secret

    def emit(self, variant: str, event: str, invoice_json: bytes) -> None:
        """Queue one delivery of ``event`` for an invoice (its GET answer, encoded)."""
        if self.url is None:
            return
        timestamp: int | str = now_iso() if self._iso_timestamp else int(time.time() * 1000)
        body = _encode(
            {
                "variant": variant,
                "event": event,
                "timestamp": timestamp,
                "invoice": msgspec.Raw(invoice_json),
            }
        )
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Signature": sign(body, self.secret),
        }
        self._tasks.spawn(self._deliver(self.url, body, headers), name=f"webhook:{event}")

    async def _deliver(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_BACKOFF_S * 2 ** (attempt - 1))
            try:
                async with self._session.post(url, data=body, headers=headers) as response:
                    if 200 <= response.status < 300:
                        self._stats.webhooks_delivered += 1
                        return
                    why = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = repr(exc)
            _log.warning(
                "webhook attempt %d to %s failed: %s",
                attempt + 1,
                redact_text(url),
                redact_text(why),
            )
        self._stats.webhooks_failed += 1

    async def aclose(self) -> None:
        """Close the HTTP session (after the delivery tasks were cancelled)."""
        if self._session is not None:
            await self._session.close()
            self._session = None
