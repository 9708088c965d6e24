"""What every credential does, and the two static ones: an API key and a bearer token."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from .._http.options import RequestOptions
from .._http.retry import Safety

__all__ = ["Auth", "ApiKeyAuth", "BearerAuth", "NoAuth", "FormPoster"]


class FormPoster(Protocol):
    """The part of the transport an OAuth credential uses to reach its token endpoint."""

    async def post_form(
        self,
        url: str,
        form: Mapping[str, str],
        *,
        options: RequestOptions,
        safety: Safety,
    ) -> tuple[int, Any, str | None]: ...


class Auth(abc.ABC):
    """A credential: gives the ``Authorization`` value for the next call.

    Subclasses that can obtain a new token set ``refreshable = True``; the
    transport then reports a 401 through :meth:`invalidate` and retries once.
    """

    refreshable: ClassVar[bool] = False

    @abc.abstractmethod
    async def authorization(self, http: FormPoster) -> str:
        """The ``Authorization`` header value to send now."""

    def current(self) -> str | None:
        """The value to send now if it is at hand without waiting, else ``None``.

        The transport's hot path asks this first and awaits
        :meth:`authorization` only when it returns ``None``.
        """
        return None

    def invalidate(self, value: str) -> None:  # noqa: B027 - optional hook, no-op by default
        """The server refused ``value`` with a 401; forget it if it is still the current one."""


class ApiKeyAuth(Auth):
    """An API key, sent bare as ``Authorization: <key>`` (no ``Bearer`` prefix).

    ::

        client = RequestFinanceClient(ApiKeyAuth(os.environ["REQFIN_API_KEY"]), network="test")
    """

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        if not key or not key.strip():
            raise ValueError("ApiKeyAuth needs a non-empty key")
        if key.lower().startswith("bearer "):
            raise ValueError("an API key is sent bare: pass it without the 'Bearer ' prefix")
        self._key = key.strip()

    async def authorization(self, http: FormPoster) -> str:
        return self._key

    def current(self) -> str | None:
        return self._key

    def __repr__(self) -> str:
        return "ApiKeyAuth(key=[redacted])"


class BearerAuth(Auth):
    """An OAuth access token obtained elsewhere, sent as ``Authorization: Bearer <token>``.

    ::

        client = RequestFinanceClient(BearerAuth(access_token), network="live")
    """

    __slots__ = ("_value",)

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("BearerAuth needs a non-empty token")
        self._value = f"Bearer {token.strip()}"

    async def authorization(self, http: FormPoster) -> str:
        return self._value

    def current(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "BearerAuth(token=[redacted])"


class NoAuth(Auth):
    """No credential at all (used internally to reach a token endpoint)."""

    async def authorization(self, http: FormPoster) -> str:
        return ""

    def current(self) -> str | None:
        return ""

    def __repr__(self) -> str:
        return "NoAuth()"
