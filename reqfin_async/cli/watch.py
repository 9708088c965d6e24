"""``reqfin-async watch``: follow invoices of the real API until each one is settled.

Credentials come from the environment: ``REQFIN_API_KEY``, or
``REQFIN_CLIENT_ID`` and ``REQFIN_CLIENT_SECRET``; ``REQFIN_NETWORK`` (test by
default) and ``REQFIN_BASE_URL`` point elsewhere (the sandbox, say). The exit
code is 0 when every invoice ended paid, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

__all__ = ["add_arguments", "run", "parse_store", "read_ids"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="invoice ids or requestIds")
    parser.add_argument("--file", type=Path, help="a file of ids, one per line (# comments)")
    parser.add_argument("--interval", type=float, default=30.0, metavar="S", help="poll interval")
    parser.add_argument(
        "--store",
        metavar="sqlite:PATH",
        help="keep the watch list in an SQLite file, to resume after a restart",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel requests (default 8)")


def read_ids(ids: list[str], file: Path | None) -> list[str]:
    """The ids from the command line and the file, in order, without repeats."""
    found = list(ids)
    if file is not None:
        for line in file.read_text().splitlines():
            text = line.split("#", 1)[0].strip()
            if text:
                found.append(text)
    return list(dict.fromkeys(found))


def parse_store(spec: str | None) -> object | None:
    """A watch store from ``sqlite:PATH`` (``None`` keeps the list in memory)."""
    if spec is None:
        return None
    kind, _, where = spec.partition(":")
    if kind != "sqlite" or not where:
        raise ValueError(f"--store takes sqlite:PATH, got {spec!r}")
    from ..poller import SQLiteWatchStore

    return SQLiteWatchStore(where)


def run(args: argparse.Namespace) -> int:
    try:
        ids = read_ids(args.ids, args.file)
        store = parse_store(args.store)
    except (OSError, ValueError) as exc:
        print(f"reqfin-async watch: {exc}", file=sys.stderr)
        return 2
    if not ids and store is None:
        print(
            "reqfin-async watch: give invoice ids, --file or a --store to resume", file=sys.stderr
        )
        return 2
    return anyio.run(_watch, args, ids, store)


async def _watch(args: argparse.Namespace, ids: list[str], store: object | None) -> int:
    from .. import RequestFinanceClient
    from ..poller import StatusPoller, WatchStore
    from .display import ProgressDisplay, table

    try:
        client = RequestFinanceClient.from_env()
    except ValueError as exc:
        print(f"reqfin-async watch: {exc}", file=sys.stderr)
        return 2
    assert store is None or isinstance(store, WatchStore)
    async with (
        client,
        StatusPoller(
            client, interval=args.interval, store=store, concurrency=args.concurrency
        ) as poller,
    ):
        await poller.watch_many(ids)
        display = ProgressDisplay(poller)
        async with anyio.create_task_group() as tg:
            tg.start_soon(display.run)
            await poller.drain()
            tg.cancel_scope.cancel()
        display.render(final=True)
        results = await poller.results()
    wanted = set(ids) or {r.key for r in results}
    rows = [
        [
            r.key,
            r.reason.value,
            r.status.value if r.status is not None else "-",
            str(r.error) if r.error is not None else "",
        ]
        for r in results
        if r.key in wanted
    ]
    print(table(["invoice", "outcome", "last status", "error"], rows))
    return 0 if rows and all(r[1] == "paid" for r in rows) else 1
