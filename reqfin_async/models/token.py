"""OAuth 2 token endpoint answers (RFC 6749): snake_case on the wire, unlike the API."""

from __future__ import annotations

from typing import Any

from ._base import ResponseStruct

__all__ = ["OAuthErrorBody", "TokenSet"]


class TokenSet(ResponseStruct, rename=None, kw_only=True):
    """A token answer. Its repr shows only ``token_type``, ``expires_in`` and ``scope``.

    Example::

        tokens = decode(body, TokenSet)
        headers["Authorization"] = f"Bearer {tokens.access_token}"
    """

    access_token: str
    token_type: str | None = None
    expires_in: int | None = None
    """Seconds from the answer; access tokens last 24 hours."""
    refresh_token: str | None = None
    """Present on refresh-token grants; may rotate, so store each new one."""
    scope: str | None = None
    id_token: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"TokenSet({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # The tokens are credentials: they never reach a log through a repr.
        return [
            ("token_type", self.token_type),
            ("expires_in", self.expires_in),
            ("scope", self.scope),
        ]


class OAuthErrorBody(ResponseStruct, rename=None, kw_only=True):
    """The error answer of a token endpoint (``{"error": "invalid_grant", ...}``).

    Example::

        err = decode(body, OAuthErrorBody)
        err.error  # "invalid_grant"
    """

    error: str
    error_description: str | None = None
    error_uri: str | None = None
