"""A poller process, for the crash test: it follows invoices of a sandbox with a
``SQLiteWatchStore`` and writes every event it receives as one JSON line to a log.

    python poller_process.py URL API_KEY STORE IDS_FILE LOG_FILE

Every start watches every id of ``IDS_FILE`` again (as a service would on boot): what
the store already finished or resumed must not be watched twice. The process exits 0
once no watch is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import IO, Any

import anyio

from reqfin_async import ApiKeyAuth, RequestFinanceClient
from reqfin_async.poller import (
    SQLiteWatchStore,
    StatusChange,
    StatusPoller,
    Subscription,
    WatchResult,
)


class EventLog:
    """One JSON object per line, flushed at once: a SIGKILL loses at most a partial line."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, **record: Any) -> None:
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


async def record_changes(changes: Subscription[StatusChange], log: EventLog) -> None:
    async for change in changes:
        log.write(
            kind="change",
            key=change.key,
            old=change.old_status.value if change.old_status is not None else None,
            new=change.new_status.value if change.new_status is not None else None,
            final=change.final,
        )


async def record_outcomes(outcomes: Subscription[WatchResult], log: EventLog) -> None:
    async for result in outcomes:
        log.write(
            kind="outcome",
            key=result.key,
            reason=result.reason.value,
            status=result.status.value if result.status is not None else None,
        )


async def follow(args: argparse.Namespace, ids: list[str], log: EventLog) -> None:
    auth = ApiKeyAuth(args.api_key)
    async with RequestFinanceClient(auth, network="test", base_url=args.url) as client:
        poller = StatusPoller(
            client, interval=0.2, overdue_grace_s=0.1, store=SQLiteWatchStore(args.store)
        )
        async with anyio.create_task_group() as tg, poller:
            tg.start_soon(record_changes, poller.changes(), log)
            tg.start_soon(record_outcomes, poller.outcomes(), log)
            resumed = poller.status_counts()
            added = await poller.watch_many(ids)
            log.write(kind="started", resumed=resumed, added=len(added))
            await poller.drain()
            # The poller has stopped: the recorders end after the events still buffered.
        log.write(kind="done", stats=poller.stats().finished)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    for name in ("url", "api_key", "store", "ids", "log"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    ids = json.loads(Path(args.ids).read_text())
    with Path(args.log).open("a", encoding="utf-8") as stream:
        anyio.run(follow, args, ids, EventLog(stream))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
