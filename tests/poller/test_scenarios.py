"""End to end against the sandbox: hundreds of invoices with scripted buyers, with and
without injected faults, compared with the sandbox's own record of each invoice."""

from __future__ import annotations

import anyio

from reqfin_async.poller import StatusChange, StatusPoller, Subscription, WatchResult
from reqfin_async.sandbox import BuyerScript, ChaosConfig, Sandbox

from .conftest import (
    FINAL_STATUSES,
    assert_consistent,
    chains,
    expected_reason,
    fast_config,
    is_subsequence,
    make_poller,
    observed_path,
    open_client,
    sandbox_path,
    sandbox_status,
)


async def follow(
    poller: StatusPoller, keys: list[str]
) -> tuple[list[StatusChange], list[WatchResult]]:
    """Watch ``keys`` until every watch has ended; every change and outcome reported."""
    changes: list[StatusChange] = []
    outcomes: list[WatchResult] = []

    async def collect_changes(subscription: Subscription[StatusChange]) -> None:
        changes.extend([change async for change in subscription])

    async def collect_outcomes(subscription: Subscription[WatchResult]) -> None:
        outcomes.extend([outcome async for outcome in subscription])

    await poller.watch_many(keys)
    async with anyio.create_task_group() as tg:
        # Subscribed now, before anything can happen (and after watching: a subscription
        # that stops when idle, taken while nothing is watched, ends at once).
        tg.start_soon(collect_changes, poller.changes(stop_when_idle=True))
        tg.start_soon(collect_outcomes, poller.outcomes(stop_when_idle=True))
        with anyio.fail_after(20):
            await poller.drain()
    return changes, outcomes


async def test_under_chaos_every_invoice_ends_right_and_every_change_is_reported_once() -> None:
    config = fast_config(
        seed=31,
        api_key_limit=100_000,
        chaos=ChaosConfig(rate=0.15, slow_s=0.3, retry_after_s=0),
        buyers=BuyerScript(
            weights={
                "pay": 2,
                "approve_then_pay": 2,
                "declare_then_pay": 1,
                "reject": 1,
                "ignore": 2,
            },
            min_delay_s=0.1,
            max_delay_s=0.8,
        ),
    )
    async with Sandbox(config) as sandbox:
        keys = [str(row["requestId"]) for row in sandbox.seed_invoices(300, due_in_s=2.5)]
        # The seller cancels a few of the invoices nobody answers.
        ignored = [k for k in keys if _behaviour(sandbox, k) == "ignore"]
        for key in ignored[:15]:
            sandbox.set_status(key, "canceled")
        async with (
            open_client(sandbox) as client,
            make_poller(client, interval=0.2, overdue_grace_s=0.1) as poller,
        ):
            changes, outcomes = await follow(poller, keys)
            stats = poller.stats()
            results = await poller.results()
    assert stats.errors > 10  # the faults were there, and survived
    # Every invoice ended once, with the reason its final state in the sandbox calls for.
    assert sorted(r.key for r in outcomes) == sorted(keys)
    assert {r.key: r.reason.value for r in results} == {
        k: expected_reason(sandbox, k) for k in keys
    }
    reasons = {r.reason.value for r in outcomes}
    assert reasons == {"paid", "rejected", "canceled", "overdue"}
    for result in outcomes:
        if result.reason.value in FINAL_STATUSES:
            assert result.status is not None
            assert result.status.value == sandbox_status(sandbox, result.key)
    # Every change reported once, each chain consistent and true to what happened.
    assert_consistent(changes)
    for key, chain in chains(changes).items():
        assert is_subsequence(observed_path(chain), sandbox_path(sandbox, key)), key
        if chain[-1].final:
            assert chain[-1].new_status is not None
            assert chain[-1].new_status.value == sandbox_status(sandbox, key)


def _behaviour(sandbox: Sandbox, key: str) -> str | None:
    record = sandbox.state.find_anywhere(key)
    assert record is not None
    return record.behaviour


async def test_transitions_slower_than_the_poll_interval_are_every_one_observed() -> None:
    config = fast_config(
        seed=41,
        api_key_limit=100_000,
        buyers=BuyerScript(
            weights={"pay": 1, "approve_then_pay": 2, "declare_then_pay": 2, "reject": 1},
            min_delay_s=0.6,  # six times the poll interval, at least
            max_delay_s=0.9,
        ),
    )
    async with Sandbox(config) as sandbox:
        keys = [str(row["requestId"]) for row in sandbox.seed_invoices(120, due_in_s=30)]
        async with (
            open_client(sandbox) as client,
            make_poller(client, interval=0.1) as poller,
        ):
            changes, outcomes = await follow(poller, keys)
    assert {r.key: r.reason.value for r in outcomes} == {
        k: expected_reason(sandbox, k) for k in keys
    }
    assert_consistent(changes)
    by_key = chains(changes)
    assert sorted(by_key) == sorted(keys)
    for key in keys:
        assert observed_path(by_key[key]) == sandbox_path(sandbox, key), key
    assert len(changes) == sum(len(sandbox_path(sandbox, k)) - 1 for k in keys)
