"""The invoice routes: create, convert, fetch, list, and accept/reject/cancel.

Answers have the shapes of the API documentation; ``GET /invoices/{id}`` is the
hot path and serves cached bytes::

    app.add_routes(invoice_routes())
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from multidict import MultiMapping

from .factory import chain_of, new_record
from .lifecycle import CHANGE_RULES
from .responses import ApiError, bad_request, json_response, read_json_object, validation_error
from .services import SERVICES, CallContext, call_context
from .state import STATUSES, InvoiceRecord, Role, new_object_id, now_iso, parse_iso
from .validation import VARIANTS, check_invoice

__all__ = ["invoice_routes"]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_LIST_STATUSES = frozenset((*STATUSES, "overdue"))
_OVERDUE_FROM = frozenset(("open", "accepted", "declaredPaid"))
_TRUE = ("true", "1")
_FALSE = ("false", "0")
DEFAULT_TAKE = 25
MAX_TAKE = 100


def _not_found() -> ApiError:
    return ApiError(404, "Invoice not found")


def _visible(request: web.Request) -> tuple[CallContext, InvoiceRecord, Role]:
    ctx = call_context(request)
    record = request.app[SERVICES].state.find_invoice(ctx.network, request.match_info["id"])
    if record is None:
        raise _not_found()
    role = request.app[SERVICES].state.role_for(record, ctx.account_id, ctx.account_email)
    if role is None:
        raise _not_found()
    return ctx, record, role


def _flag(query: MultiMapping[str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise bad_request(f"{name} must be true or false")


def _integer(query: MultiMapping[str], name: str, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if value < 0 or (maximum is not None and value > maximum):
        bound = f"between 0 and {maximum}" if maximum is not None else ">= 0"
        raise bad_request(f"{name} must be {bound}")
    return value


async def create_invoice(request: web.Request) -> web.Response:
    """``POST /invoices``: validate, refuse a reused number, store off chain."""
    ctx = call_context(request)
    services = request.app[SERVICES]
    body = await read_json_object(request)
    errors, content = check_invoice(body, now=datetime.now(UTC))
    if errors:
        raise validation_error(errors)
    number = content["invoiceNumber"]
    if services.state.number_taken(ctx.network, ctx.account_id, number):
        raise ApiError(
            409,
            "Invoice number already used",
            extra={"errors": [{"field": "invoiceNumber", "message": f"{number} already exists"}]},
        )
    record = new_record(
        services.state, content, ctx.user, account_id=ctx.account_id, network=ctx.network
    )
    return web.Response(
        body=record.encoded("seller", False), status=201, content_type="application/json"
    )


async def convert_invoice(request: web.Request) -> web.Response:
    """``POST /invoices/{id}``: put the invoice on chain (``pending``, then ``open``)."""
    _, record, role = _visible(request)
    if role != "seller":
        raise ApiError(403, "Only the seller can convert an invoice")
    if record.request_id is not None:
        raise bad_request("The invoice has already been converted to a request")
    request.app[SERVICES].lifecycle.convert(record)
    return web.Response(
        body=record.encoded("seller", True), status=201, content_type="application/json"
    )


async def get_invoice(request: web.Request) -> web.Response:
    """``GET /invoices/{id}`` by id or requestId, as seen by the caller."""
    _, record, role = _visible(request)
    with_links = _flag(request.query, "withLinks")
    return web.Response(body=record.encoded(role, with_links), content_type="application/json")


class _ListFilters:
    """The filters of ``GET /invoices`` except the status one, parsed once per call."""

    def __init__(self, query: MultiMapping[str]) -> None:
        self.search = query.get("search", "").strip().lower()
        self.variant = query.get("variant")
        if self.variant is not None and self.variant not in VARIANTS:
            raise bad_request(f"variant must be one of {', '.join(VARIANTS)}")
        self.filter_by = query.get("filterBy")
        if self.filter_by is not None and self.filter_by not in ("sent", "received"):
            raise bad_request("filterBy must be sent or received")
        self.created_from, self.created_to = self._date_range(query.get("creationDateRange"))

    @staticmethod
    def _date_range(raw: str | None) -> tuple[float | None, float | None]:
        if raw is None:
            return None, None
        message = 'creationDateRange must be JSON like {"from": ISO date, "to": ISO date}'
        try:
            value = _decode(raw)
        except msgspec.DecodeError:
            raise bad_request(message) from None
        if not isinstance(value, dict) or not set(value) <= {"from", "to"}:
            raise bad_request(message)
        bounds: list[float | None] = []
        for key in ("from", "to"):
            if value.get(key) is None:
                bounds.append(None)
                continue
            moment = parse_iso(value[key])
            if moment is None:
                raise bad_request(message)
            bounds.append(moment.timestamp())
        return bounds[0], bounds[1]

    def match(self, record: InvoiceRecord, role: Role) -> bool:
        if self.filter_by == "sent" and role != "seller":
            return False
        if self.filter_by == "received" and role != "buyer":
            return False
        if self.variant is not None and record.variant != self.variant:
            return False
        if self.created_from is not None and record.created_ts < self.created_from:
            return False
        if self.created_to is not None and record.created_ts > self.created_to:
            return False
        return not self.search or self.search in record.haystack()


def _statuses_of(record: InvoiceRecord, now: float) -> tuple[str, ...]:
    status = record.status
    if status is None:
        return ()
    if status in _OVERDUE_FROM and record.due_ts is not None and record.due_ts < now:
        return (status, "overdue")
    return (status,)


async def list_invoices(request: web.Request) -> web.Response:
    """``GET /invoices``: filtered, newest first, paginated with ``take``/``skip``."""
    ctx = call_context(request)
    state = request.app[SERVICES].state
    query = request.query
    take = _integer(query, "take", DEFAULT_TAKE, MAX_TAKE)
    skip = _integer(query, "skip", 0, None)
    with_links = _flag(query, "withLinks")
    paginated = query.get("format")
    if paginated not in (None, "paginated"):
        raise bad_request("format must be paginated")
    wanted = set(query.getall("status[]", ())) | set(query.getall("status", ()))
    unknown = wanted - _LIST_STATUSES
    if unknown:
        raise bad_request(f"unknown status: {', '.join(sorted(unknown))}")
    filters = _ListFilters(query)

    # Only the paginated format counts everything; a plain page stops once it is full.
    enough = skip + take if paginated is None else None
    now = time.time()
    total = 0
    counts = dict.fromkeys(sorted(_LIST_STATUSES), 0)
    matching: list[tuple[InvoiceRecord, Role]] = []
    for record in state.newest_first(ctx.network):
        role = state.role_for(record, ctx.account_id, ctx.account_email)
        if role is None:
            continue
        total += 1
        if not filters.match(record, role):
            continue
        statuses = _statuses_of(record, now)
        for status in statuses:
            counts[status] += 1
        if not wanted or not wanted.isdisjoint(statuses):
            matching.append((record, role))
            if len(matching) == enough:
                break
    page = [msgspec.Raw(r.encoded(role, with_links)) for r, role in matching[skip : skip + take]]
    if paginated is None:
        return web.Response(body=_encode(page), content_type="application/json")
    answer = {
        "invoices": page,
        "total": total,
        "filteredTotal": len(matching),
        "statusCounts": counts,
    }
    return web.Response(body=_encode(answer), content_type="application/json")


async def post_change(request: web.Request) -> web.Response:
    """``POST /invoices/{id}/changes``: accept, reject or cancel, applied later."""
    ctx, record, role = _visible(request)
    body = await read_json_object(request)
    change = body.get("type")
    if change not in CHANGE_RULES:
        raise bad_request("type must be one of accept, reject, cancel")
    change_input = body.get("input") if body.get("input") is not None else {}
    if not isinstance(change_input, dict):
        raise bad_request("input must be an object")
    note = change_input.get("note")
    if note is not None and not isinstance(note, str):
        raise bad_request("input.note must be a string")
    if change == "reject" and not (note or "").strip():
        raise bad_request("input.note is required to reject an invoice")
    side, allowed_from, _ = CHANGE_RULES[change]
    if role != side:
        raise ApiError(403, f"Only the {side} can {change} an invoice")
    if record.request_id is None:
        raise bad_request("The invoice has not been converted to a request yet")
    if record.status not in allowed_from:
        raise bad_request(
            f"Cannot {change} an invoice whose status is {record.status}; "
            f"it must be {' or '.join(allowed_from)}"
        )
    request.app[SERVICES].lifecycle.request_change(record, change, ctx.user.id)
    answer: dict[str, Any] = {
        "id": new_object_id(),
        "requestId": record.request_id,
        "actionType": change,
        "input": change_input,
        "networkType": ctx.network,
        "chainName": chain_of(record),
        "userId": ctx.user.id,
        "timestamp": now_iso(),
        "status": "pending",
        "sendNotification": False,
    }
    return json_response(answer, 201)


def invoice_routes() -> list[web.RouteDef]:
    """The invoice routes (salaries are invoices with ``meta.format`` rnf_salary)."""
    return [
        web.post("/invoices", create_invoice),
        web.get("/invoices", list_invoices),
        web.get("/invoices/{id}", get_invoice),
        web.post("/invoices/{id}", convert_invoice),
        web.post("/invoices/{id}/changes", post_change),
    ]
