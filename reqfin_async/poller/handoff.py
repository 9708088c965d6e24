"""Idle workers, and the schedule loop handing each of them a watch.

The poller's hottest path: at 10k watches polled every few seconds it runs
thousands of times a second. anyio's memory object stream costs a checkpoint
(a pass of the event loop) per send and per receive, and an ``Event`` plus a
cancellation check per item; a zero-buffer stream also makes the scheduler
pick a watch (and spend a token on it) before a worker is free for it. Here a
worker waits on one future, and the scheduler first waits for an idle worker,
then picks the most urgent work at that moment and hands it over in one call
— every idle worker gets its watch in the same pass of the loop.

The client is aiohttp's, so the poller runs on asyncio: plain asyncio futures.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Handoff"]

T = TypeVar("T")


class Handoff(Generic[T]):
    """Items from one producer to idle consumers, one item each.

    ::

        handoff = Handoff[Watch]()
        watch = await handoff.take()  # each worker, between two polls
        await handoff.until_idle()    # the scheduler, then at once:
        handoff.give(watch)
    """

    __slots__ = ("_free", "_idle")

    def __init__(self) -> None:
        self._idle: deque[asyncio.Future[T]] = deque()
        self._free: asyncio.Future[None] | None = None

    def has_idle(self) -> bool:
        """Whether a consumer waits (one that was cancelled meanwhile does not)."""
        idle = self._idle
        while idle and idle[0].done():
            idle.popleft()
        return bool(idle)

    def give(self, item: T) -> None:
        """Hand ``item`` to the longest-waiting idle consumer; call after ``has_idle()``."""
        if not self.has_idle():
            raise RuntimeError("no idle consumer: await until_idle() first")
        self._idle.popleft().set_result(item)

    async def until_idle(self) -> None:
        """Return once a consumer waits."""
        while not self.has_idle():
            self._free = free = asyncio.get_running_loop().create_future()
            try:
                await free
            finally:
                self._free = None

    async def take(self) -> T:
        """Wait until the producer hands over an item.

        A consumer cancelled after an item was handed to it, before it resumed,
        drops that item: the poller cancels its workers only when it stops.
        """
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        free = self._free
        if free is not None and not free.done():
            free.set_result(None)
        return await waiter
