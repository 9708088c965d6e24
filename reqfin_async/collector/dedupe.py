"""Which invoice deliveries were already handled, so a redelivery is acknowledged only.

The Invoice-Collector sends an invoice again when an earlier delivery was not
acknowledged with a 200 (a timeout, a crash after the work was done), so a
receiver must recognise ``(collector id, remote_id, invoice id)``. A key is
recorded only after the handler succeeded, and concurrent deliveries of one
key run the handler once::

    handled = await store.run_once(delivery.key, lambda: save(delivery))

``MemoryDedupe`` forgets on restart; ``SQLiteDedupe`` keeps the keys in a file.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from .._log import get_logger
from .._sqlite import SQLiteDatabase
from .callbacks import DeliveryKey

__all__ = ["DedupeStore", "MemoryDedupe", "SQLiteDedupe", "DEFAULT_MAX_KEYS"]

DEFAULT_MAX_KEYS = 100_000
_log = get_logger()


@dataclass(slots=True)
class _KeyLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class DedupeStore(abc.ABC):
    """Remembers handled delivery keys; :meth:`run_once` is what a receiver calls.

    A subclass stores keys (:meth:`contains`, :meth:`add`) and may hold a
    resource (:meth:`open`, :meth:`close`); it calls ``super().__init__()``.
    """

    def __init__(self) -> None:
        # One lock per key being handled, so that a redelivery arriving while the
        # first delivery is still in the handler waits for its outcome.
        self._locks: dict[DeliveryKey, _KeyLock] = {}

    @abc.abstractmethod
    async def contains(self, key: DeliveryKey) -> bool:
        """Whether ``key`` was handled already."""

    @abc.abstractmethod
    async def add(self, key: DeliveryKey) -> None:
        """Record ``key`` as handled."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Take what the store needs (a file, a connection)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`open` took."""

    async def run_once(self, key: DeliveryKey, handle: Callable[[], Awaitable[object]]) -> bool:
        """Await ``handle()`` unless ``key`` was handled; record it after success.

        Returns whether ``handle`` ran. When it raises, nothing is recorded and
        the exception propagates, so the next delivery of the key runs it again.
        """
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = _KeyLock()
        entry.users += 1
        try:
            async with entry.lock:
                if await self.contains(key):
                    return False
                await handle()
                try:
                    await self.add(key)
                except Exception as exc:
                    # Handled all the same: answering with an error would have the
                    # sender deliver again and the handler run twice. A redelivery
                    # the store then misses is the smaller harm.
                    _log.error(
                        "collector_dedupe_record_failed",
                        **key._asdict(),
                        error=repr(exc),
                    )
                return True
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[key]

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class MemoryDedupe(DedupeStore):
    """Keys in memory, the oldest forgotten past ``max_keys``; lost when the process ends.

    ::

        app = collector_callback_app(save, dedupe=MemoryDedupe(max_keys=10_000))
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        super().__init__()
        self.max_keys = max_keys
        self._keys: OrderedDict[DeliveryKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    async def contains(self, key: DeliveryKey) -> bool:
        return key in self._keys

    async def add(self, key: DeliveryKey) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS collector_deliveries (
    collector_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    invoice_id TEXT NOT NULL,
    handled_at REAL NOT NULL,
    PRIMARY KEY (collector_id, remote_id, invoice_id)
) WITHOUT ROWID;
"""


class SQLiteDedupe(DedupeStore):
    """Keys in an SQLite file: a restarted receiver still recognises a redelivery.

    ::

        async with SQLiteDedupe("collector-deliveries.sqlite3") as dedupe:
            app = collector_callback_app(save, dedupe=dedupe)

    The file opens on first use if :meth:`open` was not called; statements
    run off the event loop. :meth:`close` ends the connection, and a later
    use opens it again.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._db = SQLiteDatabase(path, schema=_SCHEMA)

    @property
    def path(self) -> Path:
        return self._db.path

    def __repr__(self) -> str:
        return f"SQLiteDedupe({str(self.path)!r})"

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def _ready(self) -> SQLiteDatabase:
        if not self._db.is_open:
            await self.open()
        return self._db

    async def contains(self, key: DeliveryKey) -> bool:
        def find(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM collector_deliveries"
                " WHERE collector_id = ? AND remote_id = ? AND invoice_id = ?",
                tuple(key),
            ).fetchone()
            return row is not None

        return await (await self._ready()).run(find)

    async def add(self, key: DeliveryKey) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO collector_deliveries"
                " (collector_id, remote_id, invoice_id, handled_at) VALUES (?, ?, ?, ?)",
                (*key, time.time()),
            )

        await (await self._ready()).run(insert)
