"""One SQLite connection used from a worker thread, never from the event loop.

The stdlib driver blocks, so every statement runs in ``anyio.to_thread``; one
lock serializes them on the single connection (WAL mode, so readers in other
processes are not blocked). Shared by the durable stores::

    db = SQLiteDatabase(path, schema=SCHEMA)
    await db.open()
    rows = await db.run(lambda conn: conn.execute("SELECT ...").fetchall())
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

__all__ = ["SQLiteDatabase"]

T = TypeVar("T")


class SQLiteDatabase:
    """An SQLite file opened once, its statements run one at a time off the event loop."""

    def __init__(self, path: str | Path, *, schema: str) -> None:
        self.path = Path(path)
        self._schema = schema
        self._conn: sqlite3.Connection | None = None
        self._lock = anyio.Lock()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def open(self) -> None:
        """Connect and create the tables (idempotent, and safe to call concurrently)."""
        if self._conn is not None:
            return
        async with self._lock:
            if self._conn is None:  # another caller may have opened it meanwhile
                self._conn = await anyio.to_thread.run_sync(self._connect)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN ... in run()).
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(self._schema)
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in a worker thread, alone on the connection."""
        conn = self._conn
        if conn is None:
            raise RuntimeError(f"the SQLite database {str(self.path)!r} is not open")
        async with self._lock:
            return await anyio.to_thread.run_sync(fn, conn)

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        async with self._lock:  # after an open() or a statement under way
            conn, self._conn = self._conn, None
            if conn is not None:
                await anyio.to_thread.run_sync(conn.close)
