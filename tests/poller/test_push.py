"""Webhook push: ``poller.push(event)`` confirms a reported change with one GET at once;
duplicates cost nothing, late events change nothing; and a watch is never polled twice
at the same time, whatever pushes arrive while it waits for a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from reqfin_async import RequestFinanceClient
from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import FinishReason, StatusPoller
from reqfin_async.sandbox import Sandbox
from reqfin_async.webhooks import WebhookEventType

from .conftest import (
    Recorder,
    Traffic,
    make_poller,
    open_client,
    seed,
    traced_client,
    wait_until,
    webhook_event,
)

# Polls are 15-30 s apart: whatever happens within a second is the push's doing.
SLOW_POLLS = {"interval": 30.0, "min_interval": 0.2, "sweep": False}


async def test_a_pushed_event_is_confirmed_with_one_get_at_once(sandbox: Sandbox) -> None:
    (key,) = seed(sandbox, 1)
    traffic = Traffic()
    async with (
        open_client(sandbox) as reader,
        traced_client(sandbox, traffic) as client,
        make_poller(client, **SLOW_POLLS) as poller,
    ):
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        assert traffic.gets[key] == 1
        sandbox.set_status(key, "paid")
        event = webhook_event(await reader.invoices.get(key))
        pushed_at = time.monotonic()
        assert await poller.push(event) is True
        with anyio.fail_after(2):
            result = await poller.wait_final(key)
        detected_in = time.monotonic() - pushed_at
        stats = poller.stats()
    assert result.reason is FinishReason.PAID
    assert detected_in < 0.5  # the next poll was 15 s away
    assert traffic.gets[key] == 2  # the first read, and one confirming GET
    assert (stats.pushed, stats.confirmations) == (1, 1)


async def test_a_duplicate_push_costs_no_request(sandbox: Sandbox) -> None:
    (key,) = seed(sandbox, 1)
    traffic = Traffic()
    recorder = Recorder()
    async with (
        open_client(sandbox) as reader,
        traced_client(sandbox, traffic) as client,
        make_poller(client, on_change=recorder.on_change, **SLOW_POLLS) as poller,
    ):
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "accepted")
        accepted = webhook_event(await reader.invoices.get(key), WebhookEventType.ACCEPT)
        # Delivered three times: twice at once, once more after it was confirmed.
        assert await poller.push(accepted) is True
        assert await poller.push(accepted) is True
        await wait_until(recorder.reached("accepted"), what="the confirmed change")
        assert await poller.push(accepted) is True
        await anyio.sleep(0.3)  # a request would have gone out by now
        assert traffic.gets[key] == 2
        assert poller.stats().pushed == 3
        sandbox.set_status(key, "paid")
        paid = webhook_event(await reader.invoices.get(key))
        await poller.push(paid)
        with anyio.fail_after(2):
            await poller.wait_final(key)
        assert await poller.push(paid) is False  # the watch is over: nothing to do
        assert traffic.gets[key] == 3
    assert len(recorder.changes) == 2


async def test_an_older_event_arriving_late_changes_nothing(sandbox: Sandbox) -> None:
    (key,) = seed(sandbox, 1)
    recorder = Recorder()
    async with (
        open_client(sandbox) as reader,
        open_client(sandbox) as client,
        make_poller(client, on_change=recorder.on_change, **SLOW_POLLS) as poller,
    ):
        stale = webhook_event(await reader.invoices.get(key), WebhookEventType.CREATE)
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "accepted")
        await poller.push(webhook_event(await reader.invoices.get(key), WebhookEventType.ACCEPT))
        await wait_until(recorder.reached("accepted"), what="accepted")
        requests = poller.stats().requests
        assert await poller.push(stale) is True  # says "open": older than what was seen
        await wait_until(lambda: poller.stats().requests == requests + 1, what="its check")
        await wait_until(lambda: poller.stats().confirmations == 2, what="its confirmation")
        assert poller.status_counts() == {"accepted": 1}
        assert poller.watching() == [key]
        sandbox.set_status(key, "paid")
        await poller.push(webhook_event(await reader.invoices.get(key)))
        with anyio.fail_after(2):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID
    assert [(c.old_status, c.new_status) for c in recorder.changes] == [
        (InvoiceStatus.OPEN, InvoiceStatus.ACCEPTED),
        (InvoiceStatus.ACCEPTED, InvoiceStatus.PAID),
    ]


async def test_a_push_for_an_invoice_not_watched_is_ignored(sandbox: Sandbox) -> None:
    watched, other = seed(sandbox, 2)
    traffic = Traffic()
    async with (
        open_client(sandbox) as reader,
        traced_client(sandbox, traffic) as client,
        make_poller(client, **SLOW_POLLS) as poller,
    ):
        await poller.watch(watched)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(other, "paid")
        assert await poller.push(webhook_event(await reader.invoices.get(other))) is False
        assert poller.stats().pushed == 0
        assert traffic.gets[other] == 0


@asynccontextmanager
async def busy_poller(
    sandbox: Sandbox, traffic: Traffic, *, concurrency: int
) -> AsyncIterator[tuple[RequestFinanceClient, StatusPoller]]:
    """A reader client, and a poller of ``concurrency`` workers whose GETs go through
    ``traffic`` (slow answers): first reads at once, then polls far apart."""
    async with (
        open_client(sandbox) as reader,
        traced_client(sandbox, traffic) as client,
        make_poller(
            client, interval=30.0, min_interval=0.001, concurrency=concurrency, sweep=False
        ) as poller,
    ):
        yield reader, poller


async def test_a_watch_waiting_for_a_worker_is_never_polled_twice_at_once(
    sandbox: Sandbox,
) -> None:
    """Six watches come due together and two workers are busy for 0.3 s each: four wait
    in line. Pushes for three of them must not put them on the wheel a second time."""
    keys = seed(sandbox, 6)
    traffic = Traffic(answer_delay_s=0.3)
    async with busy_poller(sandbox, traffic, concurrency=2) as (reader, poller):
        await poller.watch_many(keys)
        await wait_until(lambda: sum(traffic.in_flight.values()) == 2, what="busy workers")
        queued = [k for k in keys if traffic.gets[k] == 0][-3:]
        assert len(queued) == 3
        for key in queued:
            sandbox.set_status(key, "paid")
            assert await poller.push(webhook_event(await reader.invoices.get(key)))
        with anyio.fail_after(5):
            for key in queued:
                assert (await poller.wait_final(key)).reason is FinishReason.PAID
        assert poller.stats().confirmations == 3
    assert traffic.overlaps == []
    assert [traffic.gets[k] for k in queued] == [1, 1, 1]  # their turn came: that was the check


async def test_a_confirmation_goes_ahead_of_polls_that_waited_for_a_worker(
    sandbox: Sandbox,
) -> None:
    """The one worker is busy while three routine first reads come due, in order; a
    push for the last of them arrives. The next free worker confirms it first: work is
    picked when a worker is free, not earlier (an earlier pick would send the first)."""
    first, *waiting = seed(sandbox, 4)
    traffic = Traffic(answer_delay_s=0.4)
    async with busy_poller(sandbox, traffic, concurrency=1) as (reader, poller):
        await poller.watch(first)
        await wait_until(lambda: traffic.in_flight[first] == 1, what="the worker busy")
        for key in waiting:
            await poller.watch(key)
            await asyncio.sleep(0.02)  # due one after the other
        pushed = waiting[-1]
        sandbox.set_status(pushed, "paid")
        assert await poller.push(webhook_event(await reader.invoices.get(pushed)))
        with anyio.fail_after(5):
            assert (await poller.wait_final(pushed)).reason is FinishReason.PAID
        await wait_until(lambda: all(traffic.gets[k] for k in waiting), what="every first read")
    order = sorted(traffic.sent_at, key=lambda k: traffic.sent_at[k][0])
    assert order == [first, pushed, *waiting[:-1]]
    assert traffic.gets[pushed] == 1
