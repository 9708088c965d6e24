"""The two pollers ``StatusPoller`` is measured against: a naive loop and a boto-style waiter.

Both read invoices with the very call the poller makes —
``client.with_options(retry=RetryPolicy.none()).invoices.get`` — so every
request counted is one HTTP request sent, through the same session, the same
decoding and the same client-side rate pacer. Only the polling strategy
differs:

- :class:`NaivePoller`: one asyncio task per invoice, looping
  ``get → stop if paid/rejected/canceled → asyncio.sleep(interval)``. A failed
  request (a 429, a 5xx, a broken connection...) is counted and the loop goes
  on one interval later: a loop that died on its first 429 would be a straw man.
- :class:`BotoWaiter`: the model of aiobotocore's ``waiter.py`` (``AIOWaiter.wait``):
  per invoice, a coroutine calls the operation, matches the answer against a
  list of acceptors (a status or an error → ``success``, ``failure`` or
  ``retry``), sleeps a fixed delay and gives up after ``max_attempts``. No
  jitter, no wall-clock deadline; an error no acceptor matches fails the wait.

Both report through callbacks of the poller's shape — ``on_change(StatusChange)``
for a transition seen after the first read (the first read is a baseline, as in
the poller), ``on_finish(WatchResult)`` when a watch ends — and expose the
poller's counters as a :class:`~reqfin_async.poller.PollerStats`
(``requests``, ``errors``, ``rate_limited``, ``changes``, ``finished``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, Self, TypeVar

from reqfin_async import (
    APIConnectionError,
    APIStatusError,
    Invoice,
    RateLimitError,
    RequestFinanceClient,
    RequestFinanceError,
    RetryPolicy,
)
from reqfin_async.models import InvoiceStatus
from reqfin_async.poller import FinishReason, PollerStats, StatusChange, StatusPoller, WatchResult

__all__ = [
    "BotoWaiter",
    "NaivePoller",
    "OnChange",
    "OnFinish",
    "WaiterError",
    "Watcher",
    "STACKS",
    "STATUS_POLLER",
    "STATUS_POLLER_NO_SWEEP",
    "NAIVE",
    "BOTO",
    "POLLER_SEED",
    "open_stack",
]

T = TypeVar("T")
OnChange = Callable[[StatusChange], Awaitable[None] | None]
OnFinish = Callable[[WatchResult], Awaitable[None] | None]

# The poller's stop rule: these statuses end a watch.
_FINAL: Mapping[InvoiceStatus, FinishReason] = MappingProxyType(
    {
        InvoiceStatus.PAID: FinishReason.PAID,
        InvoiceStatus.REJECTED: FinishReason.REJECTED,
        InvoiceStatus.CANCELED: FinishReason.CANCELED,
    }
)


async def _call(callback: Callable[[T], Awaitable[None] | None], value: T) -> None:
    outcome = callback(value)
    if inspect.isawaitable(outcome):
        await outcome


class _TaskPerWatch:
    """What both baselines share: one task per watch, callbacks, counters, ``drain``."""

    def __init__(
        self,
        client: RequestFinanceClient,
        *,
        on_change: OnChange | None = None,
        on_finish: OnFinish | None = None,
    ) -> None:
        # One attempt per request, as the poller does: a request counted is a request sent.
        self._api = client.with_options(retry=RetryPolicy.none())
        self._on_change = on_change
        self._on_finish = on_finish
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._status: dict[str, InvoiceStatus | None] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self.requests = 0
        self.errors = 0
        self.rate_limited = 0
        self.changes = 0
        self.finished: Counter[str] = Counter()

    async def __aenter__(self) -> Self:
        self._running = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._running = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._idle.set()

    async def watch_many(self, items: Iterable[str]) -> list[str]:
        """Start one task per id not yet watched; returns the ids newly watched."""
        if not self._running:
            raise RuntimeError("use the poller inside `async with`")
        accepted = []
        for key in items:
            if key in self._tasks:
                continue
            self._status[key] = None
            self._tasks[key] = asyncio.create_task(self._watch(key))
            accepted.append(key)
        if self._tasks:
            self._idle.clear()
        return accepted

    def status_counts(self) -> dict[str, int]:
        """How many watches are in each last-seen status (``unknown`` before a read)."""
        counts: Counter[str] = Counter()
        for key in self._tasks:
            status = self._status.get(key)
            counts[status.value if status is not None else "unknown"] += 1
        return dict(counts)

    def stats(self) -> PollerStats:
        return PollerStats(
            watching=len(self._tasks),
            finished=dict(self.finished),
            requests=self.requests,
            errors=self.errors,
            rate_limited=self.rate_limited,
            changes=self.changes,
        )

    async def drain(self) -> None:
        """Wait until every watch has finished."""
        await self._idle.wait()

    async def _watch(self, key: str) -> None:
        try:
            await self._run(key)
        finally:
            self._tasks.pop(key, None)
            self._status.pop(key, None)
            if not self._tasks:
                self._idle.set()

    async def _run(self, key: str) -> None:
        raise NotImplementedError

    async def _get(self, key: str) -> Invoice | RequestFinanceError:
        """One request; an API error is returned (and counted), as botocore hands it over."""
        self.requests += 1
        try:
            return await self._api.invoices.get(key)
        except RequestFinanceError as error:
            self.errors += 1
            if isinstance(error, RateLimitError):
                self.rate_limited += 1
            return error

    async def _seen(self, key: str, invoice: Invoice) -> None:
        """Report a transition (not the first read, which is a baseline)."""
        old = self._status.get(key)
        self._status[key] = invoice.status
        if old is None or old == invoice.status:
            return
        self.changes += 1
        if self._on_change is not None:
            change = StatusChange(
                key=key,
                request_id=invoice.request_id,
                old_status=old,
                new_status=invoice.status,
                invoice=invoice,
                at=datetime.now(UTC),
                final=invoice.status in _FINAL,
            )
            await _call(self._on_change, change)

    async def _finish(
        self,
        key: str,
        reason: FinishReason,
        invoice: Invoice | None = None,
        error: BaseException | None = None,
    ) -> None:
        self.finished[reason.value] += 1
        if self._on_finish is not None:
            result = WatchResult(
                key=key,
                request_id=invoice.request_id if invoice is not None else None,
                status=self._status.get(key),
                reason=reason,
                at=datetime.now(UTC),
                invoice=invoice,
                error=error,
            )
            await _call(self._on_finish, result)


class NaivePoller(_TaskPerWatch):
    """One asyncio task per invoice: ``get → stop if final → asyncio.sleep(interval)``.

    ::

        async with NaivePoller(client, interval=5.0, on_change=seen) as poller:
            await poller.watch_many(request_ids)
    """

    def __init__(
        self,
        client: RequestFinanceClient,
        *,
        interval: float,
        on_change: OnChange | None = None,
        on_finish: OnFinish | None = None,
    ) -> None:
        super().__init__(client, on_change=on_change, on_finish=on_finish)
        self._interval = interval

    async def _run(self, key: str) -> None:
        while True:
            answer = await self._get(key)
            if isinstance(answer, Invoice):
                await self._seen(key, answer)
                reason = _FINAL.get(answer.status) if answer.status is not None else None
                if reason is not None:
                    await self._finish(key, reason, answer)
                    return
            await asyncio.sleep(self._interval)


class WaiterError(RequestFinanceError):
    """A boto-style wait ended in ``failure`` or ran out of attempts."""


class Acceptor(enum.Enum):
    """The states an acceptor moves a boto waiter to."""

    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"


# The waiter model: status acceptors, then error acceptors (botocore's "error" matcher).
STATUS_ACCEPTORS: Mapping[InvoiceStatus, Acceptor] = MappingProxyType(
    {
        InvoiceStatus.PAID: Acceptor.SUCCESS,
        InvoiceStatus.REJECTED: Acceptor.FAILURE,
        InvoiceStatus.CANCELED: Acceptor.FAILURE,
    }
)


def _error_acceptor(error: RequestFinanceError) -> Acceptor:
    # Throttling, server errors and broken connections are "retry" acceptors;
    # any other error matches none, and botocore fails the wait on it.
    if isinstance(error, RateLimitError | APIConnectionError):
        return Acceptor.RETRY
    if isinstance(error, APIStatusError) and error.status_code >= 500:
        return Acceptor.RETRY
    return Acceptor.FAILURE


class BotoWaiter(_TaskPerWatch):
    """aiobotocore's waiter model, one ``wait()`` coroutine per invoice.

    ``delay`` between attempts (fixed, no jitter) and ``max_attempts`` in all, as
    in ``WaiterConfig={"Delay": ..., "MaxAttempts": ...}``::

        async with BotoWaiter(client, delay=5.0, max_attempts=40) as waiter:
            await waiter.watch_many(request_ids)
    """

    def __init__(
        self,
        client: RequestFinanceClient,
        *,
        delay: float,
        max_attempts: int = 40,
        on_change: OnChange | None = None,
        on_finish: OnFinish | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        super().__init__(client, on_change=on_change, on_finish=on_finish)
        self._delay = delay
        self._max_attempts = max_attempts

    async def _run(self, key: str) -> None:
        attempts = 0
        while True:
            answer = await self._get(key)
            attempts += 1
            invoice: Invoice | None = None
            if isinstance(answer, Invoice):
                invoice = answer
                await self._seen(key, invoice)
                state = STATUS_ACCEPTORS.get(invoice.status) if invoice.status else None
                # No acceptor matched a successful answer: keep waiting.
                state = state or Acceptor.RETRY
            else:
                state = _error_acceptor(answer)
            if state is Acceptor.SUCCESS:
                await self._finish(key, FinishReason.PAID, invoice)
                return
            if state is Acceptor.FAILURE:
                if invoice is not None and invoice.status is not None:
                    await self._finish(key, _FINAL[invoice.status], invoice)
                else:
                    error = WaiterError(f"waiter for {key!r} failed: {answer!r}")
                    await self._finish(key, FinishReason.FAILED, error=error)
                return
            if attempts >= self._max_attempts:
                error = WaiterError(f"waiter for {key!r}: max attempts exceeded")
                await self._finish(key, FinishReason.FAILED, invoice, error=error)
                return
            await asyncio.sleep(self._delay)


# -- the stacks a benchmark compares ----------------------------------------------------
STATUS_POLLER = "StatusPoller"
STATUS_POLLER_NO_SWEEP = "StatusPoller sweep=False"
NAIVE = "naive loop"
BOTO = "boto waiter"
STACKS = (STATUS_POLLER, STATUS_POLLER_NO_SWEEP, NAIVE, BOTO)
POLLER_SEED = 1  # the poller's jitter: every run draws the same delays


class Watcher(Protocol):
    """What a benchmark needs of a poller; ``StatusPoller`` and both baselines have it."""

    async def watch_many(self, items: list[str]) -> list[str]: ...

    def stats(self) -> PollerStats: ...

    def status_counts(self) -> dict[str, int]: ...


def open_stack(
    name: str,
    client: RequestFinanceClient,
    *,
    interval: float,
    on_change: OnChange | None = None,
    on_finish: OnFinish | None = None,
    horizon_s: float = 3600.0,
    **poller_options: Any,
) -> contextlib.AbstractAsyncContextManager[Watcher]:
    """The poller called ``name``, polling every ``interval`` seconds (use it with ``async with``).

    The boto waiter's ``max_attempts`` covers ``horizon_s``: the cap is part of the
    model, but it must not end watches within a benchmark. ``poller_options`` go to
    ``StatusPoller`` only (``concurrency``, ...).
    """
    if name in (STATUS_POLLER, STATUS_POLLER_NO_SWEEP):
        return StatusPoller(
            client,
            interval=interval,
            sweep=None if name == STATUS_POLLER else False,
            seed=POLLER_SEED,
            on_change=on_change,
            on_finish=on_finish,
            **poller_options,
        )
    if name == NAIVE:
        return NaivePoller(client, interval=interval, on_change=on_change, on_finish=on_finish)
    if name == BOTO:
        attempts = math.ceil(horizon_s / interval) + 1
        return BotoWaiter(
            client,
            delay=interval,
            max_attempts=attempts,
            on_change=on_change,
            on_finish=on_finish,
        )
    raise ValueError(f"unknown stack {name!r}; known: {', '.join(STACKS)}")
