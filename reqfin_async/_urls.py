"""Checks on the URLs a client is pointed at."""

from __future__ import annotations

import ipaddress

from yarl import URL

from ._redact import redact_url

__all__ = ["check_base_url", "is_loopback_host"]


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, what: str = "base_url", allow_http: bool = False) -> URL:
    """Refuse a URL that would send credentials in clear text.

    ``https`` is required, except for loopback hosts (the sandbox, tests) and
    when the caller vouches for the host with ``allow_http``::

        check_base_url("https://api.request.finance")
        check_base_url("http://127.0.0.1:8080")       # loopback: allowed
    """
    parsed = URL(url)
    shown = redact_url(url)  # a URL pasted with its query may carry a token
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what} must be an absolute http(s) URL, got {shown!r}")
    if parsed.scheme == "http" and not allow_http and not is_loopback_host(parsed.host):
        raise ValueError(
            f"{what} must use https (credentials would travel in clear text); "
            f"plain http is accepted only for loopback hosts, got {shown!r}"
        )
    if parsed.query_string or parsed.fragment:
        raise ValueError(f"{what} must not carry a query or fragment, got {shown!r}")
    return parsed
