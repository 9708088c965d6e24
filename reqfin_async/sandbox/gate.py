"""The gate in front of the API routes: rate limit, credential, network, organization.

Every API answer, refused or not, leaves with the ``X-Rate-Limit-*`` headers of
the budget it was charged to (the credential's, or the client IP's when the
credential is missing or wrong). The control plane (``/sandbox``) and the OAuth
routes are not API routes and pass through untouched::

    app = web.Application(middlewares=[..., gate_middleware])
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from .auth import Principal, resolve_credential
from .catalog import currency_routes
from .ratelimit import RateDecision
from .responses import ApiError, bad_request, error_response
from .services import SERVICES, CallContext, Services, set_call_context
from .state import NETWORKS

__all__ = ["PUBLIC_PATHS", "is_api_path", "gate_middleware", "peek_rate_headers"]

# Paths that answer without a credential (charged to the client IP then).
PUBLIC_PATHS = frozenset(currency_routes())
_NOT_API = ("/sandbox/", "/oauth/", "/authorize")


def is_api_path(path: str) -> bool:
    """Whether ``path`` belongs to the emulated API (not the control plane nor OAuth)."""
    return not path.startswith(_NOT_API)


def _budget(
    request: web.Request, services: Services
) -> tuple[Principal | None, str | None, str, int]:
    principal, failure = resolve_credential(request.headers.get("Authorization"), services.state)
    if principal is not None:
        return principal, None, principal.rate_key, principal.limit
    return None, failure, f"ip:{request.remote}", services.config.unauthenticated_limit


def peek_rate_headers(request: web.Request) -> dict[str, str]:
    """The caller's current ``X-Rate-Limit-*`` headers, without charging a call."""
    services = request.app[SERVICES]
    _, _, key, limit = _budget(request, services)
    return services.limiter.peek(key, limit).headers()


def _context(request: web.Request, services: Services, principal: Principal) -> CallContext:
    network = request.headers.get("X-Network")
    if network is None and principal.kind == "api_key":
        # The header is mandatory with OAuth; an API key belongs to one network
        # (accounts get a live and a test key), and the sandbox's keys are test keys.
        network = "test"
    if network not in NETWORKS:
        raise bad_request("The X-Network header is required: live or test")
    organization = request.headers.get("X-Organization") or None
    state = services.state
    account_id = state.account_for(principal.user, organization)
    if account_id is None:
        raise ApiError(403, "You are not a member of this organization")
    return CallContext(principal, network, account_id, state.account_email(account_id))


def _admit(
    request: web.Request,
    services: Services,
    decision: RateDecision,
    principal: Principal | None,
    failure: str | None,
) -> None:
    """Raise the answer a refused call gets; attach the call context otherwise."""
    if not decision.allowed:
        services.stats.rate_limited += 1
        raise ApiError(429, "Too many requests, retry later")
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception
    public = request.path in PUBLIC_PATHS
    if principal is None:
        # A public route takes no credential, but a wrong one is still refused.
        if not public or "Authorization" in request.headers:
            raise ApiError(401, failure or "Unauthorized")
    elif not public:
        set_call_context(request, _context(request, services, principal))


@web.middleware
async def gate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Charge the budget, authenticate, check ``X-Network`` and ``X-Organization``."""
    if not is_api_path(request.path):
        return await handler(request)
    services = request.app[SERVICES]
    principal, failure, key, limit = _budget(request, services)
    decision = services.limiter.hit(key, limit)
    try:
        _admit(request, services, decision, principal, failure)
        response = await handler(request)
    except (ApiError, web.HTTPException) as exc:
        response = error_response(exc, request)
    response.headers.update(decision.headers())
    return response
