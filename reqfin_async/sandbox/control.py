"""The control plane under ``/sandbox``: play the buyer and the chain, seed, observe.

No credential is needed: these routes are the sandbox's own, not the API's::

    POST /sandbox/invoices/{id}/status   {"status": "paid"}            (id or requestId)
    POST /sandbox/seed                   {"count": 1000, "status": "open"}
    POST /sandbox/webhooks               {"url": "http://127.0.0.1:9000/hook", "secret": "s"}
    GET  /sandbox/stats
"""

from __future__ import annotations

from aiohttp import web

from .lifecycle import DEFAULT_SEED_DUE_IN_S
from .responses import ApiError, bad_request, json_response, read_json_object
from .services import SERVICES
from .state import NETWORKS, STATUSES

__all__ = ["MAX_SEED_COUNT", "control_routes"]

MAX_SEED_COUNT = 100_000


async def set_status(request: web.Request) -> web.Response:
    """Set an invoice's status at once; ``paid`` fills ``paymentMetadata``."""
    services = request.app[SERVICES]
    body = await read_json_object(request)
    status = body.get("status")
    if status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}")
    tx_hash = body.get("txHash")
    if tx_hash is not None and not isinstance(tx_hash, str):
        raise bad_request("txHash must be a string")
    record = services.state.find_anywhere(request.match_info["id"])
    if record is None:
        raise ApiError(404, "Invoice not found")
    services.lifecycle.set_status(record, status, tx_hash=tx_hash)
    return web.Response(body=record.encoded("seller", False), content_type="application/json")


async def seed(request: web.Request) -> web.Response:
    """Create many on-chain invoices at once (for benchmarks in another process)."""
    body = await read_json_object(request)
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_SEED_COUNT:
        raise bad_request(f"count must be an integer within 1..{MAX_SEED_COUNT}")
    status = body.get("status", "open")
    if status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}")
    network = body.get("network", "test")
    if network not in NETWORKS:
        raise bad_request("network must be live or test")
    due_in_s = body.get("dueInSeconds", DEFAULT_SEED_DUE_IN_S)
    if not isinstance(due_in_s, int | float) or isinstance(due_in_s, bool):
        raise bad_request("dueInSeconds must be a number")
    buyer_email = body.get("buyerEmail")
    if buyer_email is not None and not isinstance(buyer_email, str):
        raise bad_request("buyerEmail must be a string")
    records = request.app[SERVICES].lifecycle.seed(
        count, status=status, network=network, due_in_s=float(due_in_s), buyer_email=buyer_email
    )
    invoices = [{"id": r.id, "requestId": r.request_id} for r in records]
    return json_response({"invoices": invoices}, 201)


async def configure_webhooks(request: web.Request) -> web.Response:
    """Point webhook deliveries somewhere else (``"url": null`` stops them)."""
    body = await read_json_object(request)
    url, secret = body.get("url"), body.get("secret")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise bad_request("url must be an http(s) URL or null")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise bad_request("secret must be a non-empty string")
    webhooks = request.app[SERVICES].lifecycle.webhooks
    webhooks.configure(url, secret)
    return json_response({"url": webhooks.url})


async def stats(request: web.Request) -> web.Response:
    """Requests served (by status), 429s, chaos faults, webhook deliveries."""
    return json_response(request.app[SERVICES].stats.as_json())


def control_routes() -> list[web.RouteDef]:
    """The ``/sandbox`` routes."""
    return [
        web.post("/sandbox/invoices/{id}/status", set_status),
        web.post("/sandbox/seed", seed),
        web.post("/sandbox/webhooks", configure_webhooks),
        web.get("/sandbox/stats", stats),
    ]
