"""The default store: nothing survives the process; outcomes are kept, up to a bound."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from ..events import WatchResult
from .base import WatchRecord, WatchStore

__all__ = ["MemoryWatchStore"]

DEFAULT_MAX_RESULTS = 100_000


class MemoryWatchStore(WatchStore):
    """Keeps the outcomes of the last ``max_results`` finished watches in memory.

    The active watches live in the poller itself, so this store costs nothing
    per watch. A long-running watcher keeps a bounded history: the oldest
    outcomes are forgotten first. ::

        poller = StatusPoller(client, store=MemoryWatchStore(max_results=10_000))
    """

    def __init__(self, *, max_results: int | None = DEFAULT_MAX_RESULTS) -> None:
        if max_results is not None and max_results < 1:
            raise ValueError("max_results must be positive or None (no bound)")
        self._max_results = max_results
        self._results: OrderedDict[str, WatchResult] = OrderedDict()

    async def load_active(self) -> list[WatchRecord]:
        return []

    async def add(self, records: Sequence[WatchRecord]) -> list[str]:
        return [r.key for r in records if r.key not in self._results]

    async def update(self, record: WatchRecord) -> None:
        return None

    async def finish(self, result: WatchResult) -> bool:
        if result.key in self._results:
            return False
        self._results[result.key] = result
        if self._max_results is not None and len(self._results) > self._max_results:
            self._results.popitem(last=False)
        return True

    async def result(self, key: str) -> WatchResult | None:
        return self._results.get(key)

    async def results(self) -> list[WatchResult]:
        return list(self._results.values())

    async def forget(self, key: str) -> None:
        self._results.pop(key, None)
