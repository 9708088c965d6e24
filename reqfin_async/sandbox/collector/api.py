"""The documented endpoints, under ``/api/v1``.

Customer endpoints take ``Authorization: Bearer <bearer>``; the UI takes a
user token as ``?token=``::

    GET    /customer            {"name", "callback"}
    POST   /customer            {"callback", "name"?}            -> 200, no body
    POST   /user                {"email", "locale", "remote_id"} -> {"token"}
    DELETE /user                {"remote_id"}                    -> 200, no body
    GET    /test_callback       a fake invoice POSTed to the callback now
    GET    /ui?token=...        the page where a user manages collectors
"""

from __future__ import annotations

import html
import re

from aiohttp import web
from yarl import URL

from .answers import HandledError, empty, json_answer, read_json
from .delivery import fake_invoice_payload
from .services import COLLECTOR, Services

__all__ = ["API_PREFIX", "api_routes"]

API_PREFIX = "/api/v1"
LOCALES = ("en", "fr")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _customer(request: web.Request) -> Services:
    """The services, once the bearer was checked (401 otherwise)."""
    services = request.app[COLLECTOR]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HandledError(401, "Missing bearer.")
    if value.strip() != services.config.bearer:
        raise HandledError(401, "Invalid bearer.")
    return services


def _required_text(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise HandledError(400, f'Field "{name}" is missing.')
    if not isinstance(value, str):
        raise HandledError(400, f'Field "{name}" must be a string.')
    return value


async def get_customer(request: web.Request) -> web.Response:
    state = _customer(request).state
    return json_answer(
        {"id": state.customer_id, "name": state.customer_name, "callback": state.callback}
    )


async def post_customer(request: web.Request) -> web.Response:
    state = _customer(request).state
    body = await read_json(request)
    callback = _required_text(body, "callback")
    url = URL(callback)
    if url.scheme not in ("http", "https") or not url.host:
        raise HandledError(400, f'Callback "{callback}" is not a valid http(s) URL.')
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise HandledError(400, 'Field "name" must be a non-empty string.')
    state.callback = callback
    if isinstance(name, str):
        state.customer_name = name
    return empty()


async def post_user(request: web.Request) -> web.Response:
    state = _customer(request).state
    body = await read_json(request)
    email = _required_text(body, "email")
    locale = _required_text(body, "locale")
    remote_id = _required_text(body, "remote_id")
    if not _EMAIL.fullmatch(email):
        raise HandledError(400, f'Email "{email}" is not valid.')
    if locale not in LOCALES:
        raise HandledError(
            400, f'Locale "{locale}" not supported. Available: {", ".join(LOCALES)}.'
        )
    if any(c.isspace() for c in remote_id):
        raise HandledError(400, 'Field "remote_id" must not contain spaces.')
    user = state.create_or_get_user(remote_id, locale)
    # The real server emails the terms of use here; the sandbox sends nothing.
    return json_answer({"id": user.id, "remote_id": remote_id, "token": state.new_token(user)})


async def delete_user(request: web.Request) -> web.Response:
    state = _customer(request).state
    body = await read_json(request)
    remote_id = _required_text(body, "remote_id")
    if not state.delete_user(remote_id):
        # The server's "not found" is a 400.
        raise HandledError(400, f'User with remote_id "{remote_id}" not found.')
    return empty()


async def test_callback(request: web.Request) -> web.Response:
    services = _customer(request)
    if services.state.callback is None:
        raise HandledError(400, "Callback URL not defined by customer.")
    # One try, within the request: the caller learns at once whether it worked.
    result = await services.sender.try_once(fake_invoice_payload(), kind="test")
    if not result.ok:
        why = result.error or f"status code {result.status}"
        raise HandledError(
            400,
            f"Callback request failed with {why}. "
            "Make sure the callback URL is correct and accessible.",
        )
    return empty()


async def ui(request: web.Request) -> web.Response:
    state = request.app[COLLECTOR].state
    check = state.check_token(request.query.get("token"))
    if check.user is None:
        if check.problem == "missing":
            raise HandledError(401, "Missing token.")
        raise HandledError(403, f"Token is {check.problem}.")
    user = check.user
    rows = "".join(
        f"<li>{html.escape(c.collector['name'])}: {len(c.invoices)} invoice(s)</li>"
        for c in user.credentials.values()
    )
    title = "Vos collecteurs" if user.locale == "fr" else "Your collectors"
    page = (
        f'<!DOCTYPE html>\n<html lang="{user.locale}">\n<head><meta charset="utf-8">'
        f"<title>Invoice-Collector</title></head>\n<body>\n<h1>{title}</h1>\n"
        f"<ul>{rows or '<li>-</li>'}</ul>\n</body>\n</html>\n"
    )
    return web.Response(text=page, content_type="text/html")


def api_routes() -> list[web.RouteDef]:
    """The documented endpoints, with their ``/api/v1`` prefix."""
    return [
        web.get(API_PREFIX + "/customer", get_customer, allow_head=False),
        web.post(API_PREFIX + "/customer", post_customer),
        web.post(API_PREFIX + "/user", post_user),
        web.delete(API_PREFIX + "/user", delete_user),
        web.get(API_PREFIX + "/test_callback", test_callback, allow_head=False),
        web.get(API_PREFIX + "/ui", ui, allow_head=False),
    ]
