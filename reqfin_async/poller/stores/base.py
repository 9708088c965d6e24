"""Where a poller keeps its watch list and the outcomes of finished watches."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

from ...models.invoice import InvoiceStatus
from ..events import WatchResult

__all__ = ["WatchRecord", "WatchStore"]


@dataclass(slots=True)
class WatchRecord:
    """What survives a restart of a watch: its key, last status and dates (epoch seconds)."""

    key: str
    status: InvoiceStatus | None = None
    due_at: float | None = None
    changed_at: float | None = None
    created_at: float | None = None


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
