"""An aiohttp receiver for the Invoice-Collector's callback deliveries.

The server counts a delivery as done only on an HTTP **200**; anything else
(204 included) is tried again, up to three times, and an invoice still not
acknowledged is sent again at the next collection. So the receiver answers
200 only once your handler has returned, 5xx when it failed (the server will
try again), and acknowledges a redelivery it already handled without calling
the handler twice::

    app = collector_callback_app(save_invoice, dedupe=SQLiteDedupe("deliveries.sqlite3"))
    web.run_app(app, port=9000)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from .._callbacks import call_back
from .._log import get_logger
from .._receive import read_limited
from .callbacks import (
    DisconnectionNotice,
    InvoiceDelivery,
    parse_collector_callback,
)
from .dedupe import DedupeStore, MemoryDedupe
from .errors import CollectorCallbackError

__all__ = [
    "DEFAULT_CALLBACK_MAX_BODY_BYTES",
    "OnInvoice",
    "OnDisconnected",
    "collector_callback_handler",
    "collector_callback_app",
]

# The file travels base64-encoded inside the JSON (a third larger): room for a
# scanned multi-page PDF, not for an unbounded upload.
DEFAULT_CALLBACK_MAX_BODY_BYTES = 32 * 1024 * 1024

OnInvoice = Callable[[InvoiceDelivery], Awaitable[object] | object]
OnDisconnected = Callable[[DisconnectionNotice], Awaitable[object] | object]

_log = get_logger(name="collector")


T = TypeVar("T")


def collector_callback_handler(
    on_invoice: OnInvoice,
    *,
    on_disconnected: OnDisconnected | None = None,
    dedupe: DedupeStore | None = None,
    max_body_bytes: int = DEFAULT_CALLBACK_MAX_BODY_BYTES,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler: read, decode, deduplicate, hand over, then answer.

    ::

        app.router.add_post("/collector-callback", collector_callback_handler(save_invoice))

    ``on_invoice`` (sync or async) gets each new ``InvoiceDelivery``;
    ``on_disconnected`` each ``DisconnectionNotice`` (acknowledged and only
    logged when not given). Answers 200 once the handler returned or for a
    delivery already handled, 500 when the handler raised, 400 for a body that
    is not a callback and 413 past ``max_body_bytes`` (without reading it all).
    Deduplication uses ``dedupe`` (a bounded ``MemoryDedupe`` by default).
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    store = dedupe if dedupe is not None else MemoryDedupe()

    async def handle(request: web.Request) -> web.Response:
        body = await read_limited(request, max_body_bytes)
        try:
            callback = parse_collector_callback(body)
        except CollectorCallbackError as exc:
            _log.warning("collector_callback_malformed", reason=str(exc))
            return web.json_response({"error": "not an Invoice-Collector callback"}, status=400)
        if isinstance(callback, DisconnectionNotice):
            return await _disconnected(callback)
        key = callback.key
        try:
            ran = await store.run_once(key, lambda: call_back(on_invoice, callback))
        except Exception as exc:
            # Not recorded: the server's next try (or next collection) runs the handler again.
            _log.error(
                "collector_handler_failed",
                **key._asdict(),
                error=repr(exc),
            )
            return web.json_response({"error": "handler failed"}, status=500)
        _log.info(
            "collector_invoice_received" if ran else "collector_invoice_duplicate",
            **key._asdict(),
            mimetype=callback.invoice.mimetype,
            size_bytes=len(callback.invoice.data),
        )
        return web.json_response({"received": True, "duplicate": not ran})

    async def _disconnected(notice: DisconnectionNotice) -> web.Response:
        fields = {
            "collector_id": notice.collector.id,
            "remote_id": notice.remote_id,
            "credential_id": notice.credential_id,
        }
        if on_disconnected is not None:
            try:
                await call_back(on_disconnected, notice)
            except Exception as exc:
                _log.error("collector_handler_failed", **fields, error=repr(exc))
                return web.json_response({"error": "handler failed"}, status=500)
        _log.info("collector_disconnected", **fields)
        return web.json_response({"received": True})

    return handle


def collector_callback_app(
    on_invoice: OnInvoice,
    *,
    on_disconnected: OnDisconnected | None = None,
    dedupe: DedupeStore | None = None,
    path: str = "/",
    max_body_bytes: int = DEFAULT_CALLBACK_MAX_BODY_BYTES,
) -> web.Application:
    """A small aiohttp application receiving callbacks at ``path``, to run or mount.

    ::

        app.add_subapp("/collector", collector_callback_app(save_invoice, dedupe=dedupe))

    The application closes ``dedupe`` at cleanup (an ``SQLiteDedupe`` opens
    again on its next use). See :func:`collector_callback_handler` for the answers.
    """
    store = dedupe if dedupe is not None else MemoryDedupe()
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post(
        path,
        collector_callback_handler(
            on_invoice,
            on_disconnected=on_disconnected,
            dedupe=store,
            max_body_bytes=max_body_bytes,
        ),
    )

    async def close_store(_: web.Application) -> None:
        await store.close()

    app.on_cleanup.append(close_store)
    return app
