"""Sweeps: with many watched invoices visible to the account, ``GET /invoices`` (100 per
page) replaces the per-invoice polls and each change it shows is confirmed with one GET;
invoices the listing does not return fall back to polls of their own."""

from __future__ import annotations

import anyio

from reqfin_async.poller import FinishReason, PollerStats
from reqfin_async.sandbox import BuyerScript, Sandbox

from .conftest import (
    Recorder,
    Traffic,
    assert_consistent,
    fast_config,
    hiding_list_answers,
    make_poller,
    open_client,
    seed,
    traced_client,
    wait_until,
)

# Half the invoices are never answered (they end overdue): what idle watches cost is
# most of what polling costs.
BUYERS = BuyerScript(
    weights={"pay": 1, "approve_then_pay": 1, "reject": 1, "ignore": 3},
    min_delay_s=0.3,
    max_delay_s=0.9,
)


async def run_scenario(*, sweep: bool) -> tuple[PollerStats, dict[str, str]]:
    """150 invoices with the same scripted buyers; the poller follows them to the end.

    Returns the stats and the outcome of each invoice by its number (the same from one
    run to the next: the buyers' script is keyed on it).
    """
    config = fast_config(seed=21, buyers=BUYERS, api_key_limit=100_000)
    async with Sandbox(config) as sandbox:
        rows = sandbox.seed_invoices(150, due_in_s=2.4)
        keys = [str(row["requestId"]) for row in rows]
        numbers = {str(row["requestId"]): str(row["invoiceNumber"]) for row in rows}
        recorder = Recorder()
        async with (
            open_client(sandbox) as client,
            make_poller(
                client,
                interval=0.4,
                sweep=None if sweep else False,
                overdue_grace_s=0.1,
                on_change=recorder.on_change,
                on_finish=recorder.on_finish,
            ) as poller,
        ):
            await poller.watch_many(keys)
            with anyio.fail_after(15):
                await poller.drain()
            stats = poller.stats()
        assert_consistent(recorder.changes)
        return stats, {numbers[key]: reason for key, reason in recorder.reasons().items()}


async def test_sweeps_cost_far_fewer_requests_per_detected_transition_than_polling_each() -> None:
    runs: dict[bool, tuple[PollerStats, dict[str, str]]] = {}

    async def run(sweep: bool) -> None:
        runs[sweep] = await run_scenario(sweep=sweep)

    async with anyio.create_task_group() as tg:  # side by side, to save time
        tg.start_soon(run, True)
        tg.start_soon(run, False)
    (swept, swept_reasons), (polled, polled_reasons) = runs[True], runs[False]
    assert swept_reasons == polled_reasons  # the same outcomes either way
    assert swept.changes > 50
    assert polled.changes > 50
    assert swept.sweeps > 0
    assert polled.sweeps == polled.sweep_requests == 0
    per_change_swept = swept.requests / swept.changes
    per_change_polled = polled.requests / polled.changes
    # Measured: about 3 requests per change with sweeps (most of them the first read and
    # the due-date check of each invoice), about 11 without.
    assert per_change_swept * 2.5 < per_change_polled, (per_change_swept, per_change_polled)
    # Every change a sweep shows is confirmed by one GET, and no more.
    assert swept.confirmations <= swept.changes + swept.sweeps


async def test_with_few_watches_the_poller_does_not_sweep(
    sandbox: Sandbox,
) -> None:
    keys = seed(sandbox, 5)
    traffic = Traffic()
    async with (
        traced_client(sandbox, traffic) as client,
        make_poller(client, interval=0.1) as poller,
    ):
        await poller.watch_many(keys)
        await wait_until(lambda: traffic.total_gets >= 15, what="three rounds of polls")
        stats = poller.stats()
    assert traffic.lists == 0
    assert (stats.sweeps, stats.sweep_requests, stats.sweeping) == (0, 0, False)


async def test_invoices_a_sweep_cannot_see_are_polled_on_their_own_and_still_finish(
    sandbox: Sandbox,
) -> None:
    visible = seed(sandbox, 60)
    hidden = seed(sandbox, 3)
    traffic = Traffic()
    response_class = hiding_list_answers(set(hidden))
    async with (
        traced_client(sandbox, traffic, response_class=response_class) as client,
        make_poller(client, interval=0.2, sweep=True) as poller,
    ):
        await poller.watch_many(visible + hidden)
        await wait_until(lambda: poller.stats().sweeps >= 2, what="two sweeps")
        assert poller.status_counts() == {"open": 63}
        assert poller.stats().sweeping
        before = traffic.gets.copy()
        # A sweep skipped because nothing moved (its probe) counts as a look too.
        await wait_until(
            lambda: poller.stats().sweeps + poller.stats().sweeps_skipped >= 5,
            what="three more sweeps",
        )
        # Unchanged visible invoices cost no GET of their own while sweeps see them;
        # the hidden ones are polled at every interval.
        assert all(traffic.gets[k] == before[k] for k in visible)
        assert all(traffic.gets[k] >= before[k] + 2 for k in hidden)
        for key in [*hidden, *visible[:3]]:
            sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            results = [await poller.wait_final(k) for k in [*hidden, *visible[:3]]]
        assert len(poller.watching()) == 57
    assert all(r.reason is FinishReason.PAID for r in results)


async def test_the_plan_counts_what_sweeps_see_and_what_they_cannot(sandbox: Sandbox) -> None:
    """The plan's counts follow the watches as sweeps see them and as they finish (kept
    as they change: no pass over every watch each second)."""
    visible = seed(sandbox, 60)
    hidden = seed(sandbox, 3)
    response_class = hiding_list_answers(set(hidden))

    def counts() -> tuple[int, int] | None:
        plan = poller.stats().plan
        return None if plan is None else (plan.sweepable, plan.singles)

    async with (
        traced_client(sandbox, Traffic(), response_class=response_class) as client,
        make_poller(client, interval=0.2, sweep=True) as poller,
    ):
        await poller.watch_many(visible + hidden)
        await wait_until(lambda: poller.stats().sweeps >= 2, what="two sweeps")
        await wait_until(lambda: counts() == (60, 3), what="60 swept, 3 alone")
        for key in [hidden[0], *visible[:2]]:
            sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            for key in [hidden[0], *visible[:2]]:
                assert (await poller.wait_final(key)).reason is FinishReason.PAID
        await wait_until(lambda: counts() == (58, 2), what="the finished ones gone")
