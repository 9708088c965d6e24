"""Budget-aware polling: the gate, the plan, and a poller under a tight rate limit."""

from __future__ import annotations

import math
import time
from collections import Counter

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from reqfin_async import RateLimiter
from reqfin_async.poller import FinishReason
from reqfin_async.poller.budget import Budget, BudgetGate, RequestKind
from reqfin_async.poller.plan import make_plan
from reqfin_async.sandbox import BuyerScript, Sandbox

from .conftest import (
    FINAL_STATUSES,
    Recorder,
    assert_consistent,
    fast_config,
    make_poller,
    open_client,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(reset_s),
    }


# -- the rate -------------------------------------------------------------------------


def test_nothing_is_metered_before_the_server_told_the_budget() -> None:
    gate = BudgetGate(limiter=RateLimiter())
    assert gate.rate() is None
    assert not gate.metered


def test_the_rate_spreads_what_remains_over_what_is_left_of_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(5000, 3601, 3600))
    gate = BudgetGate(limiter=limiter)
    assert gate.rate() == pytest.approx(3600 / 3600)  # one call kept back
    limiter.update(headers(5000, 1801, 900))
    assert gate.rate() == pytest.approx(1800 / 900)


def test_a_budget_share_leaves_the_rest_of_the_window_to_the_application() -> None:
    limiter = RateLimiter()
    limiter.update(headers(1000, 1000, 100))
    gate = BudgetGate(limiter=limiter, share=0.5)
    rate = gate.rate()
    assert rate is not None
    assert rate == pytest.approx((1000 - 500 - 1) / 100, rel=0.01)


def test_a_given_budget_fixes_the_rate() -> None:
    assert BudgetGate(limiter=None, budget=Budget.per_hour(5000)).rate() == pytest.approx(
        5000 / 3600
    )
    with pytest.raises(ValueError, match="at least one call"):
        Budget(calls=0, window_s=60)


# -- the gate -------------------------------------------------------------------------


async def test_the_gate_paces_requests_at_the_budget_rate_after_the_burst() -> None:
    gate = BudgetGate(limiter=None, budget=Budget(calls=100, window_s=1.0), burst_share=0.1)
    started = time.monotonic()
    for _ in range(30):
        await gate.acquire(lambda: RequestKind.POLL)
    elapsed = time.monotonic() - started
    # 10 tokens of burst, then 20 more at 100 per second.
    assert 0.15 <= elapsed <= 0.6
    assert gate.spent[RequestKind.POLL] == 30


async def test_confirmations_and_due_checks_go_before_routine_work() -> None:
    gate = BudgetGate(limiter=None, budget=Budget(calls=20, window_s=1.0), burst_share=0.0)
    await gate.acquire(lambda: RequestKind.POLL)  # spends the one token there is
    order: list[str] = []

    async def ask(kind: RequestKind) -> None:
        await gate.acquire(lambda: kind)
        order.append(kind.value)

    async with anyio.create_task_group() as tg:
        for kind in (RequestKind.POLL, RequestKind.SWEEP, RequestKind.DUE, RequestKind.CONFIRM):
            tg.start_soon(ask, kind)
            await anyio.lowlevel.checkpoint()
    assert order[:2] == ["confirm", "due"]
    assert sorted(order[2:]) == ["poll", "sweep"]


async def test_sweeps_and_polls_share_the_rate_by_weight() -> None:
    gate = BudgetGate(limiter=None, budget=Budget(calls=400, window_s=1.0), burst_share=0.0)
    gate.weights = {RequestKind.SWEEP: 3.0, RequestKind.POLL: 1.0}
    served: Counter[str] = Counter()

    async def keep_asking(kind: RequestKind) -> None:
        while True:
            await gate.acquire(lambda: kind)
            served[kind.value] += 1

    with anyio.move_on_after(0.5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_asking, RequestKind.SWEEP)
            tg.start_soon(keep_asking, RequestKind.POLL)
    total = served["sweep"] + served["poll"]
    assert total > 100
    assert served["sweep"] / total == pytest.approx(0.75, abs=0.08)


async def test_the_kind_is_asked_again_when_the_token_comes() -> None:
    gate = BudgetGate(limiter=None, budget=Budget(calls=10, window_s=1.0), burst_share=0.0)
    await gate.acquire(lambda: RequestKind.POLL)
    best = [RequestKind.POLL]

    async def upgrade() -> None:
        await anyio.sleep(0.02)
        best[0] = RequestKind.CONFIRM  # a confirmation arrived while we waited

    async with anyio.create_task_group() as tg:
        tg.start_soon(upgrade)
        granted = await gate.acquire(lambda: best[0])
    assert granted is RequestKind.CONFIRM
    assert gate.spent[RequestKind.CONFIRM] == 1


# -- the plan -------------------------------------------------------------------------


