"""Redaction of credentials in text, URLs and key-value data.

One place decides what a secret looks like, so that log events, reprs and
exception messages agree: authorization values, access and refresh tokens,
client secrets, PKCE verifiers, webhook secrets and ``token=`` query values
(the pay links of an invoice carry one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

# Keys whose values are secrets wherever they appear (compared lower-cased,
# with "-" and "_" removed so that `client-secret`, `clientSecret` and
# `client_secret` all match).
_SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "token",
        "clientsecret",
        "secret",
        "apikey",
        "bearer",
        "password",
        "codeverifier",
        "code",
        "webhooksecret",
        "xwebhooksignature",
        "signature",
    }
)

# `token=...` in query strings and form bodies, `Bearer ...` in headers, and
# JSON-ish `"access_token": "..."` pairs inside free text such as error bodies.
_QUERY_SECRET = re.compile(
    r"(?i)\b(token|access_token|refresh_token|id_token|client_secret|code|code_verifier)=([^&\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_JSON_SECRET = re.compile(
    r"(?i)([\"']?(?:access_token|refresh_token|id_token|client_secret|accessToken|refreshToken|"
    r"clientSecret|authorization|token)[\"']?\s*[:=]\s*[\"'])([^\"']+)([\"'])"
)


def is_secret_key(key: str) -> bool:
    """Whether a header, field or query name holds a secret."""
    return key.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def redact_text(text: str) -> str:
    """Hide every secret that free text (a URL, an error body, a message) may contain."""
    if not text:
        return text
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JSON_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)


def redact_url(url: str) -> str:
    """A URL or path with its secret query values hidden.

    ``/pay?token=abc`` → ``/pay?token=[redacted]``.
    """
    if "=" not in url:
        return url
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", url)


def redact_value(key: str, value: Any) -> Any:
    """``value`` with secrets hidden, judged by its key first and then by its content."""
    if is_secret_key(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_mapping(value)
    if isinstance(value, list | tuple):
        return type(value)(redact_value("", v) for v in value)
    return value


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` (headers, a form, a log event) with its secrets hidden."""
    return {k: redact_value(k, v) for k, v in data.items()}
