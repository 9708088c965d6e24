"""One flat tree of exceptions.

Every HTTP error carries the method and path of the call (query values that
hold secrets redacted), the status, the decoded body, the ``x-request-id`` and,
for 429, ``retry_after``; ``str(error)`` reads well in a log line::

    try:
        await client.invoices.get("nope")
    except NotFoundError as e:
        log.warning("lookup_failed", status=e.status_code, request_id=e.request_id)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._redact import redact_preview, redact_text, redact_url

__all__ = [
    "RequestFinanceError",
    "ClientClosedError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "APIResponseValidationError",
    "PaginationError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "InternalServerError",
    "InvoiceValidationError",
    "ChangeNotAllowedError",
    "WebhookSignatureError",
    "status_error",
]

_BODY_PREVIEW_CHARS = 300


class RequestFinanceError(Exception):
    """Base of every exception raised by reqfin-async."""


class ClientClosedError(RequestFinanceError, RuntimeError):
    """The client was closed (``aclose()`` or the end of ``async with``) and cannot send."""


class APIError(RequestFinanceError):
    """A call to the API failed; ``method`` and ``path`` say which one."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        self.method = method
        self.path = redact_url(path)
        super().__init__(redact_text(message))


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke before an answer."""

    def __init__(
        self, *, method: str, path: str, message: str = "connection failed", refused: bool = False
    ) -> None:
        # `refused`: the request never reached the server, so even a POST is safe to resend.
        self.refused = refused
        super().__init__(f"{method} {redact_url(path)}: {message}", method=method, path=path)


class APITimeoutError(APIConnectionError):
    """The call did not finish within its timeout."""

    def __init__(self, *, method: str, path: str, timeout_s: float | None = None) -> None:
        detail = f"timed out after {timeout_s:g} s" if timeout_s is not None else "timed out"
        super().__init__(method=method, path=path, message=detail)
        self.timeout_s = timeout_s


class APIStatusError(APIError):
    """The server answered with a status that is not a success."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        head = f"{method} {redact_url(path)} -> {status_code}"
        if reason:
            head += f" {reason}"
        if request_id:
            head += f" (request id {request_id})"
        preview = _preview(body)
        super().__init__(f"{head}: {preview}" if preview else head, method=method, path=path)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(method={self.method!r}, path={self.path!r}, "
            f"status_code={self.status_code}, request_id={self.request_id!r})"
        )


class BadRequestError(APIStatusError):
    """400 or 422: the server refused the input. ``fields`` lists the offending fields it named."""

    @property
    def fields(self) -> list[str]:
        return _fields_named_in(self.body)


class AuthenticationError(APIStatusError):
    """401, or a token endpoint that refused the grant (``oauth_error`` holds its code)."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        reason: str | None = None,
        oauth_error: str | None = None,
    ) -> None:
        self.oauth_error = oauth_error
        if oauth_error is None and isinstance(body, dict):
            code = body.get("error")
            self.oauth_error = code if isinstance(code, str) else None
        super().__init__(
            method=method,
            path=path,
            status_code=status_code,
            body=body,
            request_id=request_id,
            reason=reason,
        )


class PermissionDeniedError(APIStatusError):
    """403: the credential is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404: no such invoice, client or route for this account and network."""


class ConflictError(APIStatusError):
    """409: the call conflicts with the current state (a reused invoiceNumber, say)."""


class RateLimitError(APIStatusError):
    """429: the credential's rate limit is spent. ``retry_after`` is in seconds, when sent."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int = 429,
        body: Any = None,
        request_id: str | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            method=method,
            path=path,
            status_code=status_code,
            body=body,
            request_id=request_id,
            reason=reason,
        )


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


class APIResponseValidationError(APIError):
    """A 2xx answer whose body does not have the shape the API documents."""

    def __init__(self, *, method: str, path: str, problem: str, request_id: str | None) -> None:
        self.request_id = request_id
        self.problem = problem
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(
            f"{method} {redact_url(path)}: unexpected response{suffix}: {problem}",
            method=method,
            path=path,
        )


class PaginationError(APIError):
    """The server returned the same page twice: iterating on would never end."""


class InvoiceValidationError(RequestFinanceError, ValueError):
    """Input refused before anything was sent. ``field`` is the first offending path.

    ``errors`` holds every ``(path, problem)`` pair found, paths in the API's
    JSON names: ``invoiceItems[0].unitPrice``.
    """

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        if not errors:
            raise ValueError("InvoiceValidationError needs at least one error")
        self.errors: list[tuple[str, str]] = list(errors)
        self.field = self.errors[0][0]
        listed = "; ".join(f"{path}: {problem}" for path, problem in self.errors)
        super().__init__(redact_text(listed))

    @property
    def fields(self) -> list[str]:
        return [path for path, _ in self.errors]


class ChangeNotAllowedError(RequestFinanceError, ValueError):
    """An accept, reject or cancel that the invoice's known status or role does not allow."""


class WebhookSignatureError(RequestFinanceError, ValueError):
    """A webhook body whose ``X-Webhook-Signature`` is missing or does not match."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def status_error(
    *,
    method: str,
    path: str,
    status_code: int,
    body: Any,
    request_id: str | None,
    reason: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the exception that names ``status_code`` (5xx → ``InternalServerError``)."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    if cls is RateLimitError:
        return RateLimitError(
            method=method,
            path=path,
            status_code=status_code,
            body=body,
            request_id=request_id,
            reason=reason,
            retry_after=retry_after,
        )
    return cls(
        method=method,
        path=path,
        status_code=status_code,
        body=body,
        request_id=request_id,
        reason=reason,
    )


def _preview(body: Any) -> str:
    if body is None or body in ("", b""):
        return ""
    return redact_preview(body if isinstance(body, str) else repr(body), _BODY_PREVIEW_CHARS)


def _fields_named_in(body: Any) -> list[str]:
    """The field paths a 400 body names, whatever of the common shapes it takes."""
    found: list[str] = []
    if not isinstance(body, dict):
        return found
    for key in ("fields", "errors", "details", "message"):
        value = body.get(key)
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, str):
                    found.append(entry)
                elif isinstance(entry, dict):
                    name = entry.get("field") or entry.get("path") or entry.get("property")
                    if isinstance(name, str):
                        found.append(name)
    return found
