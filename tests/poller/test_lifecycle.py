"""Running a poller: ``async with``, ``watch()``, ``drain()``, stopping, and its cost in tasks."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import anyio
import pytest

from reqfin_async import ApiKeyAuth, RequestFinanceClient
from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import FinishReason, SQLiteWatchStore, StatusPoller
from reqfin_async.sandbox import ChaosConfig, Sandbox

from .conftest import (
    Recorder,
    Traffic,
    fast_config,
    make_poller,
    sandbox_in_thread,
    seed,
    traced_client,
    wait_until,
)


async def test_watch_returns_at_once_while_the_poller_works_in_its_own_tasks(
    sandbox: Sandbox,
) -> None:
    keys = seed(sandbox, 3)
    traffic = Traffic(answer_delay_s=0.3)  # every answer takes 0.3 s to come back
    async with traced_client(sandbox, traffic) as client, make_poller(client) as poller:
        started = time.monotonic()
        assert await poller.watch(keys[0]) is True
        assert await poller.watch_many(keys[1:]) == keys[1:]
        assert time.monotonic() - started < 0.1
        assert poller.watching() == keys
        # Nothing awaited on the poller, yet it polls: its tasks run beside this one.
        await wait_until(lambda: traffic.total_gets >= 3, what="polls")
        await wait_until(lambda: poller.status_counts() == {"open": 3}, what="reads")


async def test_an_invoice_can_be_watched_by_its_id_or_by_its_request_id(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    by_id, by_request_id = sandbox.seed_invoices(2)
    async with make_poller(client) as poller:
        await poller.watch(by_id["id"])
        await poller.watch(by_request_id["requestId"])
        await wait_until(lambda: poller.status_counts() == {"open": 2}, what="first reads")
        sandbox.set_status(by_id["id"], "paid")
        sandbox.set_status(by_request_id["id"], "rejected")
        with anyio.fail_after(5):
            first = await poller.wait_final(by_id["id"])
            second = await poller.wait_final(by_request_id["requestId"])
    assert (first.key, first.request_id, first.reason) == (
        by_id["id"],
        by_id["requestId"],
        FinishReason.PAID,
    )
    assert (second.key, second.request_id, second.reason) == (
        by_request_id["requestId"],
        by_request_id["requestId"],
        FinishReason.REJECTED,
    )


async def test_a_repeated_watch_of_the_same_invoice_is_ignored(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    first, second = seed(sandbox, 2)
    recorder = Recorder()
    async with make_poller(client, on_change=recorder.on_change) as poller:
        assert await poller.watch(first) is True
        assert await poller.watch(first) is False
        assert await poller.watch_many([first, second, second]) == [second]
        assert poller.watching() == [first, second]
        await wait_until(lambda: poller.status_counts() == {"open": 2}, what="first reads")
        sandbox.set_status(first, "accepted")
        await wait_until(recorder.reached("accepted"), what="accepted")
        sandbox.set_status(first, "paid")
        with anyio.fail_after(5):
            await poller.wait_final(first)
        assert await poller.watch(first) is False  # finished: its outcome stands
    assert [(c.old_status, c.new_status) for c in recorder.changes] == [
        (InvoiceStatus.OPEN, InvoiceStatus.ACCEPTED),
        (InvoiceStatus.ACCEPTED, InvoiceStatus.PAID),
    ]


async def test_concurrent_watches_of_one_invoice_on_a_durable_store_make_one_watch(
    sandbox: Sandbox, client: RequestFinanceClient, tmp_path: Path
) -> None:
    """``watch()`` awaits the store (a thread for SQLite): two calls for the same invoice
    at the same time must still make one watch, or every change is reported twice."""
    (key,) = seed(sandbox, 1)
    recorder = Recorder()
    store = SQLiteWatchStore(tmp_path / "watches.sqlite3")
    async with make_poller(client, store=store, on_change=recorder.on_change) as poller:
        added = await asyncio.gather(poller.watch(key), poller.watch(key), poller.watch(key))
        assert sorted(added) == [False, False, True]
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "accepted")
        await wait_until(recorder.reached("accepted"), what="accepted")
        sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            await poller.drain()
        assert poller.stats().finished == {"paid": 1}
    assert [(c.old_status, c.new_status) for c in recorder.changes] == [
        (InvoiceStatus.OPEN, InvoiceStatus.ACCEPTED),
        (InvoiceStatus.ACCEPTED, InvoiceStatus.PAID),
    ]


async def test_drain_waits_until_every_watch_has_finished(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 4)
    async with make_poller(client) as poller:
        with anyio.fail_after(1):
            await poller.drain()  # nothing watched: at once
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 4}, what="first reads")

        async def settle() -> None:
            for key, status in zip(keys, ["paid", "rejected", "canceled", "paid"], strict=True):
                await anyio.sleep(0.1)
                sandbox.set_status(key, status)

        async with anyio.create_task_group() as tg:
            tg.start_soon(settle)
            with anyio.fail_after(5):
                await poller.drain()
        assert poller.watching() == []
        assert poller.stats().finished == {"paid": 2, "rejected": 1, "canceled": 1}
        assert {r.key for r in await poller.results()} == set(keys)


async def test_leaving_async_with_stops_at_once_with_requests_in_flight_and_leaves_no_task() -> (
    None
):
    # Every answer of this server takes 1.5 s: leaving must not wait for them.
    config = fast_config(chaos=ChaosConfig(rate=1.0, kinds={"slow": 1}, slow_s=1.5))
    with sandbox_in_thread(config, invoices=20) as remote:
        before = set(asyncio.all_tasks())
        auth = ApiKeyAuth(remote.api_key)
        async with RequestFinanceClient(auth, network="test", base_url=remote.url) as client:
            poller = make_poller(client, concurrency=8, sweep=False)
            async with poller:
                await poller.watch_many(remote.request_ids)
                await wait_until(lambda: poller.stats().requests >= 8, what="requests sent")
                await _until_answers_begun(remote.url, 8)  # the server holds all eight
                during = set(asyncio.all_tasks())
                leaving = time.monotonic()
            took = time.monotonic() - leaving
            after = set(asyncio.all_tasks())
    assert took < 1.0
    assert len(during - before) >= 8  # the scheduler and the workers were running...
    assert after - before == set()  # ...and none of them is left
    assert poller.stats().finished == {}


async def _until_answers_begun(url: str, count: int) -> None:
    """Until the sandbox has begun ``count`` slow answers: the requests reached it."""
    async with aiohttp.ClientSession() as http:
        with anyio.fail_after(5):
            while True:
                async with http.get(f"{url}/sandbox/stats") as response:
                    if (await response.json())["chaos"].get("slow", 0) >= count:
                        return
                await asyncio.sleep(0.01)


def _tasks_but_the_sandboxs() -> int:
    # The sandbox serves from this loop: a task per connection, opened as the
    # poller's first reads go out, and no task of the poller's.
    return sum(
        1
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "") != "RequestHandler.start"
    )


async def test_watching_ten_thousand_invoices_adds_no_task(client: RequestFinanceClient) -> None:
    async with make_poller(client, interval=600.0, sweep=False) as poller:
        running = _tasks_but_the_sandboxs()
        keys = [f"{i:024x}" for i in range(10_000)]
        assert len(await poller.watch_many(keys)) == 10_000
        assert poller.stats().watching == 10_000
        assert _tasks_but_the_sandboxs() <= running


async def test_watching_a_hundred_thousand_lets_the_event_loop_run_meanwhile(
    client: RequestFinanceClient,
) -> None:
    """Registering is CPU work (about half a second for 100k): the poller lets other
    tasks run between slices of it instead of holding the event loop throughout."""
    passes = 0

    async def other_task() -> None:
        nonlocal passes
        while True:
            passes += 1
            await asyncio.sleep(0)

    async with make_poller(client, interval=600.0, sweep=False) as poller:
        ticking = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = passes
        keys = [f"{i:024x}" for i in range(100_000)]
        assert len(await poller.watch_many(keys)) == 100_000
        ticking.cancel()
    assert passes - before >= 2 * 100_000 // 2048 - 2  # between slices, reading and adopting


async def test_a_caller_cancelled_while_watches_are_adopted_leaves_every_stored_one_watched(
    client: RequestFinanceClient,
) -> None:
    keys = [f"{i:024x}" for i in range(100_000)]
    async with make_poller(client, interval=600.0, sweep=False) as poller:
        registering = asyncio.create_task(poller.watch_many(keys))
        for _ in range(100_000):  # a pass of the loop each: the registration's slices
            if 0 < poller.stats().watching < len(keys):  # some adopted, not all
                break
            await asyncio.sleep(0)
        else:
            pytest.fail("the watches were never seen partly adopted")
        registering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await registering
        assert poller.stats().watching == len(keys)


async def test_a_poller_is_used_inside_async_with_and_runs_once(
    client: RequestFinanceClient,
) -> None:
    poller = StatusPoller(client)
    with pytest.raises(RuntimeError, match="async with"):
        await poller.watch("0" * 24)
    async with poller:
        pass
    with pytest.raises(RuntimeError, match="runs once"):
        async with poller:
            pass
    with pytest.raises(RuntimeError, match="async with"):
        await poller.watch("0" * 24)


def test_inconsistent_settings_are_refused(client: RequestFinanceClient) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StatusPoller(client, concurrency=0)
    with pytest.raises(ValueError, match="negative"):
        StatusPoller(client, paid_grace_s=-1.0)
    with pytest.raises(ValueError, match="negative"):
        StatusPoller(client, overdue_grace_s=-1.0)
    with pytest.raises(ValueError, match="positive"):
        StatusPoller(client, interval=0.0)


async def test_watch_refuses_empty_ids_and_naive_due_dates(client: RequestFinanceClient) -> None:
    async with make_poller(client) as poller:
        with pytest.raises(ValueError, match="non-empty"):
            await poller.watch(" ")
        with pytest.raises(ValueError, match="timezone-aware"):
            await poller.watch("0" * 24, due_date=datetime(2030, 1, 1))
        assert poller.watching() == []


async def test_one_invoice_watched_by_its_id_and_by_its_request_id_is_one_watch(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (row,) = sandbox.seed_invoices(1)
    recorder = Recorder()
    async with make_poller(client, on_change=recorder.on_change) as poller:
        await poller.watch(row["requestId"])
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        await poller.watch(row["id"])  # the same invoice under its other id
        await wait_until(lambda: poller.watching() == [row["requestId"]], what="the merge")
        assert await poller.watch(row["id"]) is False  # now known as the same invoice
        sandbox.set_status(row["id"], "paid")
        with anyio.fail_after(5):
            by_id = await poller.wait_final(row["id"])
            by_request_id = await poller.wait_final(row["requestId"])
        results = await poller.results()
    assert by_id == by_request_id
    assert by_id.reason == FinishReason.PAID
    assert [r.key for r in results] == [row["requestId"]]
    assert [(c.old_status, c.new_status) for c in recorder.changes] == [
        (InvoiceStatus.OPEN, InvoiceStatus.PAID)
    ]


async def test_an_exception_of_the_caller_leaves_the_poller_unwrapped(
    client: RequestFinanceClient,
) -> None:
    with pytest.raises(KeyError, match="the caller's own"):
        async with make_poller(client):
            raise KeyError("the caller's own")
