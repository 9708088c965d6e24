"""The background tasks a sandbox owns: timers, scripted buyers, webhook deliveries.

Every task is started through one :class:`TaskSet`, so that leaving the sandbox
cancels and awaits all of them and none outlives it::

    tasks = TaskSet()
    tasks.spawn(open_later(record), name="open")
    await tasks.aclose()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

__all__ = ["TaskSet"]

_log = logging.getLogger("reqfin_async.sandbox")


class TaskSet:
    """Tasks started for the sandbox, cancelled together by :meth:`aclose`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``coro`` in the background; after :meth:`aclose` it is dropped unstarted."""
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro, name=f"sandbox:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A failing background step must not vanish silently.
            _log.error("sandbox task %s failed", task.get_name(), exc_info=exc)

    async def aclose(self) -> None:
        """Cancel every task and wait until all have finished."""
        self._closed = True
        while self._tasks:
            pending = list(self._tasks)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
