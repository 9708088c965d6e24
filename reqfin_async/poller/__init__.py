"""The payment-status poller: scheduler, workers, sweeps, events and watch stores."""

from .events import FinishReason, StatusChange, Subscription, WatchResult
from .poller import SWEEP_STATUSES, PollerClosedError, StatusPoller
from .schedule import IntervalPolicy, TimerWheel
from .stats import PollerStats
from .stores import MemoryWatchStore, SQLiteWatchStore, WatchRecord, WatchStore

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
    "SWEEP_STATUSES",
]
