"""What a poller reports: ``changes()`` and ``outcomes()`` subscriptions (order, fan-out,
backpressure, release), the callbacks, ``wait_final()``, ``results()`` and ``stats()``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from reqfin_async.client import RequestFinanceClient
from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import (
    FinishReason,
    PollerClosedError,
    SQLiteWatchStore,
    StatusChange,
    StatusPoller,
    Subscription,
    WatchResult,
)
from reqfin_async.poller.stores.base import WatchStore
from reqfin_async.sandbox import ChaosConfig, Sandbox

from .conftest import (
    Recorder,
    Traffic,
    assert_consistent,
    chains,
    fast_config,
    make_poller,
    open_client,
    seed,
    traced_client,
    wait_until,
)


def all_in(poller: StatusPoller, status: str) -> bool:
    """Every invoice still watched has been seen in ``status``."""
    return set(poller.status_counts()) <= {status}


async def collect(subscription: Subscription[StatusChange], into: list[StatusChange]) -> None:
    into.extend([change async for change in subscription])


async def test_every_subscriber_gets_every_change_in_order_and_never_twice(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 6)
    first: list[StatusChange] = []
    second: list[StatusChange] = []
    async with make_poller(client) as poller, anyio.create_task_group() as tg:
        await poller.watch_many(keys)
        tg.start_soon(collect, poller.changes(stop_when_idle=True), first)
        tg.start_soon(collect, poller.changes(stop_when_idle=True), second)
        await wait_until(lambda: poller.status_counts() == {"open": 6}, what="first reads")
        for status in ("accepted", "declaredPaid", "paid"):
            for key in keys:
                sandbox.set_status(key, status)
            await wait_until(partial(all_in, poller, status), what=status)
        with anyio.fail_after(5):
            await poller.drain()
    # The subscriptions ended by themselves once nothing was left to watch.
    assert first == second
    assert len(first) == 3 * 6
    assert_consistent(first)
    for key, chain in chains(first).items():
        steps = [(c.old_status, c.new_status, c.final) for c in chain]
        assert steps == [
            (InvoiceStatus.OPEN, InvoiceStatus.ACCEPTED, False),
            (InvoiceStatus.ACCEPTED, InvoiceStatus.DECLARED_PAID, False),
            (InvoiceStatus.DECLARED_PAID, InvoiceStatus.PAID, True),
        ], key
        assert all(c.request_id == key and c.invoice is not None for c in chain)


async def test_a_slow_subscriber_makes_the_poller_wait_instead_of_dropping_events(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 4)
    async with make_poller(client, event_buffer=1, concurrency=1) as poller:
        subscription = poller.changes()  # subscribed, but not reading yet
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 4}, what="first reads")
        for key in keys:
            sandbox.set_status(key, "paid")
        await wait_until(lambda: poller.stats().finished_total == 1, what="the first outcome")
        # The worker may still take one more invoice, and block on publishing its change.
        await anyio.sleep(0.2)
        requests = poller.stats().requests
        await anyio.sleep(0.5)  # five intervals: the poller could have done everything
        # Its buffer full, the subscriber holds the poller back: nothing is lost, nothing more
        # happens.
        assert poller.stats().finished_total == 1
        assert poller.stats().requests == requests
        assert poller.stats().watching == 3
        received: list[StatusChange] = []
        with anyio.fail_after(5):
            async for change in subscription:
                received.append(change)
                if len(received) == 4:
                    break
            await poller.drain()
    assert sorted(c.key for c in received) == sorted(keys)
    assert all(c.new_status is InvoiceStatus.PAID and c.final for c in received)


async def test_a_subscription_left_by_break_or_dropped_does_not_stall_the_poller(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 8)
    async with make_poller(client, event_buffer=1) as poller:
        poller.changes()  # subscribed and dropped at once
        closed = poller.changes()
        await closed.aclose()
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 8}, what="first reads")
        for key in keys:
            sandbox.set_status(key, "paid")
        first: StatusChange | None = None
        async for change in poller.changes():
            first = change
            break
        with anyio.fail_after(5):
            await poller.drain()  # with buffers of one event, 7 more changes got through
        assert poller.stats().finished == {"paid": 8}
    assert first is not None
    assert first.new_status is InvoiceStatus.PAID


async def test_outcomes_gives_every_result_and_stop_when_idle_ends_the_iteration(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 3)
    results: list[WatchResult] = []
    async with make_poller(client) as poller:
        # Nothing watched: an iteration that stops when idle ends at once.
        results.extend([nothing async for nothing in poller.outcomes(stop_when_idle=True)])
        assert results == []
        await poller.watch_many([*keys, "0" * 24])
        outcomes = poller.outcomes(stop_when_idle=True)  # (subscribed while idle, it would end)
        await wait_until(lambda: poller.status_counts() == {"open": 3}, what="first reads")
        sandbox.set_status(keys[0], "paid")
        sandbox.set_status(keys[1], "rejected")
        await poller.unwatch(keys[2])
        with anyio.fail_after(5):
            results.extend([result async for result in outcomes])
    assert {r.key: r.reason for r in results} == {
        keys[0]: FinishReason.PAID,
        keys[1]: FinishReason.REJECTED,
        keys[2]: FinishReason.UNWATCHED,
        "0" * 24: FinishReason.FAILED,
    }


async def test_sync_and_async_callbacks_are_called_and_a_raising_one_stops_nothing(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 5)
    broken = keys[0]
    sync_changes: list[StatusChange] = []
    async_results: list[WatchResult] = []

    def on_change(change: StatusChange) -> None:
        sync_changes.append(change)
        if change.key == broken:
            raise RuntimeError("a bug in the user's callback")

    async def on_finish(result: WatchResult) -> None:
        await anyio.lowlevel.checkpoint()
        async_results.append(result)
        if result.key in (broken, keys[1]):
            raise RuntimeError("a bug in the user's async callback")

    async with make_poller(client, on_change=on_change, on_finish=on_finish) as poller:
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 5}, what="first reads")
        for key in keys:
            sandbox.set_status(key, "accepted")
        await wait_until(lambda: len(sync_changes) == 5, what="the accepted changes")
        for key in keys:
            sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            await poller.drain()
    assert sorted(r.key for r in async_results) == sorted(keys)
    assert len(sync_changes) == 10
    assert_consistent(sync_changes)


async def test_the_async_callbacks_of_changes_and_outcomes_can_be_coroutines(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    seen: list[str] = []

    async def on_change(change: StatusChange) -> None:
        seen.append(f"change:{change.new_status}")

    def on_finish(result: WatchResult) -> None:
        seen.append(f"finish:{result.reason}")

    async with make_poller(client, on_change=on_change, on_finish=on_finish) as poller:
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            await poller.drain()
    assert seen == ["change:paid", "finish:paid"]


async def test_wait_final_returns_at_once_for_a_finished_watch_and_refuses_unknown_ids(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    async with make_poller(client) as poller:
        with pytest.raises(KeyError):
            await poller.wait_final(key)
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "canceled")
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
        with anyio.fail_after(0.1):
            again = await poller.wait_final(key)
        with pytest.raises(KeyError):
            await poller.wait_final("0" * 24)
    assert result == again
    assert result.reason is FinishReason.CANCELED


def memory_store(_: Path) -> WatchStore | None:
    return None


def sqlite_store(tmp: Path) -> WatchStore | None:
    return SQLiteWatchStore(tmp / "watches.sqlite3")


@pytest.mark.parametrize("store", [memory_store, sqlite_store], ids=["memory", "sqlite"])
async def test_wait_final_raises_poller_closed_when_the_poller_stops_first(
    sandbox: Sandbox,
    client: RequestFinanceClient,
    tmp_path: Path,
    store: Callable[[Path], WatchStore | None],
) -> None:
    (key,) = seed(sandbox, 1)
    errors: list[BaseException] = []

    async def wait(poller: StatusPoller, waiting: anyio.Event) -> None:
        waiting.set()
        try:
            await poller.wait_final(key)
        except PollerClosedError as error:
            errors.append(error)

    async with (
        anyio.create_task_group() as tg,
        make_poller(client, store=store(tmp_path)) as poller,
    ):
        await poller.watch(key)
        waiting = anyio.Event()
        tg.start_soon(wait, poller, waiting)
        await waiting.wait()
    assert len(errors) == 1
    assert key in str(errors[0])


async def test_wait_final_after_the_poller_stopped_raises_instead_of_hanging(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    async with make_poller(client) as poller:
        await poller.watch(key)
    with anyio.fail_after(1), pytest.raises(PollerClosedError):
        await poller.wait_final(key)


async def test_results_lists_every_finished_watch_oldest_first(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 3)
    async with make_poller(client) as poller:
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 3}, what="first reads")
        for key, status in zip(keys, ("rejected", "paid", "canceled"), strict=True):
            sandbox.set_status(key, status)
            with anyio.fail_after(5):
                await poller.wait_final(key)
        results = await poller.results()
    assert [(r.key, r.reason.value) for r in results] == [
        (keys[0], "rejected"),
        (keys[1], "paid"),
        (keys[2], "canceled"),
    ]


async def test_stats_count_watches_outcomes_requests_errors_429s_and_detection_lag() -> None:
    chaos = ChaosConfig(rate=0.25, kinds={"429": 1}, retry_after_s=0)
    async with Sandbox(fast_config(chaos=chaos, seed=5)) as sandbox:
        keys = seed(sandbox, 6)
        traffic = Traffic()
        async with (
            traced_client(sandbox, traffic) as client,
            make_poller(client, sweep=False, max_interval=0.3) as poller,
        ):
            empty = poller.stats()
            await poller.watch_many([*keys, "0" * 24])
            await wait_until(lambda: poller.status_counts() == {"open": 6}, what="reads")
            assert poller.stats().watching == 6
            for key, status in zip(keys, ["paid"] * 4 + ["rejected", "accepted"], strict=True):
                sandbox.set_status(key, status)
            await wait_until(
                lambda: poller.status_counts() == {"accepted": 1}, what="five outcomes"
            )
            stats = poller.stats()
    assert (empty.watching, empty.requests, empty.finished, empty.lag_p50_s) == (0, 0, {}, None)
    assert stats.finished == {"paid": 4, "rejected": 1, "failed": 1}
    assert stats.finished_total == 6
    assert stats.changes == 6  # four paid, one rejected, one accepted
    assert stats.requests == traffic.total_gets
    assert stats.rate_limited > 0
    assert stats.errors >= stats.rate_limited + 1  # the 429s and the 404
    assert stats.lag_p50_s is not None
    assert stats.lag_p99_s is not None
    assert stats.lag_max_s is not None
    assert 0 <= stats.lag_p50_s <= stats.lag_p99_s <= stats.lag_max_s < 2.0


async def test_changes_reports_nothing_for_the_first_read_of_an_invoice(
    sandbox: Sandbox,
) -> None:
    """The first status read is a baseline, not a change, whatever it is."""
    keys = seed(sandbox, 2)
    sandbox.set_status(keys[1], "accepted")
    recorder = Recorder()
    async with (
        open_client(sandbox) as client,
        make_poller(client, on_change=recorder.on_change) as poller,
    ):
        await poller.watch_many(keys)
        await wait_until(lambda: poller.status_counts() == {"open": 1, "accepted": 1}, what="reads")
        sandbox.set_status(keys[0], "paid")
        with anyio.fail_after(5):
            await poller.wait_final(keys[0])
    assert [(c.key, c.old_status, c.new_status) for c in recorder.changes] == [
        (keys[0], InvoiceStatus.OPEN, InvoiceStatus.PAID)
    ]
