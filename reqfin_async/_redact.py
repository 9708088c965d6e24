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

# `token=...` (any secret name) in query strings and form bodies, `Bearer ...` in
# headers, a bare `Authorization: <key>` header line, and JSON-ish `"apiKey": "..."`
# pairs inside free text such as error bodies (any key `is_secret_key` names but
# `code`, which in free text is far more often an error code than an OAuth one).
_QUERY_PAIR = re.compile(r"(?<![\w\-])([A-Za-z][\w\-.]*)=([^&\s\"'<>]+)")
# The password of a URL's user info: `https://user:secret@host/`.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:)([^@\s/]+)@")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_HEADER_SECRET = re.compile(
    r"(?i)\b((?:proxy-)?authorization:[ \t]*)(\"[^\"\r\n]*\"|'[^'\r\n]*'|[^\s\"'][^\r\n]*)"
)
# key, then a value quoted with " or ' that runs to the same quote (an apostrophe
# inside a "..." value, or an escaped quote, does not end it).
_QUOTED_PAIR = re.compile(r"([\"']?)([A-Za-z][\w\-]*)\1(\s*[:=]\s*)([\"'])((?:\\.|(?!\4)[^\\])*)\4")
# Names that end like these hold secrets too: `sessionToken`, `X-Api-Key`, `db_password`.
_SECRET_SUFFIXES = ("token", "secret", "password", "apikey")


def is_secret_key(key: str) -> bool:
    """Whether a header, field or query name holds a secret."""
    normalized = key.lower().replace("-", "").replace("_", "")
    return normalized in _SECRET_KEYS or normalized.endswith(_SECRET_SUFFIXES)


def _query_pair(match: re.Match[str]) -> str:
    # In a query or a form, `code` is the OAuth authorization code: a secret.
    if not is_secret_key(match.group(1)):
        return match.group(0)
    return f"{match.group(1)}={REDACTED}"


def _quoted_pair(match: re.Match[str]) -> str:
    key = match.group(2)
    if key.lower() == "code" or not is_secret_key(key):
        return match.group(0)
    quote, value_quote = match.group(1), match.group(4)
    return f"{quote}{key}{quote}{match.group(3)}{value_quote}{REDACTED}{value_quote}"


def redact_text(text: str) -> str:
    """Hide every secret that free text (a URL, an error body, a message) may contain."""
    if not text:
        return text
    text = redact_url(text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _HEADER_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _QUOTED_PAIR.sub(_quoted_pair, text)


def redact_preview(text: str, max_chars: int) -> str:
    """``text`` redacted, then cut to ``max_chars`` (in that order: a cut could
    split a secret from the pattern that finds it)."""
    text = redact_text(text)
    return text[:max_chars] + "…" if len(text) > max_chars else text


def redact_url(url: str) -> str:
    """A URL or path with its secret query values (and user-info password) hidden.

    ``/pay?token=abc`` → ``/pay?token=[redacted]``.
    """
    if "=" in url:
        url = _QUERY_PAIR.sub(_query_pair, url)
    if "@" in url:
        url = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", url)
    return url


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
