"""A durable store on SQLite: a restarted process resumes every watch.

Statements run off the event loop (see ``reqfin_async._sqlite``). A final outcome is
inserted once (``INSERT ... ON CONFLICT DO NOTHING`` in the same transaction
that removes the active watch), which is how an outcome is published at most
once across restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from ..._sqlite import SQLiteDatabase
from ...models._codec import decoder, encode
from ...models.invoice import Invoice, InvoiceStatus
from ..codec import RestoredError
from ..events import FinishReason, WatchResult
from .base import WatchRecord, WatchStore

__all__ = ["SQLiteWatchStore", "RestoredError"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watches (
    key TEXT PRIMARY KEY,
    status TEXT,
    due_at REAL,
    changed_at REAL,
    created_at REAL
);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    request_id TEXT,
    status TEXT,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    invoice BLOB,
    error TEXT
);
"""


class SQLiteWatchStore(WatchStore):
    """Keeps watches and outcomes in an SQLite file.

    ::

        async with StatusPoller(client, store=SQLiteWatchStore("watches.sqlite3")) as poller:
            ...   # after a crash, the same file resumes every watch
    """

    def __init__(self, path: str | Path) -> None:
        self._db = SQLiteDatabase(path, schema=_SCHEMA)

    @property
    def path(self) -> Path:
        return self._db.path

    def __repr__(self) -> str:
        return f"SQLiteWatchStore({str(self.path)!r})"

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(fn)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def load_active(self) -> list[WatchRecord]:
        def load(conn: sqlite3.Connection) -> list[WatchRecord]:
            rows = conn.execute(
                "SELECT key, status, due_at, changed_at, created_at FROM watches"
            ).fetchall()
            return [
                WatchRecord(
                    key=key,
                    status=InvoiceStatus(status) if status is not None else None,
                    due_at=due_at,
                    changed_at=changed_at,
                    created_at=created_at,
                )
                for key, status, due_at, changed_at, created_at in rows
            ]

        return await self._run(load)

    async def add(self, records: Sequence[WatchRecord]) -> list[str]:
        rows = [_row(r) for r in records]

        def insert(conn: sqlite3.Connection) -> list[str]:
            with conn:  # one transaction for the whole batch
                conn.execute("BEGIN IMMEDIATE")
                finished: set[str] = set()
                keys = [row[0] for row in rows]
                for start in range(0, len(keys), 500):  # SQLite's bound on parameters
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    finished.update(
                        key
                        for (key,) in conn.execute(
                            f"SELECT key FROM results WHERE key IN ({marks})",  # noqa: S608
                            chunk,
                        )
                    )
                fresh = [row for row in rows if row[0] not in finished]
                conn.executemany(
                    "INSERT INTO watches (key, status, due_at, changed_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                    fresh,
                )
                return [row[0] for row in fresh]

        return await self._run(insert)

    async def update(self, record: WatchRecord) -> None:
        row = _row(record)

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE watches SET status = ?2, due_at = ?3, changed_at = ?4, created_at = ?5 "
                "WHERE key = ?1",
                row,
            )

        await self._run(upsert)

    async def finish(self, result: WatchResult) -> bool:
        row = (
            result.key,
            result.request_id,
            result.status.value if result.status is not None else None,
            result.reason.value,
            result.at.isoformat(),
            encode(result.invoice) if result.invoice is not None else None,
            str(result.error) if result.error is not None else None,
        )

        def record(conn: sqlite3.Connection) -> bool:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("DELETE FROM watches WHERE key = ?", (result.key,))
                cursor = conn.execute(
                    "INSERT INTO results (key, request_id, status, reason, at, invoice, error) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                    row,
                )
                return cursor.rowcount == 1

        return await self._run(record)

    async def result(self, key: str) -> WatchResult | None:
        def fetch(conn: sqlite3.Connection) -> tuple[Any, ...] | None:
            found: tuple[Any, ...] | None = conn.execute(
                "SELECT key, request_id, status, reason, at, invoice, error FROM results "
                "WHERE key = ?",
                (key,),
            ).fetchone()
            return found

        row = await self._run(fetch)
        return _result(row) if row is not None else None

    async def results(self) -> list[WatchResult]:
        def fetch(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                "SELECT key, request_id, status, reason, at, invoice, error FROM results "
                "ORDER BY seq"
            ).fetchall()

        return [_result(row) for row in await self._run(fetch)]

    async def forget(self, key: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.execute("DELETE FROM watches WHERE key = ?", (key,))
                conn.execute("DELETE FROM results WHERE key = ?", (key,))

        await self._run(delete)


def _row(record: WatchRecord) -> tuple[Any, ...]:
    status = record.status.value if record.status is not None else None
    return (record.key, status, record.due_at, record.changed_at, record.created_at)


def _result(row: tuple[Any, ...]) -> WatchResult:
    key, request_id, status, reason, at, invoice, error = row
    return WatchResult(
        key=key,
        request_id=request_id,
        status=InvoiceStatus(status) if status is not None else None,
        reason=FinishReason(reason),
        at=datetime.fromisoformat(at),
        invoice=decoder(Invoice).decode(invoice) if invoice is not None else None,
        error=RestoredError(error) if error is not None else None,
    )
