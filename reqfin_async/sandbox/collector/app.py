"""The Invoice-Collector sandbox as an aiohttp application.

One middleware gives every answer the real server's shape (see ``answers``)
and plays the injected faults; the cleanup cancels and awaits every
background delivery::

    app = build_app(Services.build(CollectorSandboxConfig()))
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from .answers import BodyError, HandledError, crash, error_answer, unknown_route
from .api import API_PREFIX, api_routes
from .control import control_routes
from .services import COLLECTOR, Services

__all__ = ["build_app"]

_log = logging.getLogger("reqfin_async.sandbox.collector")


@web.middleware
async def _shapes(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = request.app[COLLECTOR]
    services.requests += 1
    if services.state.faults_left and request.path.startswith(API_PREFIX + "/"):
        services.state.faults_left -= 1
        return crash()
    try:
        return await handler(request)
    except HandledError as exc:
        return error_answer(exc.status, exc.message)
    except BodyError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            # Express falls through to its catch-all: every unknown route or method.
            return unknown_route()
        raise
    except Exception:
        _log.exception("collector sandbox handler failed on %s %s", request.method, request.path)
        return crash()


async def _stop_background(app: web.Application) -> None:
    await app[COLLECTOR].aclose()


def build_app(services: Services) -> web.Application:
    """The application; JSON bodies are capped at ``max_json_bytes`` like the server's."""
    app = web.Application(middlewares=[_shapes], client_max_size=services.config.max_json_bytes)
    app[COLLECTOR] = services
    app.add_routes([*api_routes(), *control_routes()])
    app.on_cleanup.append(_stop_background)
    return app