def test_the_issue_example_sweeps_ten_thousand_invoices_in_about_72_seconds() -> None:
    plan = make_plan(
        rate=5000 / 3600,
        reserved_rate=0.0,
        sweeping=True,
        sweepable=10_000,
        singles=0,
        pages=100,
        interval_s=1.0,
    )
    assert plan.sweep_revisit_s == pytest.approx(72.0, rel=0.01)
    assert plan.expected_lag_s == pytest.approx(36.0, rel=0.01)
    assert plan.rate_per_hour == pytest.approx(5000)


def test_one_get_per_invoice_visits_each_every_two_hours() -> None:
    plan = make_plan(
        rate=5000 / 3600,
        reserved_rate=0.0,
        sweeping=False,
        sweepable=0,
        singles=10_000,
        pages=None,
        interval_s=1.0,
    )
    assert plan.single_revisit_s == pytest.approx(7200.0, rel=0.01)


def test_the_plan_shares_the_rate_to_minimize_the_mean_lag() -> None:
    rate, pages, visible, singles = 2.0, 50, 5000, 200
    plan = make_plan(
        rate=rate,
        reserved_rate=0.0,
        sweeping=True,
        sweepable=visible,
        singles=singles,
        pages=pages,
        interval_s=0.1,
    )
    assert plan.sweep_revisit_s is not None
    assert plan.single_revisit_s is not None
    # The whole rate is used...
    spent = pages / plan.sweep_revisit_s + singles / plan.single_revisit_s
    assert spent == pytest.approx(rate, rel=0.01)

    # ...and any other split gives a longer mean revisit.
    def mean_revisit(sweep_share: float) -> float:
        t_s = pages / (rate * sweep_share)
        t_u = singles / (rate * (1 - sweep_share))
        return (visible * t_s + singles * t_u) / (visible + singles)

    chosen = plan.weights["sweep"] / (plan.weights["sweep"] + plan.weights["poll"])
    for other in (chosen - 0.1, chosen + 0.05, 0.5):
        assert mean_revisit(chosen) < mean_revisit(other)
    assert math.isclose(plan.expected_lag_s or 0, mean_revisit(chosen) / 2, rel_tol=0.01)


def test_single_polls_never_go_faster_than_the_interval_asks() -> None:
    plan = make_plan(
        rate=100.0,
        reserved_rate=0.0,
        sweeping=False,
        sweepable=0,
        singles=10,
        pages=None,
        interval_s=30.0,
    )
    assert plan.single_revisit_s == 30.0


# -- a poller under a tight budget ----------------------------------------------------


def _status(sandbox: Sandbox, key: str) -> str:
    record = sandbox.state.find_anywhere(key)
    assert record is not None
    return str(record.data["status"])


async def _sandbox_stats(sandbox: Sandbox) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox.url}/sandbox/stats") as answer,
    ):
        stats: dict[str, object] = await answer.json()
    return stats


async def test_a_tight_budget_causes_no_429_and_every_outcome_is_right() -> None:
    # 60 calls per 2 s window for 120 invoices polled every 0.1 s: far more asked than
    # allowed. The poller must stay inside the budget and still end every watch right.
    buyers = BuyerScript(
        weights={"pay": 2, "approve_then_pay": 1, "reject": 1, "ignore": 1},
        min_delay_s=0.2,
        max_delay_s=2.0,
    )
    config = fast_config(seed=11, buyers=buyers, api_key_limit=60, rate_window_s=2.0)
    async with Sandbox(config) as sandbox:
        rows = sandbox.seed_invoices(120, due_in_s=5.0)
        keys = [str(r["requestId"]) for r in rows]
        recorder = Recorder()
        started = time.monotonic()
        async with (
            open_client(sandbox) as client,
            make_poller(
                client,
                interval=0.1,
                on_change=recorder.on_change,
                on_finish=recorder.on_finish,
            ) as poller,
        ):
            await poller.watch_many(keys)
            with anyio.fail_after(30):
                await poller.drain()
            stats = poller.stats()
            client_429s = client.stats.rate_limited
        elapsed = time.monotonic() - started
        server = await _sandbox_stats(sandbox)
        final = {key: _status(sandbox, key) for key in keys}
    assert client_429s == 0
    assert stats.rate_limited == 0
    assert server["rateLimited"] == 0
    # Inside the budget: no more requests than the windows the run spanned allowed.
    windows = math.ceil(elapsed / 2.0) + 1
    assert stats.requests <= 60 * windows
    assert stats.sweeps > 0  # the budget went where it buys the most
    assert_consistent(recorder.changes)
    reasons = recorder.reasons()
    assert len(reasons) == len(keys)
    for key, status in final.items():
        expected = status if status in FINAL_STATUSES else FinishReason.OVERDUE.value
        assert reasons[key] == expected, (key, status)
    assert stats.plan is not None
    assert stats.plan.rate_per_hour is not None
