"""The payment-status poller: scheduler, workers, sweeps, events and watch stores."""

from typing import TYPE_CHECKING, Any

from .events import FinishReason, StatusChange, Subscription, WatchResult
from .poller import SWEEP_STATUSES, PollerClosedError, StatusPoller
from .schedule import IntervalPolicy, TimerWheel
from .stats import PollerStats
from .stores import MemoryWatchStore, SQLiteWatchStore, WatchRecord, WatchStore
from .stores.base import SharedWatchStore

if TYPE_CHECKING:
    from .stores.redis import RedisWatchStore


def __getattr__(name: str) -> Any:
    # RedisWatchStore needs the optional `redis` package: imported on first use only.
    if name == "RedisWatchStore":
        from .stores.redis import RedisWatchStore

        return RedisWatchStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "StatusPoller",
    "StatusChange",
    "WatchResult",
    "FinishReason",
    "Subscription",
    "PollerStats",
    "PollerClosedError",
    "IntervalPolicy",
    "TimerWheel",
    "WatchStore",
    "WatchRecord",
    "MemoryWatchStore",
    "SQLiteWatchStore",
    "SharedWatchStore",
    "RedisWatchStore",
    "SWEEP_STATUSES",
]
