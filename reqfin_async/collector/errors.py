"""The Invoice-Collector's errors: the core status errors, plus the server's own words.

The server answers a handled error with ``{"type": "error", "message": ...}``,
an unknown route with ``{"type": "error", "reason": "Endpoint not found"}``, a
crash with the text ``Internal server error`` and malformed JSON with an HTML
page. Each leaf also subclasses the core class named by its status, so
``except NotFoundError`` keeps working; ``.message`` holds the words::

    try:
        await ic.delete_user(remote_id="A1")
    except CollectorBadRequestError as e:
        log.warning("delete_failed", message=e.message)
"""

from __future__ import annotations

import contextlib
import html
import re
from http import HTTPStatus
from typing import Any

from .._redact import redact_preview
from ..errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestFinanceError,
)

__all__ = [
    "CollectorStatusError",
    "CollectorBadRequestError",
    "CollectorAuthenticationError",
    "CollectorPermissionDeniedError",
    "CollectorNotFoundError",
    "CollectorConflictError",
    "CollectorRateLimitError",
    "CollectorServerError",
    "CollectorCallbackError",
    "collector_status_error",
    "server_message",
]

_MESSAGE_MAX_CHARS = 300
_PRE = re.compile(r"(?is)<pre>(.*?)</pre>")
_TITLE = re.compile(r"(?is)<title>(.*?)</title>")
_TAG = re.compile(r"<[^>]+>")


class CollectorStatusError(APIStatusError):
    """An Invoice-Collector answer that is not a success; ``message`` is what the server said.

    ::

        except CollectorStatusError as e:
            log.warning("refused", status=e.status_code, message=e.message)
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            method=method, path=path, status_code=status_code, body=body, request_id=request_id
        )
        self.message = server_message(body)

    def __str__(self) -> str:
        # The core message previews the raw body (an HTML page, a dict repr); the
        # server's own sentence reads better in a log line.
        head = f"{self.method} {self.path} -> {self.status_code}"
        with contextlib.suppress(ValueError):  # a status http.HTTPStatus does not name
            head += f" {HTTPStatus(self.status_code).phrase}"
        return f"{head}: {self.message}" if self.message else head


class CollectorBadRequestError(CollectorStatusError, BadRequestError):
    """400: the server refused the input (also its answer for an unknown ``remote_id``)."""


class CollectorAuthenticationError(CollectorStatusError, AuthenticationError):
    """401: the bearer (or a user token) is missing or wrong."""


class CollectorPermissionDeniedError(CollectorStatusError, PermissionDeniedError):
    """403: the credential is known but may not do this."""


class CollectorNotFoundError(CollectorStatusError, NotFoundError):
    """404: most often a route this server does not have (an older or newer version)."""


class CollectorConflictError(CollectorStatusError, ConflictError):
    """409: the call conflicts with the server's current state."""


class CollectorRateLimitError(CollectorStatusError, RateLimitError):
    """429: too many calls; ``retry_after`` is in seconds, when the server said."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int = 429,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            method=method, path=path, status_code=status_code, body=body, request_id=request_id
        )
        self.retry_after = retry_after


class CollectorServerError(CollectorStatusError, InternalServerError):
    """5xx: the server failed (its body says only ``Internal server error``)."""


class CollectorCallbackError(RequestFinanceError, ValueError):
    """A callback body that is not an Invoice-Collector delivery; the text names the problem."""


_BY_STATUS: dict[int, type[CollectorStatusError]] = {
    400: CollectorBadRequestError,
    401: CollectorAuthenticationError,
    403: CollectorPermissionDeniedError,
    404: CollectorNotFoundError,
    409: CollectorConflictError,
    422: CollectorBadRequestError,
    429: CollectorRateLimitError,
}


def collector_status_error(error: APIStatusError) -> CollectorStatusError:
    """The Invoice-Collector error for a status error raised by the core transport."""
    cls = _BY_STATUS.get(error.status_code)
    if cls is None:
        cls = CollectorServerError if error.status_code >= 500 else CollectorStatusError
    if cls is CollectorRateLimitError:
        return CollectorRateLimitError(
            method=error.method,
            path=error.path,
            body=error.body,
            request_id=error.request_id,
            retry_after=getattr(error, "retry_after", None),
        )
    return cls(
        method=error.method,
        path=error.path,
        status_code=error.status_code,
        body=error.body,
        request_id=error.request_id,
    )


def server_message(body: Any) -> str | None:
    """The sentence an error body carries, whatever of the server's shapes it takes.

    ``{"message": m}`` and ``{"reason": r}`` give their text; an HTML page gives
    the text of its ``<pre>`` (Express's error page) or ``<title>``; plain text
    is kept as it is. Secrets are redacted and the length is capped.
    """
    text: str | None = None
    if isinstance(body, dict):
        for key in ("message", "reason", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                text = value
                break
    elif isinstance(body, str) and body.strip():
        text = _html_text(body) if body.lstrip().startswith("<") else body
    if text is None:
        return None
    return redact_preview(" ".join(text.split()), _MESSAGE_MAX_CHARS) or None


def _html_text(page: str) -> str:
    found = _PRE.search(page) or _TITLE.search(page)
    inner = found.group(1) if found else page
    # Express puts the stack under the message, one <br> per frame: keep the first line.
    first = re.split(r"(?i)<br\s*/?>|\n", inner.strip(), maxsplit=1)[0]
    return html.unescape(_TAG.sub("", first))
