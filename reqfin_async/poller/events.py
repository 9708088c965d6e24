"""What a poller reports: status changes and watch results, fanned out to subscribers.

Every subscriber gets every event published after it subscribed, in order,
through its own bounded buffer: a slow subscriber slows the poller down
(backpressure) instead of making it drop events or grow without bound. A
subscription that its owner drops (a ``break`` out of ``async for``) is
released at once, so it cannot stall the poller.
"""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Self, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..models.invoice import Invoice, InvoiceStatus

__all__ = ["FinishReason", "StatusChange", "WatchResult", "EventHub", "Subscription", "utc_at"]

T = TypeVar("T")

DEFAULT_BUFFER = 1024


def utc_at(ts: float) -> datetime:
    """An aware UTC datetime for a Unix timestamp (events carry aware times)."""
    return datetime.fromtimestamp(ts, UTC)


class FinishReason(enum.StrEnum):
    """Why a watch ended."""

    PAID = "paid"
    REJECTED = "rejected"
    CANCELED = "canceled"
    #: The due date passed (after one last check that the invoice was not paid meanwhile).
    OVERDUE = "overdue"
    #: ``unwatch()`` was called.
    UNWATCHED = "unwatched"
    #: The watch cannot go on: the invoice is gone, or access was refused for good.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One observed status transition of a watched invoice.

    ::

        async for change in poller.changes():
            print(change.request_id, change.old_status, "->", change.new_status)

    ``key`` is the id the invoice is watched under; ``final`` tells whether
    this change ends the watch (paid, rejected, canceled).
    """

    key: str
    request_id: str | None
    old_status: InvoiceStatus | None
    new_status: InvoiceStatus | None
    invoice: Invoice | None
    at: datetime
    final: bool = False


@dataclass(frozen=True, slots=True)
class WatchResult:
    """How a watch ended: the last status seen and the reason.

    ::

        result = await poller.wait_final(request_id)
        if result.reason == "paid": ...
    """

    key: str
    request_id: str | None
    status: InvoiceStatus | None
    reason: FinishReason
    at: datetime
    invoice: Invoice | None = None
    error: BaseException | None = None


class Subscription(Generic[T]):
    """An async iterator over the events published after it was created.

    Ends when the poller closes (or, with ``stop_when_idle``, when no watch is
    left). Dropping it, or calling :meth:`aclose`, unsubscribes.
    """

    __slots__ = ("__weakref__", "_receive")

    def __init__(self, receive: MemoryObjectReceiveStream[T]) -> None:
        self._receive = receive

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop receiving; the publisher forgets this subscriber."""
        self._receive.close()


class EventHub(Generic[T]):
    """Fans events out to any number of subscribers, each with a bounded buffer."""

    def __init__(self, buffer_size: int = DEFAULT_BUFFER) -> None:
        if buffer_size < 1:
            raise ValueError("the event buffer must hold at least one event")
        self._buffer_size = buffer_size
        self._senders: list[MemoryObjectSendStream[T]] = []
        self._until_idle: list[MemoryObjectSendStream[T]] = []
        self._closed = False

    def subscribe(self, *, until_idle: bool = False, idle_now: bool = False) -> Subscription[T]:
        """A new subscription; with ``until_idle`` it ends at the next :meth:`end_idle`."""
        send, receive = anyio.create_memory_object_stream[T](self._buffer_size)
        subscription = Subscription(receive)
        if self._closed or (until_idle and idle_now):
            send.close()
        else:
            self._senders.append(send)
            if until_idle:
                self._until_idle.append(send)
        # A subscription dropped without aclose() must not stall publish(): closing
        # its receiving end makes a blocked send fail, and the sender is removed.
        weakref.finalize(subscription, receive.close)
        return subscription

    async def publish(self, event: T) -> None:
        """Hand ``event`` to every subscriber, waiting while a buffer is full."""
        dead: list[MemoryObjectSendStream[T]] = []
        for send in tuple(self._senders):
            try:
                await send.send(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                dead.append(send)
        for send in dead:
            self._drop(send)

    def _drop(self, send: MemoryObjectSendStream[T]) -> None:
        send.close()
        if send in self._senders:
            self._senders.remove(send)
        if send in self._until_idle:
            self._until_idle.remove(send)

    def end_idle(self) -> None:
        """End the subscriptions that asked to stop once nothing is left to watch."""
        for send in tuple(self._until_idle):
            self._drop(send)

    def close(self) -> None:
        """End every subscription (they finish after the buffered events)."""
        self._closed = True
        senders, self._senders = self._senders, []
        self._until_idle = []
        for send in senders:
            send.close()
