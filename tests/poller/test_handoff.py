"""The hand-off from the poller's scheduler to its workers: one item per idle worker,
the longest-waiting first, none to a worker that was cancelled, and no pass of the
event loop per item."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from reqfin_async import Invoice, RateLimitState, RequestFinanceClient, StatusPoller
from reqfin_async.models import decoder
from reqfin_async.poller.handoff import Handoff


async def _idle_workers(handoff: Handoff[str], count: int) -> list[asyncio.Task[str]]:
    workers = [asyncio.create_task(handoff.take()) for _ in range(count)]
    await asyncio.sleep(0)  # each runs to its wait
    return workers


async def test_each_idle_worker_gets_one_item_longest_waiting_first() -> None:
    handoff = Handoff[str]()
    workers = await _idle_workers(handoff, 3)
    for item in ("a", "b", "c"):
        assert handoff.has_idle()
        handoff.give(item)
    assert not handoff.has_idle()
    assert await asyncio.gather(*workers) == ["a", "b", "c"]


async def test_a_cancelled_worker_is_skipped() -> None:
    handoff = Handoff[str]()
    gone, staying = await _idle_workers(handoff, 2)
    gone.cancel()
    await asyncio.sleep(0)
    assert handoff.has_idle()
    handoff.give("x")
    assert await staying == "x"
    assert not handoff.has_idle()
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_giving_without_an_idle_worker_is_refused() -> None:
    handoff = Handoff[str]()
    with pytest.raises(RuntimeError, match="no idle consumer"):
        handoff.give("x")
    (only,) = await _idle_workers(handoff, 1)
    only.cancel()
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="no idle consumer"):
        handoff.give("x")


async def test_until_idle_returns_when_a_worker_comes_back() -> None:
    handoff = Handoff[str]()
    waiting = asyncio.create_task(handoff.until_idle())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    worker = asyncio.create_task(handoff.take())
    await asyncio.wait_for(waiting, 1.0)
    handoff.give("back")
    assert await worker == "back"


async def test_until_idle_returns_at_once_when_a_worker_waits() -> None:
    handoff = Handoff[str]()
    (worker,) = await _idle_workers(handoff, 1)
    await asyncio.wait_for(handoff.until_idle(), 0.01)
    handoff.give("now")
    assert await worker == "now"


# -- the poller hands out its due watches in one pass -----------------------------------------

_INVOICE = decoder(Invoice).decode(
    (Path(__file__).parent.parent / "fixtures" / "invoice_get.json").read_bytes()
)


class _HeldInvoices:
    """``invoices.get`` that counts its callers and holds them until released."""

    def __init__(self) -> None:
        self.started = 0
        self.release = asyncio.Event()

    async def get(self, id_or_request_id: str, *, with_links: bool = False) -> Invoice:
        self.started += 1
        await self.release.wait()
        return _INVOICE


class _HeldClient:
    """Just what a ``StatusPoller(sweep=False)`` asks of a client, with no rate limiter."""

    def __init__(self) -> None:
        self.invoices = _HeldInvoices()
        self.transport = SimpleNamespace(limiter=None)

    def with_options(self, **options: object) -> _HeldClient:
        return self

    @property
    def rate_limit(self) -> RateLimitState:
        return RateLimitState(limit=None, remaining=None, reset_in_s=None, paused_for_s=0.0)


async def test_the_poller_sends_every_due_watch_to_its_idle_workers_in_one_pass() -> None:
    """64 watches come due together, 64 workers wait: every poll starts in the same pass
    of the event loop (a hand-off that yields per watch takes a pass for each)."""
    stub = _HeldClient()
    now = 1_000.0
    poller = StatusPoller(
        cast(RequestFinanceClient, stub),
        interval=30.0,
        concurrency=64,
        sweep=False,
        seed=1,
        clock=lambda: now,
    )
    passes: list[int] = []  # polls started, at each pass of the loop

    async def count_passes() -> None:
        while stub.invoices.started < 64:
            passes.append(stub.invoices.started)
            await asyncio.sleep(0)

    async with poller:
        await poller.watch_many(f"{n:064x}" for n in range(64))  # first reads within 1 s
        now += 2.0  # all of them due when the scheduler next looks
        counter = asyncio.create_task(count_passes())
        await asyncio.wait_for(counter, 5.0)
        stub.invoices.release.set()
    # The counter may run in the middle of the pass that starts them (at most once).
    partial = [n for n in passes if 0 < n < 64]
    assert len(partial) <= 1, partial
