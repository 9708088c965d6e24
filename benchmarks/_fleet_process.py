"""One poller process of the ``fleet`` benchmark, driven by JSON lines on stdin.

    python -m benchmarks._fleet_process

The process imports everything, prints ``{"ready": true}`` and then answers each
command (one JSON object per line on stdin) with one JSON line on stdout:

- ``{"cmd": "start", ...}``: open a ``StatusPoller`` (settings below); answers
  ``{"started": owner}``. ``client`` is ``"sandbox"`` (a ``RequestFinanceClient``
  on ``url`` with ``api_key``) or ``"stub"`` (``poller_scale.StubClient``: every
  ``invoices.get`` answered at once, no HTTP); ``store`` is ``"redis"`` (a
  ``RedisWatchStore`` on ``redis_url`` / ``namespace``) or ``"memory"``;
  ``interval``, ``max_interval`` (optional), ``concurrency``; ``watch``: how many
  made-up ids this process watches itself (the stub runs; the sandbox runs get
  their watches from the measuring process, through the store); ``budget``: tell
  the fleet's store a budget at once (a stub answers no ``X-Rate-Limit-*``
  headers, so the fleet would otherwise never learn one).
- ``{"cmd": "sample"}``: ``{"requests": ..., "errors": ..., "cpu": ...}`` — the
  poller's counters and ``time.process_time()`` of this process.
- ``{"cmd": "stop"}``: close the poller (a fleet member gives its leases back);
  answers ``{"stopped": {"requests": ..., "finished": {...}}}``.

The end of stdin closes whatever is open and exits. Library warnings go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any, cast

from reqfin_async import ApiKeyAuth, RequestFinanceClient
from reqfin_async.poller import StatusPoller
from reqfin_async.poller.stores.base import WatchStore
from reqfin_async.poller.stores.redis import RedisWatchStore

__all__ = ["main"]

# The budget a stub fleet is told: far beyond what it can spend, so it never paces.
_STUB_LIMIT = 10**12
_STUB_WINDOW_S = 3600.0


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _stdin() -> tuple[asyncio.StreamReader, asyncio.ReadTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader, transport


async def _open(
    settings: dict[str, Any], stack: contextlib.AsyncExitStack
) -> tuple[StatusPoller, str]:
    """Open the poller the settings describe (and its fleet owner name, if any).

    Everything it needs closes with ``stack``.
    """
    store: WatchStore | None = None
    redis_store: RedisWatchStore | None = None
    if settings["store"] == "redis":
        redis_store = RedisWatchStore(settings["redis_url"], namespace=settings["namespace"])
        store = redis_store
    client: RequestFinanceClient
    if settings["client"] == "stub":
        from .poller_scale import StubClient, stub_invoice  # only the stub runs need it

        client = cast(RequestFinanceClient, StubClient(stub_invoice()))
    else:
        client = await stack.enter_async_context(
            RequestFinanceClient(ApiKeyAuth(settings["api_key"]), base_url=settings["url"])
        )
    poller = await stack.enter_async_context(
        StatusPoller(
            client,
            store=store,
            interval=settings["interval"],
            max_interval=settings.get("max_interval"),
            concurrency=settings["concurrency"],
            sweep=False,  # a stub serves no GET /invoices; a fleet never sweeps anyway
        )
    )
    if redis_store is not None and settings.get("budget"):
        await redis_store.observe_budget(_STUB_LIMIT, _STUB_LIMIT, _STUB_WINDOW_S)
    count = int(settings.get("watch", 0))
    if count:
        await poller.watch_many([f"01{n:064x}" for n in range(count)])
    return poller, redis_store.owner if redis_store is not None else ""


async def _serve() -> None:
    commands, transport = await _stdin()
    stack = contextlib.AsyncExitStack()
    poller: StatusPoller | None = None
    _reply({"ready": True})
    try:
        while line := await commands.readline():
            command = json.loads(line)
            kind = command["cmd"]
            if kind == "start":
                if poller is not None:
                    raise RuntimeError("start twice without a stop")
                stack = contextlib.AsyncExitStack()
                poller, owner = await _open(command, stack)
                _reply({"started": owner})
            elif kind == "sample":
                stats = poller.stats() if poller is not None else None
                _reply(
                    {
                        "requests": stats.requests if stats is not None else 0,
                        "errors": stats.errors if stats is not None else 0,
                        "cpu": time.process_time(),
                    }
                )
            elif kind == "stop":
                stats = poller.stats() if poller is not None else None
                await stack.aclose()
                poller = None
                _reply(
                    {
                        "stopped": {
                            "requests": stats.requests if stats is not None else 0,
                            "finished": stats.finished if stats is not None else {},
                        }
                    }
                )
            else:
                raise ValueError(f"unknown command {kind!r}")
    finally:
        await stack.aclose()
        transport.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
