"""The aiohttp application: routes and middlewares, in this order (outermost first):

1. ``answer``: every answer gets a unique ``x-request-id``, errors become JSON,
   answers are counted;
2. ``chaos`` (only when ``ChaosConfig.rate > 0``): injected faults;
3. ``gate``: rate limit, credential, ``X-Network``, ``X-Organization``.

::

    app = build_app(config, SandboxState(config))
"""

from __future__ import annotations

import itertools
import random
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .chaos import chaos_middleware
from .config import SandboxConfig
from .control import control_routes
from .gate import gate_middleware
from .invoices import invoice_routes
from .lifecycle import Lifecycle
from .oauth import oauth_routes
from .other_routes import other_routes
from .ratelimit import RateLimiter
from .responses import ApiError, error_response
from .services import SERVICES, Services, Stats
from .state import SandboxState

__all__ = ["build_app"]


def _answer_middleware(stats: Stats) -> Middleware:
    prefix = secrets.token_hex(4)
    numbers = itertools.count(1)

    @web.middleware
    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except (ApiError, web.HTTPException) as exc:
            response = error_response(exc, request)
        transport = request.transport
        if transport is not None and not transport.is_closing():  # not a dropped connection
            response.headers["x-request-id"] = f"{prefix}-{next(numbers):08x}"
            stats.count(response.status)
        return response

    return answer


async def _stop_background(app: web.Application) -> None:
    await app[SERVICES].lifecycle.aclose()


def build_app(config: SandboxConfig, state: SandboxState) -> web.Application:
    """The sandbox as an aiohttp application; its cleanup stops every background task."""
    stats = Stats()
    lifecycle = Lifecycle(config, state, stats)
    services = Services(config, state, lifecycle, RateLimiter(config.rate_window_s), stats)
    middlewares: list[Middleware] = [_answer_middleware(stats)]
    if config.chaos.rate > 0:
        middlewares.append(chaos_middleware(config.chaos, random.Random(config.seed), stats))  # noqa: S311
    middlewares.append(gate_middleware)
    app = web.Application(middlewares=middlewares)
    app[SERVICES] = services
    app.add_routes([*invoice_routes(), *other_routes(), *oauth_routes(), *control_routes()])
    app.on_cleanup.append(_stop_background)
    return app
