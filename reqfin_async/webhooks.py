"""Request Finance webhooks: signature check, typed events, and an aiohttp receiver.

The API POSTs ``{"variant", "event", "timestamp", "invoice"}`` to an OAuth
app's webhook URL with ``X-Webhook-Signature``: the lowercase hex HMAC-SHA256
of the raw body, keyed with the app's webhook secret. ::

    event = parse_webhook(body, request.headers.get("X-Webhook-Signature"), secret)
    await poller.push(event)

or mount the receiver, which does exactly that::

    app.add_subapp("/webhooks/request-finance", webhook_app(poller.push, secret=secret))
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from aiohttp import web

from ._callbacks import call_back
from ._log import get_logger
from ._receive import read_limited
from ._timestamps import from_unix_ms
from .errors import RequestFinanceError, WebhookSignatureError
from .models._base import OpenStrEnum, ResponseStruct
from .models.invoice import Invoice

__all__ = [
    "SIGNATURE_HEADER",
    "WebhookEventType",
    "WebhookEvent",
    "WebhookPayloadError",
    "sign_webhook",
    "verify_webhook_signature",
    "parse_webhook",
    "webhook_handler",
    "webhook_app",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_log = get_logger(name="webhooks")

OnEvent = Callable[["WebhookEvent"], Awaitable[object] | object]


class WebhookEventType(OpenStrEnum):
    """What happened to the invoice (unknown future values decode too)."""

    CREATE = "create"
    ACCEPT = "accept"
    CANCEL = "cancel"
    REJECT = "reject"
    PAID = "paid"


class WebhookPayloadError(RequestFinanceError, ValueError):
    """A correctly signed body that is not a webhook event."""


class _Wire(ResponseStruct, kw_only=True):
    variant: str
    event: WebhookEventType
    timestamp: int | float | str
    invoice: Invoice


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One verified webhook delivery.

    ::

        event.event is WebhookEventType.PAID
        event.invoice.request_id, event.timestamp  # an aware datetime
    """

    variant: str
    event: WebhookEventType
    timestamp: datetime
    invoice: Invoice


def sign_webhook(body: bytes, secret: str) -> str:
    """The signature the API sends for ``body``: hex HMAC-SHA256 keyed with ``secret``."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(
    body: bytes, signature: str | None, secret: str | Sequence[str]
) -> None:
    """Raise ``WebhookSignatureError`` unless ``signature`` signs ``body``.

    Several secrets may be given while one is being rotated. The comparison
    takes constant time.
    """
    if not signature:
        raise WebhookSignatureError(f"the {SIGNATURE_HEADER} header is missing")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or not all(secrets):
        raise ValueError("a webhook secret must not be empty")
    given = signature.strip().lower().encode()
    matched = False
    for key in secrets:
        # Every secret is tried, so the time taken does not say which one matched.
        matched |= hmac.compare_digest(given, sign_webhook(body, key).encode())
    if not matched:
        raise WebhookSignatureError("the webhook signature does not match the body")


def _timestamp(value: int | float | str) -> datetime:
    if isinstance(value, str):
        # The older payloads carried an ISO 8601 string.
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise WebhookPayloadError(f"unreadable webhook timestamp {value!r}") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    at = from_unix_ms(value)
    if at is None:
        raise WebhookPayloadError(f"webhook timestamp out of range: {value!r}")
    return at


def parse_webhook(body: bytes, signature: str | None, secret: str | Sequence[str]) -> WebhookEvent:
    """Verify a delivery's signature, then decode it into a ``WebhookEvent``.

    ::

        event = parse_webhook(await request.read(), request.headers.get(SIGNATURE_HEADER), secret)

    Raises ``WebhookSignatureError`` (missing, bad or foreign signature) before
    looking at the body, and ``WebhookPayloadError`` for a signed body that is
    not an event.
    """
    verify_webhook_signature(body, signature, secret)
    try:
        wire = msgspec.json.decode(body, type=_Wire)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise WebhookPayloadError(f"not a webhook event: {exc}") from None
    return WebhookEvent(
        variant=wire.variant,
        event=wire.event,
        timestamp=_timestamp(wire.timestamp),
        invoice=wire.invoice,
    )


def webhook_handler(
    on_event: OnEvent,
    *,
    secret: str | Sequence[str],
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler: verify, decode, hand the event over, then answer.

    Answers 200 only after ``on_event`` (sync or async) has returned; 401 on a
    bad signature; 400 on a malformed body; 413 past ``max_body_bytes``; 500
    when ``on_event`` fails, so that the sender tries again. ::

        app.router.add_post("/hooks/rf", webhook_handler(poller.push, secret=secret))
    """

    async def handle(request: web.Request) -> web.Response:
        body = await read_limited(request, max_body_bytes)
        try:
            event = parse_webhook(body, request.headers.get(SIGNATURE_HEADER), secret)
        except WebhookSignatureError as exc:
            _log.warning("webhook_refused", reason=str(exc))
            return web.json_response({"error": "invalid signature"}, status=401)
        except WebhookPayloadError as exc:
            _log.warning("webhook_malformed", reason=str(exc))
            return web.json_response({"error": "malformed webhook body"}, status=400)
        try:
            await call_back(on_event, event)
        except Exception as exc:
            _log.error("webhook_handler_failed", webhook_event=event.event.value, error=repr(exc))
            return web.json_response({"error": "handler failed"}, status=500)
        _log.info(
            "webhook_received",
            webhook_event=event.event.value,
            request_id=event.invoice.request_id,
        )
        return web.json_response({"received": True})

    return handle


def webhook_app(
    on_event: OnEvent,
    *,
    secret: str | Sequence[str],
    path: str = "/",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> web.Application:
    """A small aiohttp application receiving webhooks at ``path``, to mount as a sub-app.

    ::

        app.add_subapp("/webhooks/request-finance", webhook_app(poller.push, secret=secret))
    """
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post(
        path, webhook_handler(on_event, secret=secret, max_body_bytes=max_body_bytes)
    )
    return app
