"""The sandbox's world: users, organizations, invoices, clients, tokens and ids.

Invoices are plain dicts in the API's own JSON shape (camelCase), wrapped in an
:class:`InvoiceRecord` that keeps what the server needs beside them (network,
owning account, sort keys) and caches the encoded answer per view::

    state = SandboxState(SandboxConfig())
    record = state.find_invoice("test", "01ab...")   # by id or requestId
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from .config import SandboxConfig

__all__ = [
    "NETWORKS",
    "STATUSES",
    "AccessToken",
    "AuthCode",
    "InvoiceRecord",
    "Organization",
    "RefreshToken",
    "Role",
    "SandboxState",
    "User",
    "format_iso",
    "new_object_id",
    "new_request_id",
    "now_iso",
    "parse_iso",
]

NETWORKS = ("live", "test")
STATUSES = (
    "draft",
    "pending",
    "open",
    "paid",
    "declaredPaid",
    "accepted",
    "canceled",
    "rejected",
    "scheduled",
)
Role = Literal["seller", "buyer"]

_encode = msgspec.json.Encoder().encode

# MongoDB ObjectId layout (the API's ids are ObjectIds): 4-byte timestamp,
# 5 random bytes fixed per process, 3-byte counter. Ids made later sort higher:
# the counter starts in the lower half so that it cannot wrap within a run.
_PROCESS_BYTES = os.urandom(5).hex()
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big") >> 1)


def new_object_id() -> str:
    """A 24-hex-digit id shaped like the API's (a MongoDB ObjectId)."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{_PROCESS_BYTES}{next(_COUNTER) & 0xFFFFFF:06x}"


def new_request_id() -> str:
    """A Request Network request id: ``"01"`` followed by 64 hex digits."""
    return "01" + secrets.token_hex(32)


def format_iso(moment: datetime) -> str:
    """``2022-12-22T14:38:16.916Z``: UTC with milliseconds, as the API writes dates."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    return text + "Z"


def now_iso() -> str:
    """The current time in the API's date format."""
    return format_iso(datetime.now(UTC))


