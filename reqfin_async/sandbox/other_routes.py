"""The smaller resources: the current user, organizations, clients, currencies.

::

    app.add_routes(other_routes())
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from .catalog import currency_routes
from .responses import ApiError, bad_request, json_response, read_json_object, validation_error
from .services import SERVICES, call_context
from .state import new_object_id, now_iso
from .validation import check_email, drop_nulls

__all__ = ["CONTACT_TYPES", "other_routes"]

CONTACT_TYPES = ("customer", "vendor")
ORGANIZATIONS_SCOPE = "user:read"


async def get_user(request: web.Request) -> web.Response:
    """``GET /users``: the caller, with the organization the call acts for."""
    ctx = call_context(request)
    state = request.app[SERVICES].state
    organization = request.headers.get("X-Organization") or None
    if organization is None:
        owned = state.owned_organization(ctx.user)
        organization = owned.id if owned is not None else None
    user = ctx.user
    return json_response(
        {
            "id": user.id,
            "email": user.email,
            "firstname": user.firstname,
            "lastname": user.lastname,
            "organization": organization,
        }
    )


async def list_organizations(request: web.Request) -> web.Response:
    """``GET /users/organizations``: OAuth only, with the ``user:read`` scope."""
    ctx = call_context(request)
    if ctx.principal.kind != "oauth":
        raise ApiError(403, "This endpoint requires OAuth authentication")
    if ORGANIZATIONS_SCOPE not in ctx.principal.scopes:
        raise ApiError(403, f"Insufficient scope: {ORGANIZATIONS_SCOPE} is required")
    state = request.app[SERVICES].state
    answer = [
        {
            "id": org.id,
            "name": org.name,
            "displayName": org.display_name,
            "role": org.members[ctx.user.id],
            "owner": state.users[org.owner_id].as_owner(),
        }
        for org in state.organizations_of(ctx.user)
    ]
    return json_response(answer)


def _check_client(body: dict[str, Any]) -> None:
    errors = []
    if not check_email(body.get("email")):
        errors.append({"field": "email", "message": "must be a valid email address"})
    kinds = body.get("contactType")
    if not isinstance(kinds, list) or not kinds or any(kind not in CONTACT_TYPES for kind in kinds):
        errors.append(
            {"field": "contactType", "message": 'must be a list of "customer" and/or "vendor"'}
        )
    if errors:
        raise validation_error(errors)


def _clients(request: web.Request) -> dict[str, dict[str, Any]]:
    ctx = call_context(request)
    return request.app[SERVICES].state.clients_of(ctx.network, ctx.account_id)


def _client(request: web.Request) -> dict[str, Any]:
    client = _clients(request).get(request.match_info["id"])
    if client is None:
        raise ApiError(404, "Client not found")
    return client


async def create_client(request: web.Request) -> web.Response:
    """``POST /clients``: needs ``email`` and ``contactType`` (customer and/or vendor)."""
    body = drop_nulls(await read_json_object(request))
    body.pop("id", None)
    _check_client(body)
    client = {"id": new_object_id(), **body, "createdAt": now_iso()}
    _clients(request)[client["id"]] = client
    return json_response(client, 201)


async def update_client(request: web.Request) -> web.Response:
    """``PUT /clients/{id}``: update the given fields."""
    client = _client(request)
    body = drop_nulls(await read_json_object(request))
    body.pop("id", None)
    updated = {**client, **body, "updatedAt": now_iso()}
    _check_client(updated)
    client.update(updated)
    return json_response(client)


async def list_clients(request: web.Request) -> web.Response:
    """``GET /clients[?type=customer|vendor]``."""
    kind = request.query.get("type")
    if kind is not None and kind not in CONTACT_TYPES:
        raise bad_request("type must be customer or vendor")
    clients = [c for c in _clients(request).values() if kind is None or kind in c["contactType"]]
    return json_response(clients)


async def get_client(request: web.Request) -> web.Response:
    """``GET /clients/{id}``."""
    return json_response(_client(request))


def _static(answer: object) -> Handler:
    body = msgspec.json.encode(answer)  # encoded once: these lists never change

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    return handler


def other_routes() -> list[web.RouteDef]:
    """Users, organizations, clients and the read-only currency lists."""
    routes = [
        web.get("/users", get_user),
        web.get("/users/organizations", list_organizations),
        web.post("/clients", create_client),
        web.get("/clients", list_clients),
        web.get("/clients/{id}", get_client),
        web.put("/clients/{id}", update_client),
    ]
    routes.extend(web.get(path, _static(answer)) for path, answer in currency_routes().items())
    return routes
