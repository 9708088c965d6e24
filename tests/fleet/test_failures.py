"""A fleet survives losing one of its processes (SIGKILL) and losing Redis for a while
(a restart, with the data kept by the AOF): no watch is lost, no outcome told twice."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reqfin_async.poller.events import WatchResult
from reqfin_async.sandbox import BuyerScript, Sandbox
from tests.poller.conftest import expected_reason, fast_config, seed
from tests.redis_server import RedisServer

from .checks import Holding, holdings, lease_violations, outcome_counts
from .conftest import NAMES, Fleet, behaviour, open_store, running_fleet

BUYERS = BuyerScript(
    weights={"pay": 3, "approve_then_pay": 2, "declare_then_pay": 1, "reject": 1, "ignore": 3},
    min_delay_s=0.2,
    max_delay_s=1.4,
)
COUNT = 300
DUE_IN_S = 4.0
LEASE_S = 1.0


def open_holdings(events: Sequence[dict[str, Any]], proc: str) -> list[Holding]:
    """The leases ``proc`` holds at the end of its log (claimed, never handed back)."""
    found, _ = holdings(events)
    last = {h.key: h for h in found if h.proc == proc}  # (found is in claim order)
    return [h for h in last.values() if h.open]


async def final_state(url: str, namespace: str) -> tuple[dict[str, WatchResult], int]:
    store = await open_store(url, namespace)
    try:
        return {r.key: r for r in await store.results()}, await store.count_active()
    finally:
        await store.close()


def assert_each_once(
    fleet: Fleet,
    keys: Sequence[str],
    results: dict[str, WatchResult],
    active: int,
    expected: dict[str, str],
    *,
    unreported: set[str],
) -> None:
    """Every invoice has one outcome in the store, the sandbox's; none was told twice;
    the ones never told are exactly ``unreported`` (allowed by the caller)."""
    events = fleet.events()
    assert active == 0
    assert sorted(results) == sorted(keys)
    assert {k: r.reason.value for k, r in results.items()} == expected
    told = outcome_counts(events)
    assert told.most_common(1)[0][1] == 1  # no outcome twice
    assert set(keys) - set(told) == unreported
    assert {e["key"]: e["reason"] for e in events if e["kind"] == "on_finish"} == {
        k: v for k, v in expected.items() if k not in unreported
    }
    fresh = outcome_counts([e for e in events if e["kind"] == "finish" and e["fresh"]], "finish")
    assert fresh.most_common(1)[0][1] == 1
    finals = outcome_counts([e for e in events if e["kind"] == "on_change" and e["final"]])
    assert not finals or finals.most_common(1)[0][1] == 1


async def test_a_killed_process_s_watches_finish_elsewhere_once(
    tmp_path: Path, redis_server: RedisServer, namespace: str
) -> None:
    config = fast_config(seed=62, buyers=BUYERS, api_key_limit=10_000_000)
    async with (
        Sandbox(config) as sandbox,
        # Slow answers: b dies with polls under way, under leases it never hands back.
        running_fleet(
            tmp_path, sandbox, redis_server.url, namespace, lease_s=LEASE_S, answer_delay_s=0.2
        ) as fleet,
    ):
        keys = seed(sandbox, COUNT, due_in_s=DUE_IN_S)
        await fleet.go(keys)
        # Mid-run: outcomes are coming in, and b holds leases right now.
        await fleet.wait_for(
            lambda: (
                len(fleet.of_kind("on_finish")) >= COUNT // 10
                and len(open_holdings(fleet.events("b"), "b")) >= 5
            ),
            timeout_s=15,
            what="b holding leases mid-run",
        )
        await fleet.kill("b")
        killed_at = time.time()
        await fleet.wait_exit(timeout_s=30)
        results, active = await final_state(redis_server.url, namespace)
        expected = {k: expected_reason(sandbox, k) for k in keys}

    events = fleet.events()
    held_by_b = open_holdings(events, "b")
    assert held_by_b  # b died holding leases
    finished_after = {e["key"] for e in events if e["kind"] == "on_finish" and e["t"] > killed_at}
    assert len(finished_after) > COUNT // 4  # much was left when b died
    for name in ("a", "c"):
        assert fleet.of_kind("drained", name)
    # The watches b held when it died went to a and c. One b had not polled yet it
    # cannot have handed back: they took it only once b's lease had run out.
    found, _ = holdings(events)
    unpolled = [h for h in held_by_b if not h.gets]
    assert unpolled
    for orphan in unpolled:
        later = [h for h in found if h.key == orphan.key and h.claimed_at > orphan.claimed_at]
        assert later, orphan.key
        assert later[0].proc != "b"
        assert later[0].claimed_at >= orphan.until, (orphan.key, later[0].claimed_at, orphan.until)
    problems, _ = lease_violations(events, killed={"b"})
    assert problems == [], "\n".join(problems[:20])
    # An outcome b recorded in the store just before dying, but never got to tell, is
    # the only kind that may go untold (delivery is at most once, never twice).
    untold = set(keys) - set(outcome_counts(events))
    assert all(killed_at - 1.0 <= results[k].at.timestamp() <= killed_at for k in untold), untold
    assert_each_once(fleet, keys, results, active, expected, unreported=untold)


async def test_a_redis_restart_mid_run_loses_nothing_and_repeats_nothing(
    tmp_path: Path, own_redis_server: RedisServer, namespace: str
) -> None:
    server = own_redis_server
    config = fast_config(seed=63, buyers=BUYERS, api_key_limit=10_000_000)
    async with (
        Sandbox(config) as sandbox,
        # Slow answers: leases are held a while, so Redis goes away under many of them.
        running_fleet(
            tmp_path, sandbox, server.url, namespace, lease_s=LEASE_S, answer_delay_s=0.3
        ) as fleet,
    ):
        keys = seed(sandbox, COUNT, due_in_s=DUE_IN_S + 1.0)
        # Invoices nobody pays end when due, after the outage: wait_final spans it.
        waited = [k for k in keys if behaviour(sandbox, k) == "ignore"][:5]
        await fleet.go(keys, wait_final={"a": waited})
        await fleet.wait_for(
            lambda: (
                len(fleet.of_kind("on_finish")) >= COUNT // 10
                and all(len(open_holdings(fleet.events(n), n)) >= 3 for n in NAMES)
            ),
            timeout_s=15,
            what="every process holding leases mid-run",
        )
        stopping = time.time()
        await server.astop()
        stopped_at = time.time()
        # Down until every process noticed, and let go of every lease it held.
        await fleet.wait_for(
            lambda: all(
                any(e["t0"] > stopped_at for e in fleet.of_kind("store_error", n))
                and all(h.dropped_at is not None for h in open_holdings(fleet.events(n), n))
                for n in NAMES
            ),
            timeout_s=10,
            what="every process letting go of its leases",
        )
        await server.astart()
        started_at = time.time()
        await fleet.wait_exit(timeout_s=30)
        results, active = await final_state(server.url, namespace)
        expected = {k: expected_reason(sandbox, k) for k in keys}

    events = fleet.events()
    found, _ = holdings(events)
    for name in NAMES:
        assert fleet.of_kind("drained", name), name
        # It stopped claiming while Redis was down (its claims failed, and it
        # backed off), and claimed again once Redis was back.
        failed = [e for e in fleet.of_kind("store_error", name) if e["method"] == "claim"]
        assert any(stopped_at <= e["t0"] <= started_at for e in failed), name
        claims = [e for e in fleet.of_kind("claim", name) if e["t0"] > stopped_at]
        assert claims, name
        assert claims[0]["t1"] >= started_at, name
        # Leases kept honest: every lease it held when Redis went away, it let go of
        # before the lease's end (from then on another process may take the watch).
        cut_off = [h for h in found if h.proc == name and h.dropped_at and h.dropped_at > stopping]
        assert cut_off, name
        late = [
            f"{h.key} let go {h.dropped_at - h.until:+.3f} s after its lease ended"
            for h in cut_off
            if h.dropped_at is not None and h.dropped_at >= h.until
        ]
        assert late == [], (name, late[:5])
    problems, _ = lease_violations(events, strict=False)
    assert problems == [], "\n".join(problems[:20])
    # wait_final across the outage.
    assert {e["key"]: e["reason"] for e in fleet.of_kind("wait_final", "a")} == dict.fromkeys(
        waited, "overdue"
    )
    # A finish whose reply the restart cut off may have been recorded without being
    # told: the only outcome allowed to go untold (never twice).
    failed_finishes = {
        e["key"] for e in events if e["kind"] == "store_error" and e["method"] == "finish"
    }
    untold = set(keys) - set(outcome_counts(events))
    assert untold <= failed_finishes
    assert_each_once(fleet, keys, results, active, expected, unreported=untold)
