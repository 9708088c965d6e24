"""The control plane under ``/sandbox``: play the user and the suppliers, observe.

No credential is needed: these routes are the sandbox's own, not the API's::

    POST /sandbox/users/{remote_id}/collectors  {"collector": "free", "invoices": 2,
                                                  "mimetype": "image/png", "amount": "$9.99"}
    POST /sandbox/credentials/{id}/invoices     {"count": 1, "mimetype": ..., "amount": ...}
    POST /sandbox/credentials/{id}/disconnect   a notification_disconnected to the callback
    POST /sandbox/collect                       {"wait": false}: deliver what is waiting
    POST /sandbox/faults                        {"count": 2}: the next API calls answer 500
    GET  /sandbox/deliveries                    every callback try so far
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .answers import HandledError, json_answer, read_json
from .documents import MIMETYPES, PDF
from .services import COLLECTOR
from .state import CATALOG, Credential, SourceInvoice

__all__ = ["MAX_INVOICES_PER_CALL", "control_routes"]

MAX_INVOICES_PER_CALL = 1000


def _count(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise HandledError(400, f'Field "{name}" must be an integer.')
    if not 0 <= value <= MAX_INVOICES_PER_CALL:
        raise HandledError(400, f'Field "{name}" must be within 0..{MAX_INVOICES_PER_CALL}.')
    return value


def _invoice_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"mimetype": body.get("mimetype", PDF)}
    if options["mimetype"] not in MIMETYPES:
        raise HandledError(400, f'Field "mimetype" must be one of {", ".join(MIMETYPES)}.')
    if "amount" in body:
        amount = body["amount"]
        if amount is not None and not isinstance(amount, str):
            raise HandledError(400, 'Field "amount" must be text such as "$93.50", or null.')
        options["amount"] = amount
    return options


def _credential(request: web.Request) -> Credential:
    credential = request.app[COLLECTOR].state.credentials.get(request.match_info["id"])
    if credential is None:
        raise HandledError(404, "Credential not found.")
    return credential


def _invoices(invoices: list[SourceInvoice]) -> list[dict[str, Any]]:
    return [{"id": i.id, "amount": i.amount, "mimetype": i.mimetype} for i in invoices]


async def add_collector(request: web.Request) -> web.Response:
    """Connect a collector for a user (as the user would in the UI), with invoices waiting."""
    state = request.app[COLLECTOR].state
    body = await read_json(request)
    user = state.users.get(request.match_info["remote_id"])
    if user is None:
        raise HandledError(404, "User not found: create it with POST /api/v1/user first.")
    collector_id = body.get("collector", "free")
    if collector_id not in CATALOG:
        raise HandledError(400, f'Field "collector" must be one of {", ".join(CATALOG)}.')
    count = _count(body, "invoices", 1)
    credential = state.add_credential(user, collector_id, count=count, **_invoice_options(body))
    return json_answer(
        {
            "credential_id": credential.id,
            "collector": credential.collector,
            "invoices": _invoices(credential.invoices),
        },
        201,
    )


async def add_invoices(request: web.Request) -> web.Response:
    """New invoices at the supplier, found by the next collection."""
    state = request.app[COLLECTOR].state
    credential = _credential(request)
    body = await read_json(request)
    added = state.add_invoices(credential, _count(body, "count", 1), **_invoice_options(body))
    return json_answer({"invoices": _invoices(added)}, 201)


async def disconnect(request: web.Request) -> web.Response:
    """Send a ``notification_disconnected`` for the credential (in the background)."""
    request.app[COLLECTOR].collections.notify_disconnected_in_background(_credential(request))
    return json_answer({"queued": 1}, 202)


async def collect(request: web.Request) -> web.Response:
    """Deliver every waiting invoice; ``{"wait": true}`` answers once all deliveries ended."""
    collections = request.app[COLLECTOR].collections
    body = await read_json(request)
    if body.get("wait") is True:
        report = await collections.collect()
        return json_answer({"delivered": report.delivered, "failed": report.failed})
    return json_answer({"queued": collections.collect_in_background()}, 202)


async def faults(request: web.Request) -> web.Response:
    """Make the next ``count`` API calls answer 500 ``Internal server error``."""
    state = request.app[COLLECTOR].state
    state.faults_left = _count(await read_json(request), "count", 1)
    return json_answer({"count": state.faults_left})


async def deliveries(request: web.Request) -> web.Response:
    """Every callback try so far, oldest first."""
    attempts = request.app[COLLECTOR].sender.attempts
    return json_answer(
        [
            {
                "kind": a.kind,
                "invoice_id": a.invoice_id,
                "attempt": a.attempt,
                "status": a.status,
                "error": a.error,
            }
            for a in attempts
        ]
    )


def control_routes() -> list[web.RouteDef]:
    """The ``/sandbox`` routes."""
    return [
        web.post("/sandbox/users/{remote_id}/collectors", add_collector),
        web.post("/sandbox/credentials/{id}/invoices", add_invoices),
        web.post("/sandbox/credentials/{id}/disconnect", disconnect),
        web.post("/sandbox/collect", collect),
        web.post("/sandbox/faults", faults),
        web.get("/sandbox/deliveries", deliveries, allow_head=False),
    ]
