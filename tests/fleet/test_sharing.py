"""Three poller processes share one watch list in Redis: every invoice is polled by one
process at a time, and ends exactly once, with the outcome the sandbox says."""

from __future__ import annotations

from pathlib import Path

from reqfin_async.sandbox import BuyerScript, Sandbox
from tests.poller.conftest import expected_reason, fast_config, seed
from tests.redis_server import RedisServer

from .checks import gets_by_key, lease_violations, outcome_counts
from .conftest import NAMES, behaviour, open_store, running_fleet

# Every buyer is done well before the due date (two steps of at most 1.2 s each), so
# the sandbox's final status is the outcome to expect: paid, rejected, else overdue.
BUYERS = BuyerScript(
    weights={"pay": 3, "approve_then_pay": 2, "declare_then_pay": 1, "reject": 1, "ignore": 3},
    min_delay_s=0.1,
    max_delay_s=1.2,
)
DUE_IN_S = 4.5


async def test_three_processes_share_1000_watches_one_poll_at_a_time(
    tmp_path: Path, redis_server: RedisServer, namespace: str
) -> None:
    config = fast_config(seed=61, buyers=BUYERS, api_key_limit=10_000_000)
    async with (
        Sandbox(config) as sandbox,
        running_fleet(tmp_path, sandbox, redis_server.url, namespace) as fleet,
    ):
        keys = seed(sandbox, 1000, due_in_s=DUE_IN_S)
        ignored = {k for k in keys if behaviour(sandbox, k) == "ignore"}
        await fleet.go(keys, await_outcomes=True)

        def read_ignored() -> list[str]:
            """Invoices nobody will pay that were read once, first read first."""
            gets = sorted(fleet.of_kind("get"), key=lambda e: e["t0"])
            read = dict.fromkeys(e["key"] for e in gets)
            return [k for k in read if k in ignored]

        # The seller cancels some of those, well before they are due.
        await fleet.wait_for(
            lambda: len(read_ignored()) >= 20, timeout_s=10, what="20 invoices read"
        )
        for key in read_ignored()[:20]:
            sandbox.set_status(key, "canceled")
        await fleet.wait_exit(timeout_s=40)

        store = await open_store(redis_server.url, namespace)
        try:
            results = {r.key: r.reason.value for r in await store.results()}
            active = await store.count_active()
        finally:
            await store.close()
        expected = {k: expected_reason(sandbox, k) for k in keys}

    events = fleet.events()
    for name in NAMES:
        assert fleet.of_kind("drained", name), fleet.stderr()
    # Every invoice ended once, fleet-wide, with the sandbox's final status.
    assert active == 0
    assert results == expected
    assert set(expected.values()) == {"paid", "rejected", "canceled", "overdue"}
    finished = outcome_counts(events)
    assert set(finished) == set(keys)
    assert finished.most_common(1)[0][1] == 1
    assert {e["key"]: e["reason"] for e in events if e["kind"] == "on_finish"} == expected
    recorded = outcome_counts([e for e in events if e["kind"] == "finish" and e["fresh"]], "finish")
    assert recorded == finished
    # ... and every process's outcomes() subscriber heard of every outcome.
    for name in NAMES:
        assert outcome_counts(fleet.events(name), "sub_outcome") == finished, name

    # One process at a time per invoice: leases exclusive, every GET inside its lease.
    problems, found = lease_violations(events)
    assert problems == [], "\n".join(problems[:20])
    # Not vacuous: the processes shared the work, and invoices changed hands often.
    gets = gets_by_key(events)
    per_process = {
        n: sum(1 for e in events if e["kind"] == "get" and e["proc"] == n) for n in NAMES
    }
    total = sum(per_process.values())
    assert all(count > total / 6 for count in per_process.values()), per_process
    moved = [k for k, g in gets.items() if len({proc for _, _, proc in g}) > 1]
    assert len(moved) > len(keys) / 4, len(moved)  # about half, typically
    print(f"GETs {per_process}, {len(found)} leases, {len(moved)} invoices changed hands")
