"""Where a poller keeps its watch list and the outcomes of finished watches."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from ...models.invoice import InvoiceStatus
from ..events import WatchResult

__all__ = ["WatchRecord", "WatchStore", "SharedWatchStore", "Claim", "FleetEvent"]


@dataclass(slots=True)
class WatchRecord:
    """What survives a restart of a watch: its key, last status and dates (epoch seconds)."""

    key: str
    status: InvoiceStatus | None = None
    due_at: float | None = None
    changed_at: float | None = None
    created_at: float | None = None
    failures: int = 0


class WatchStore(abc.ABC):
    """The persistence of a poller.

    The poller keeps its working state in memory and writes through to the
    store: watches added, each status change, each final outcome. A final
    outcome is recorded *before* it is published, and :meth:`finish` reports
    whether it was new, so that an outcome is published at most once, even
    across restarts on a durable store.
    """

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the store (create tables, connect)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` took."""

    @abc.abstractmethod
    async def load_active(self) -> list[WatchRecord]:
        """The watches that were active when the store was last used."""

    @abc.abstractmethod
    async def add(self, records: Sequence[WatchRecord]) -> list[str]:
        """Record new watches; returns the keys accepted.

        A key that already finished is refused (its outcome stands: watching it
        again would publish it twice); ``forget`` it first to watch it anew.
        """

    @abc.abstractmethod
    async def update(self, record: WatchRecord) -> None:
        """Record a watch's new status or dates."""

    @abc.abstractmethod
    async def finish(self, result: WatchResult) -> bool:
        """Record a final outcome; ``False`` when this key had one already."""

    @abc.abstractmethod
    async def result(self, key: str) -> WatchResult | None:
        """The recorded outcome of ``key``, if it finished."""

    @abc.abstractmethod
    async def results(self) -> list[WatchResult]:
        """Every recorded outcome, oldest first."""

    @abc.abstractmethod
    async def forget(self, key: str) -> None:
        """Drop everything recorded about ``key``."""


@dataclass(slots=True)
class Claim:
    """A watch leased to this process: poll it, then reschedule it before the lease ends.

    ``confirm`` says a change was reported (a webhook, a sweep) and the poll is
    a confirmation; ``lease_until`` is the lease's end on the store's clock
    translated to this process's ``time.time()``.
    """

    record: WatchRecord
    lease_until: float
    confirm: bool = False


@dataclass(slots=True)
class FleetEvent:
    """An event published by one poller of a fleet, for the others' subscribers.

    ``kind`` is ``"change"`` or ``"result"``; ``payload`` the JSON of the
    ``StatusChange`` or ``WatchResult`` (see ``reqfin_async.poller.codec``);
    ``origin`` the publishing poller's id (a poller skips its own events).
    """

    kind: str
    origin: str
    payload: bytes


class SharedWatchStore(WatchStore):
    """A watch list shared by many pollers, on any number of hosts.

    The due schedule lives in the store, not in the poller: a poller *claims*
    due watches, each with a lease (a deadline) during which no other poller
    gets it, polls them, and *reschedules* them, which ends the lease. A
    poller that dies stops renewing; its leases expire and other pollers claim
    those watches. A final outcome is recorded at most once across the fleet
    (:meth:`finish`) and published to every poller (:meth:`publish`,
    :meth:`read_events`). The rate budget of the API credential is shared too
    (:meth:`take_token`): the limit is per credential, not per process.

    Every method may raise ``ConnectionError`` (or ``OSError``) while the store
    is unreachable; the poller then stops claiming, lets go of its leases
    before they expire, and resumes when the store is back.
    """

    #: How long a claim lasts before it must be renewed or rescheduled.
    lease_s: float

    @property
    @abc.abstractmethod
    def owner(self) -> str:
        """This poller's identity in the fleet (unique per process)."""

    async def load_active(self) -> list[WatchRecord]:
        # Nothing is loaded up front: the watches stay in the store and are claimed.
        return []

    async def update(self, record: WatchRecord) -> None:
        # A shared store learns the state of a watch when it is rescheduled.
        return None

    @abc.abstractmethod
    async def claim(self, limit: int) -> list[Claim]:
        """Lease up to ``limit`` watches that are due now (oldest due first)."""

    @abc.abstractmethod
    async def next_due_in(self) -> float | None:
        """Seconds until the earliest watch is due (0 if one is), ``None`` if there is none."""

    @abc.abstractmethod
    async def renew(self, keys: Sequence[str]) -> tuple[list[str], float]:
        """Extend the leases of ``keys``; returns the keys whose lease was lost
        (another poller holds it now, or the watch finished) and the new end."""

    @abc.abstractmethod
    async def reschedule(self, items: Sequence[tuple[WatchRecord, float]]) -> list[str]:
        """Record each watch's state and next poll in ``delay`` seconds, ending its lease.

        Applied only to watches this poller still holds; returns the keys that
        were not (their lease had been lost: the new holder's schedule stands).
        A watch whose confirmation was requested while it was held is due at once.
        """

    @abc.abstractmethod
    async def release(self, keys: Sequence[str]) -> None:
        """Give back leases without polling (shutting down): due at once for the others."""

    @abc.abstractmethod
    async def request_confirm(self, keys: Sequence[str]) -> list[str]:
        """Make these watches due at once, as confirmations; returns the keys watched."""

    @abc.abstractmethod
    async def is_active(self, key: str) -> bool:
        """Whether ``key`` is watched (added, not finished) somewhere in the fleet."""

    @abc.abstractmethod
    async def count_active(self) -> int:
        """How many watches are active in the whole fleet."""

    @abc.abstractmethod
    async def publish(self, event: FleetEvent) -> None:
        """Send an event to every poller of the fleet."""

    @abc.abstractmethod
    async def read_events(self, block_s: float) -> list[FleetEvent]:
        """The events published since the last call (waiting up to ``block_s`` for one)."""

    @abc.abstractmethod
    async def observe_budget(
        self, limit: int | None, remaining: int, reset_s: float | None
    ) -> None:
        """Share what an answer's ``X-Rate-Limit-*`` headers said about the credential's
        budget (calls per window, calls left, seconds until the window resets)."""

    @abc.abstractmethod
    async def reserve_call(self) -> tuple[bool, float]:
        """Reserve one request of the fleet's budget.

        ``(True, wait)``: the call is reserved, send it after ``wait`` seconds (the
        budget left is spread evenly over what is left of the window).
        ``(False, wait)``: nothing can be reserved now (the budget is spent, or not
        known yet); ask again after ``wait`` seconds.
        """