def parse_iso(text: object) -> datetime | None:
    """An aware datetime from an ISO-8601 date-time with an offset, else ``None``."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class User:
    """A user of the sandbox; ``api_key`` is ``None`` for users who only appear as owners."""

    id: str
    email: str
    firstname: str
    lastname: str
    api_key: str | None = None

    def as_owner(self) -> dict[str, str]:
        """The ``owner`` object of ``GET /users/organizations``."""
        return {
            "id": self.id,
            "email": self.email,
            "firstname": self.firstname,
            "lastname": self.lastname,
        }


@dataclass(frozen=True)
class Organization:
    """An organization: its owner and the role of every member."""

    id: str
    name: str
    display_name: str
    owner_id: str
    members: dict[str, str]  # user id -> role


@dataclass(eq=False)
class InvoiceRecord:
    """One invoice: the API-shaped ``data`` plus server-side bookkeeping.

    ``data`` holds neither ``role`` (it depends on the viewer) nor ``invoiceLinks``
    (only sent on conversion or with ``withLinks=true``). Whoever mutates ``data``
    calls :meth:`changed` so that cached answers are dropped.
    """

    data: dict[str, Any]
    network: str
    account_id: str
    creator_id: str
    buyer_email: str
    variant: str
    created_ts: float
    due_ts: float | None
    links: dict[str, str] | None = None
    behaviour: str | None = None
    scripted: bool = False
    _encoded: dict[tuple[str, bool], bytes] = field(default_factory=dict, repr=False)
    _haystack: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """The invoice id (24 hex digits)."""
        return str(self.data["id"])

    @property
    def request_id(self) -> str | None:
        """The on-chain request id, once converted."""
        value = self.data.get("requestId")
        return str(value) if value is not None else None

    @property
    def status(self) -> str | None:
        """The status, once converted."""
        value = self.data.get("status")
        return str(value) if value is not None else None

    @property
    def sort_key(self) -> tuple[float, str]:
        """Listing order key: creation date, then id (newest first when reversed)."""
        return (self.created_ts, self.id)

    def changed(self) -> None:
        """Drop the cached encodings and search text after ``data`` changed."""
        self._encoded.clear()
        self._haystack = None

    def view(self, role: Role, *, with_links: bool = False) -> dict[str, Any]:
        """The invoice as the API answers it to a viewer with ``role`` (a new dict)."""
        body = dict(self.data)
        if with_links and self.links is not None:
            body["invoiceLinks"] = self.links
        body["role"] = role
        return body

    def encoded(self, role: Role, with_links: bool) -> bytes:
        """The JSON of :meth:`view`, cached until the next :meth:`changed`."""
        key = (role, with_links)
        cached = self._encoded.get(key)
        if cached is None:
            cached = self._encoded[key] = _encode(self.view(role, with_links=with_links))
        return cached

    def haystack(self) -> str:
        """Lower-case text that ``?search=`` looks into, cached until :meth:`changed`."""
        if self._haystack is None:
            data = self.data
            parts: list[str] = [str(data.get("invoiceNumber", "")), self.request_id or ""]
            for party in ("buyerInfo", "sellerInfo"):
                info = data.get(party) or {}
                parts.extend(
                    str(info.get(key, ""))
                    for key in ("businessName", "email", "firstName", "lastName")
                )
            parts.extend(str(tag) for tag in data.get("tags") or ())
            parts.append(str((data.get("paymentMetadata") or {}).get("txHash", "")))
            self._haystack = "\x00".join(parts).lower()
        return self._haystack


@dataclass
class AccessToken:
    """An access token the sandbox issued; ``expires_at`` is Unix time."""

    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class RefreshToken:
    """A refresh token; it is deleted when used (rotation)."""

    user_id: str
    client_id: str
    scope: str


@dataclass
class AuthCode:
    """An authorization code waiting to be exchanged (single use, short-lived)."""

    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    code_challenge: str
    expires_at: float


class SandboxState:
    """All the data of one sandbox run, kept in memory.

    ::

        state.main_user.email          # "seller@sandbox.test"
        state.account_for(user, None)  # the user's own account id
    """

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.main_user = User(
            new_object_id(), "seller@sandbox.test", "Sandra", "Seller", config.api_key
        )
        self.buyer_user = User(
            new_object_id(), "buyer@sandbox.test", "Bruno", "Buyer", config.buyer_api_key
        )
        globex_owner = User(new_object_id(), "globex@sandbox.test", "Gloria", "Globex")
        self.users: dict[str, User] = {
            u.id: u for u in (self.main_user, self.buyer_user, globex_owner)
        }
        self.users_by_key = {u.api_key: u for u in self.users.values() if u.api_key}
        self.users_by_email = {u.email: u for u in self.users.values()}
        orgs = [
            Organization(
                new_object_id(), "acme-corp", "Acme Corp", self.main_user.id,
                {self.main_user.id: "admin"},
            ),
            Organization(
                new_object_id(), "globex", "Globex", globex_owner.id,
                {globex_owner.id: "admin", self.main_user.id: "admin"},
            ),
            Organization(
                new_object_id(), "buyer-inc", "Buyer Inc", self.buyer_user.id,
                {self.buyer_user.id: "admin"},
            ),
        ]  # fmt: skip
        self.organizations: dict[str, Organization] = {org.id: org for org in orgs}
        # network -> invoice id and requestId -> record (both keys point to the same record)
        self._invoices: dict[str, dict[str, InvoiceRecord]] = {n: {} for n in NETWORKS}
        self._records: dict[str, list[InvoiceRecord]] = {n: [] for n in NETWORKS}
        # Listing order, rebuilt only after an invoice was added (creation dates never change).
        self._newest_first: dict[str, list[InvoiceRecord] | None] = dict.fromkeys(NETWORKS)
        self._numbers: set[tuple[str, str, str]] = set()
        self.clients: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}

    # -- accounts -------------------------------------------------------------------------

    def owned_organization(self, user: User) -> Organization | None:
        """The organization ``user`` owns, if any."""
        return next((o for o in self.organizations.values() if o.owner_id == user.id), None)

    def organizations_of(self, user: User) -> list[Organization]:
        """The organizations ``user`` is a member of."""
        return [o for o in self.organizations.values() if user.id in o.members]

    def account_for(self, user: User, organization_id: str | None) -> str | None:
        """The account a call acts on, or ``None`` when the user is not a member.

        Without ``X-Organization`` it is the user's own account: the organization
        they own (so sending its id changes nothing), else their personal one.
        """
        if organization_id is None:
            owned = self.owned_organization(user)
            return owned.id if owned else user.id
        org = self.organizations.get(organization_id)
        return org.id if org is not None and user.id in org.members else None

    def account_email(self, account_id: str) -> str:
        """The address invoices to this account are sent to (an organization's owner's)."""
        org = self.organizations.get(account_id)
        user = self.users[org.owner_id if org else account_id]
        return user.email

    # -- invoices -------------------------------------------------------------------------

    def add_invoice(self, record: InvoiceRecord) -> None:
        """Store a new invoice and reserve its number in its account."""
        self._invoices[record.network][record.id] = record
        self._records[record.network].append(record)
        self._newest_first[record.network] = None
        number = str(record.data["invoiceNumber"])
        self._numbers.add((record.network, record.account_id, number))

    def index_request_id(self, record: InvoiceRecord) -> None:
        """Make a converted invoice findable by its requestId."""
        if record.request_id is not None:
            self._invoices[record.network][record.request_id] = record

    def number_taken(self, network: str, account_id: str, number: str) -> bool:
        """Whether the account already used this invoice number on ``network``."""
        return (network, account_id, number) in self._numbers

    def find_invoice(self, network: str, key: str) -> InvoiceRecord | None:
        """The invoice with this id or requestId on ``network``."""
        return self._invoices[network].get(key)

    def find_anywhere(self, key: str) -> InvoiceRecord | None:
        """The invoice with this id or requestId on either network (control plane)."""
        for network in NETWORKS:
            record = self._invoices[network].get(key)
            if record is not None:
                return record
        return None

    def invoices(self, network: str) -> list[InvoiceRecord]:
        """Every invoice of ``network``, in the order they were created."""
        return self._records[network]

    def newest_first(self, network: str) -> list[InvoiceRecord]:
        """Every invoice of ``network`` in listing order: creationDate, then id, descending."""
        ordered = self._newest_first[network]
        if ordered is None:
            ordered = sorted(self._records[network], key=lambda r: r.sort_key, reverse=True)
            self._newest_first[network] = ordered
        return ordered

    def role_for(self, record: InvoiceRecord, account_id: str, email: str) -> Role | None:
        """How the account sees the invoice: its seller, its buyer, or not at all.

        Buyers see an invoice only once it is on chain (it has a ``requestId``).
        """
        if record.account_id == account_id:
            return "seller"
        if record.buyer_email == email and "requestId" in record.data:
            return "buyer"
        return None

    # -- clients --------------------------------------------------------------------------

    def clients_of(self, network: str, account_id: str) -> dict[str, dict[str, Any]]:
        """The account's clients on ``network`` (id -> client)."""
        return self.clients.setdefault((network, account_id), {})
