"""What the Invoice-Collector sandbox remembers: the customer, users, tokens, collectors.

A user is created or found by ``remote_id``; user tokens live in memory with
an expiry, as on the real server. A *credential* is one collector connected by
one user; it holds the invoices waiting at the supplier, each marked once a
delivery of it was acknowledged::

    state = CollectorState(config)
    user = state.create_or_get_user("A1", "en")
    credential = state.add_credential(user, "free", count=2, mimetype=PDF)
"""

from __future__ import annotations

import enum
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import CollectorSandboxConfig
from .documents import PDF, document

__all__ = [
    "CATALOG",
    "CollectorState",
    "Credential",
    "SourceInvoice",
    "User",
    "TokenCheck",
    "MADE_UP",
    "Amount",
]

# The collectors the sandbox offers: id -> (name, description).
CATALOG: dict[str, tuple[str, str]] = {
    "free": ("Free", "Free Mobile and Freebox invoices"),
    "orange": ("Orange", "Orange mobile and internet invoices"),
    "ovh": ("OVHcloud", "OVHcloud hosting invoices"),
    "amazon": ("Amazon", "Amazon order invoices"),
}


class _MadeUp(enum.Enum):
    AMOUNT = "made up"


#: "Make an amount up" (``None`` is a real choice: an invoice without an amount).
MADE_UP = _MadeUp.AMOUNT
Amount = str | None | Literal[_MadeUp.AMOUNT]


@dataclass
class SourceInvoice:
    """An invoice at the supplier; ``delivered`` once a callback answered 200 for it."""

    id: str
    timestamp_ms: int
    amount: str | None
    mimetype: str
    link: str
    data: bytes = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict)
    delivered: bool = False


@dataclass
class Credential:
    """One collector connected by one user, with the invoices found there."""

    id: str
    collector_id: str
    user: User = field(repr=False)
    invoices: list[SourceInvoice] = field(default_factory=list)

    @property
    def collector(self) -> dict[str, str]:
        """The collector object the callbacks carry."""
        name, description = CATALOG[self.collector_id]
        return {"id": self.collector_id, "name": name, "description": description}


@dataclass
class User:
    """One of the customer's users, known by ``remote_id``."""

    id: str
    remote_id: str
    locale: str
    credentials: dict[str, Credential] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The outcome of looking a user token up: the user, or why there is none."""

    user: User | None
    problem: str | None = None


class CollectorState:
    """The server's memory; every method is synchronous and used from the loop only."""

    def __init__(self, config: CollectorSandboxConfig) -> None:
        self.config = config
        self.customer_id = "customer-" + secrets.token_hex(6)
        self.customer_name = config.customer_name
        self.callback = config.callback
        self.users: dict[str, User] = {}
        self.credentials: dict[str, Credential] = {}
        self.faults_left = 0
        self._tokens: dict[str, tuple[str, float]] = {}
        self._invoice_numbers = itertools.count(1)

    # -- users and tokens --------------------------------------------------------------
    def create_or_get_user(self, remote_id: str, locale: str) -> User:
        """The user with ``remote_id``, created with ``locale`` when new."""
        user = self.users.get(remote_id)
        if user is None:
            user = User(id="user-" + secrets.token_hex(6), remote_id=remote_id, locale=locale)
            self.users[remote_id] = user
        return user

    def new_token(self, user: User) -> str:
        """A new user token; earlier ones stay valid until they expire."""
        token = secrets.token_hex(64)
        self._tokens[token] = (user.remote_id, time.monotonic() + self.config.user_token_ttl_s)
        return token

    def check_token(self, token: str | None) -> TokenCheck:
        """Who ``token`` belongs to, or ``problem`` ("missing", "invalid", "expired")."""
        if not token:
            return TokenCheck(None, "missing")
        found = self._tokens.get(token)
        if found is None:
            return TokenCheck(None, "invalid")
        remote_id, expires_at = found
        if time.monotonic() >= expires_at:
            del self._tokens[token]
            return TokenCheck(None, "expired")
        user = self.users.get(remote_id)
        return TokenCheck(user, None if user else "invalid")

    def delete_user(self, remote_id: str) -> bool:
        """Forget the user, its tokens and its credentials; whether it existed."""
        user = self.users.pop(remote_id, None)
        if user is None:
            return False
        for credential_id in user.credentials:
            self.credentials.pop(credential_id, None)
        self._tokens = {t: v for t, v in self._tokens.items() if v[0] != remote_id}
        return True

    # -- collectors and invoices -------------------------------------------------------
    def add_credential(
        self,
        user: User,
        collector_id: str,
        *,
        count: int,
        mimetype: str = PDF,
        amount: Amount = MADE_UP,
    ) -> Credential:
        """Connect ``collector_id`` for ``user``, with ``count`` invoices waiting there."""
        if collector_id not in CATALOG:
            raise ValueError(f"unknown collector {collector_id!r}; known: {', '.join(CATALOG)}")
        credential = Credential(
            id="credential-" + secrets.token_hex(6), collector_id=collector_id, user=user
        )
        user.credentials[credential.id] = credential
        self.credentials[credential.id] = credential
        self.add_invoices(credential, count, mimetype=mimetype, amount=amount)
        return credential

    def add_invoices(
        self,
        credential: Credential,
        count: int,
        *,
        mimetype: str = PDF,
        amount: Amount = MADE_UP,
    ) -> list[SourceInvoice]:
        """``count`` new invoices at the supplier (an amount is made up unless given)."""
        added = []
        for _ in range(count):
            number = next(self._invoice_numbers)
            invoice_id = f"{credential.collector_id.upper()}-{number:05d}"
            cents = 1000 + (number * 7919) % 90000
            text = f"${cents // 100}.{cents % 100:02d}"
            shown = text if amount is MADE_UP else amount
            lines = [f"Invoice {invoice_id}", f"Customer {credential.user.remote_id}"]
            if shown is not None:
                lines.append(f"Total {shown}")
            invoice = SourceInvoice(
                id=invoice_id,
                timestamp_ms=int(time.time() * 1000) - number * 86_400_000,
                amount=shown,
                mimetype=mimetype,
                link=f"https://{credential.collector_id}.sandbox.invalid/invoices/{invoice_id}",
                data=document(mimetype, lines, seed=number),
            )
            credential.invoices.append(invoice)
            added.append(invoice)
        return added

    def waiting(self) -> list[tuple[Credential, SourceInvoice]]:
        """Every invoice not yet acknowledged, with its credential."""
        return [
            (credential, invoice)
            for credential in self.credentials.values()
            for invoice in credential.invoices
            if not invoice.delivered
        ]
