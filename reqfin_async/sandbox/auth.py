"""Who is calling: the ``Authorization`` header resolved to a user and a rate budget.

The API takes the bare API key (``Authorization: <key>``) or an OAuth access
token (``Authorization: Bearer <token>``); ``Bearer <api key>`` is refused::

    principal, failure = resolve_credential(request.headers.get("Authorization"), state)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from .state import SandboxState, User

__all__ = ["Principal", "resolve_credential"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the user, how they authenticated, and their budget key."""

    user: User
    kind: Literal["api_key", "oauth"]
    rate_key: str
    limit: int
    scopes: frozenset[str] = frozenset()


def resolve_credential(
    header: str | None, state: SandboxState
) -> tuple[Principal | None, str | None]:
    """``(principal, None)`` for a valid credential, else ``(None, why)``."""
    if not header:
        return None, "Missing Authorization header"
    config = state.config
    scheme, _, rest = header.partition(" ")
    if rest and scheme.lower() == "bearer":
        grant = state.access_tokens.get(rest.strip())
        if grant is None:
            return None, "Invalid access token"
        if grant.expires_at <= time.time():
            return None, "Access token expired"
        oauth_user = state.users[grant.user_id]
        rate_key = f"oauth:{grant.client_id}:{oauth_user.id}"
        return Principal(oauth_user, "oauth", rate_key, config.oauth_limit, grant.scopes), None
    key_user = state.users_by_key.get(header.strip())
    if key_user is None:
        return None, "Invalid API key"
    return Principal(key_user, "api_key", f"key:{key_user.id}", config.api_key_limit), None
