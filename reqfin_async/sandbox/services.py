"""What the handlers share: the services of one sandbox and the context of one call.

::

    services = request.app[SERVICES]
    ctx = call_context(request)      # user, network and account of an API call
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .auth import Principal
from .config import SandboxConfig
from .ratelimit import RateLimiter
from .state import SandboxState, User

if TYPE_CHECKING:
    from .lifecycle import Lifecycle

__all__ = ["SERVICES", "CallContext", "Services", "Stats", "call_context"]


@dataclass
class Stats:
    """Counters shown by ``GET /sandbox/stats``."""

    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0
    chaos: Counter[str] = field(default_factory=Counter)
    webhooks_delivered: int = 0
    webhooks_failed: int = 0

    def count(self, status: int) -> None:
        """Count one answer sent with ``status``."""
        self.requests += 1
        self.by_status[status] += 1

    def as_json(self) -> dict[str, Any]:
        """The counters in the JSON shape of ``GET /sandbox/stats``."""
        return {
            "requests": self.requests,
            "byStatus": {str(k): v for k, v in sorted(self.by_status.items())},
            "rateLimited": self.rate_limited,
            "chaos": dict(self.chaos),
            "chaosTotal": sum(self.chaos.values()),
            "webhooks": {"delivered": self.webhooks_delivered, "failed": self.webhooks_failed},
        }


@dataclass
class Services:
    """The parts of one sandbox, reachable from every handler through ``SERVICES``."""

    config: SandboxConfig
    state: SandboxState
    lifecycle: Lifecycle
    limiter: RateLimiter
    stats: Stats


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who calls, on which network, for which account (set by the gate middleware)."""

    principal: Principal
    network: str
    account_id: str
    account_email: str

    @property
    def user(self) -> User:
        """The calling user."""
        return self.principal.user


SERVICES = web.AppKey("sandbox_services", Services)
_CONTEXT_KEY = "sandbox_call_context"


def set_call_context(request: web.Request, ctx: CallContext) -> None:
    request[_CONTEXT_KEY] = ctx


def call_context(request: web.Request) -> CallContext:
    """The context the gate middleware attached to an API call."""
    ctx = request[_CONTEXT_KEY]
    assert isinstance(ctx, CallContext)
    return ctx
