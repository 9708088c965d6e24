"""Where the watch list lives: memory (default) or an SQLite file."""

from .base import WatchRecord, WatchStore
from .memory import MemoryWatchStore
from .sqlite import RestoredError, SQLiteWatchStore

__all__ = ["WatchRecord", "WatchStore", "MemoryWatchStore", "SQLiteWatchStore", "RestoredError"]
