"""Checks run before a call to the Invoice-Collector is sent.

The server refuses the same input with a 400; refusing it here costs no round
trip and names every problem at once. Failures raise the project's
``InvoiceValidationError`` (a ``ValueError``), as the core's checks do::

    check_new_user("ann@acme.example", "en", "A1")      # fine
    check_new_user("not-an-email", "de", "A 1")         # raises, listing the three fields
"""

from __future__ import annotations

from yarl import URL

from ..errors import InvoiceValidationError
from ..validation import is_email  # one definition of a well-formed email for the library
from .models import LOCALES

__all__ = ["check_customer_update", "check_new_user", "check_remote_id"]

Problems = list[tuple[str, str]]


def _raise_if_any(problems: Problems) -> None:
    if problems:
        raise InvoiceValidationError(problems)


def _remote_id_problems(remote_id: object, problems: Problems) -> None:
    if not isinstance(remote_id, str) or not remote_id:
        problems.append(("remote_id", "must be a non-empty string"))
    elif any(c.isspace() for c in remote_id):
        problems.append(("remote_id", "must not contain spaces"))


def check_customer_update(callback: object, name: object = None) -> None:
    """``callback`` must be an absolute http(s) URL; ``name``, when given, non-empty text."""
    problems: Problems = []
    url: URL | None = None
    if isinstance(callback, str):
        try:
            url = URL(callback)
        except ValueError:
            url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        problems.append(("callback", "must be an absolute http(s) URL"))
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(("name", "must be non-empty text when given"))
    _raise_if_any(problems)


def check_new_user(email: object, locale: object, remote_id: object) -> None:
    """A well-formed email, a locale the server has (en, fr) and a remote_id without spaces."""
    problems: Problems = []
    if not is_email(email):
        problems.append(("email", "must be an email address such as name@example.com"))
    if locale not in LOCALES:
        problems.append(("locale", f"must be one of {', '.join(LOCALES)}, got {locale!r}"))
    _remote_id_problems(remote_id, problems)
    _raise_if_any(problems)


def check_remote_id(remote_id: object) -> None:
    """A non-empty ``remote_id`` without spaces (the server's own rule)."""
    problems: Problems = []
    _remote_id_problems(remote_id, problems)
    _raise_if_any(problems)
