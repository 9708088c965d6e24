"""Injected faults on the API routes, to prove that clients survive a bad network.

With probability ``ChaosConfig.rate`` a call gets a 500, a 503 or a 429 (both
with ``Retry-After``; the 429 is not charged to the budget), a connection
dropped before handling, a slow answer, or ``drop_after``: the call IS handled
(an invoice really gets created) and then the connection is dropped::

    app = web.Application(middlewares=[..., chaos_middleware(config.chaos, rng, stats)])
"""

from __future__ import annotations

import asyncio
import random

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .config import ChaosConfig
from .gate import is_api_path, peek_rate_headers
from .responses import json_response
from .services import Stats

__all__ = ["chaos_middleware"]


def _drop(request: web.Request) -> None:
    # Closing the socket without an answer is what a crashed proxy looks like;
    # aiohttp then ignores the response the handler chain returns.
    transport = request.transport
    if transport is not None:
        transport.close()


def _fault(status: int, message: str, request: web.Request, retry_after_s: int) -> web.Response:
    headers = peek_rate_headers(request)
    if status != 500:
        headers["Retry-After"] = str(retry_after_s)
    return json_response({"statusCode": status, "message": message}, status, headers)


def chaos_middleware(config: ChaosConfig, rng: random.Random, stats: Stats) -> Middleware:
    """The fault-injecting middleware; ``rng`` is seeded by ``SandboxConfig.seed``."""
    kinds = list(config.kinds)
    weights = [config.kinds[k] for k in kinds]

    @web.middleware
    async def chaos(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_api_path(request.path) or rng.random() >= config.rate:
            return await handler(request)
        kind = rng.choices(kinds, weights=weights)[0]
        stats.chaos[kind] += 1
        if kind == "500":
            return _fault(500, "Internal server error", request, config.retry_after_s)
        if kind == "503":
            return _fault(503, "Service unavailable", request, config.retry_after_s)
        if kind == "429":
            return _fault(429, "Too many requests, retry later", request, config.retry_after_s)
        if kind == "drop":
            _drop(request)
            return web.Response(status=204)
        if kind == "slow":
            await asyncio.sleep(config.slow_s)
            return await handler(request)
        response = await handler(request)  # drop_after: the work is done, the answer lost
        _drop(request)
        return response

    return chaos
