"""Durability with ``SQLiteWatchStore``: a restarted poller resumes every watch with its
last seen status, and never delivers a final outcome twice, even after a SIGKILL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc

from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import FinishReason, SQLiteWatchStore
from reqfin_async.sandbox import BuyerScript, Sandbox

from .conftest import (
    Recorder,
    assert_consistent,
    expected_reason,
    fast_config,
    make_poller,
    open_client,
    seed,
    wait_until,
)

SCRIPT = Path(__file__).with_name("poller_process.py")


async def test_a_restarted_poller_resumes_every_watch_with_its_last_seen_status(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    keys = seed(sandbox, 5)
    path = tmp_path / "watches.sqlite3"
    before, after = Recorder(), Recorder()
    async with open_client(sandbox) as client:
        async with make_poller(
            client,
            store=SQLiteWatchStore(path),
            on_change=before.on_change,
            on_finish=before.on_finish,
        ) as poller:
            await poller.watch_many(keys)
            await wait_until(lambda: poller.status_counts() == {"open": 5}, what="first reads")
            sandbox.set_status(keys[0], "paid")
            sandbox.set_status(keys[1], "accepted")
            sandbox.set_status(keys[2], "declaredPaid")
            await wait_until(
                lambda: poller.status_counts() == {"open": 2, "accepted": 1, "declaredPaid": 1},
                what="the changes",
            )
            with anyio.fail_after(5):
                await poller.wait_final(keys[0])

        async with make_poller(
            client,
            store=SQLiteWatchStore(path),
            on_change=after.on_change,
            on_finish=after.on_finish,
        ) as poller:
            # Resumed before any request, each watch with the status last seen.
            assert sorted(poller.watching()) == sorted(keys[1:])
            assert poller.status_counts() == {"open": 2, "accepted": 1, "declaredPaid": 1}
            assert poller.stats().requests == 0
            # Watching them all again changes nothing: resumed, or finished for good.
            assert await poller.watch_many(keys) == []
            with anyio.fail_after(1):
                restored = await poller.wait_final(keys[0])
            assert restored.reason is FinishReason.PAID
            for key in keys[1:3]:
                sandbox.set_status(key, "paid")
            sandbox.set_status(keys[3], "rejected")
            await poller.unwatch(keys[4])
            with anyio.fail_after(5):
                await poller.drain()
            results = {r.key: r.reason.value for r in await poller.results()}

    assert before.reasons() == {keys[0]: "paid"}
    assert after.reasons() == {
        keys[1]: "paid",
        keys[2]: "paid",
        keys[3]: "rejected",
        keys[4]: "unwatched",
    }
    assert results == {**before.reasons(), **after.reasons()}
    # The changes after the restart start from the status seen before it.
    assert {(c.key, c.old_status, c.new_status) for c in after.changes} == {
        (keys[1], InvoiceStatus.ACCEPTED, InvoiceStatus.PAID),
        (keys[2], InvoiceStatus.DECLARED_PAID, InvoiceStatus.PAID),
        (keys[3], InvoiceStatus.OPEN, InvoiceStatus.REJECTED),
    }
    assert_consistent(before.changes + after.changes)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The events a process logged; a line cut by SIGKILL is left out."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def outcomes_in(events: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in events if e["kind"] == "outcome"]


def open_for_write(path: Path) -> IO[bytes]:
    return path.open("wb")


async def start_process(sandbox: Sandbox, tmp: Path, run: int) -> anyio.abc.Process:
    stderr = open_for_write(tmp / f"stderr{run}.txt")
    try:
        return await anyio.open_process(
            [
                sys.executable,
                str(SCRIPT),
                sandbox.url,
                sandbox.config.api_key,
                str(tmp / "watches.sqlite3"),
                str(tmp / "ids.json"),
                str(tmp / f"events{run}.jsonl"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    finally:
        stderr.close()


async def test_a_poller_process_killed_mid_run_loses_no_watch_and_repeats_no_outcome(
    tmp_path: Path,
) -> None:
    buyers = BuyerScript(
        weights={"pay": 3, "approve_then_pay": 3, "declare_then_pay": 1, "reject": 1, "ignore": 2},
        min_delay_s=0.2,
        max_delay_s=1.6,
    )
    config = fast_config(seed=51, buyers=buyers, api_key_limit=100_000)
    async with Sandbox(config) as sandbox:
        keys = seed(sandbox, 200, due_in_s=4.5)
        (tmp_path / "ids.json").write_text(json.dumps(keys))
        log1, log2 = tmp_path / "events1.jsonl", tmp_path / "events2.jsonl"

        first = await start_process(sandbox, tmp_path, 1)
        async with first:
            await wait_until(
                lambda: len(outcomes_in(read_log(log1))) >= 40, timeout_s=10, what="40 outcomes"
            )
            first.kill()  # SIGKILL, in the middle of the run
            await first.wait()
        assert first.returncode == -9
        killed_with = len(outcomes_in(read_log(log1)))
        assert killed_with < 200 - 40  # killed mid-run, with much left to do

        second = await start_process(sandbox, tmp_path, 2)
        async with second:
            with anyio.fail_after(20):
                await second.wait()
        assert second.returncode == 0, (tmp_path / "stderr2.txt").read_text()

    events1, events2 = read_log(log1), read_log(log2)
    started = next(e for e in events2 if e["kind"] == "started")
    assert started["added"] == 0  # every id was resumed, or had finished for good
    assert sum(started["resumed"].values()) > 0
    assert events2[-1]["kind"] == "done"

    # Every invoice has exactly one final result in the store, with the right reason.
    store = SQLiteWatchStore(tmp_path / "watches.sqlite3")
    await store.open()
    try:
        results = await store.results()
        active = await store.load_active()
    finally:
        await store.close()
    assert active == []
    assert sorted(r.key for r in results) == sorted(keys)
    assert {r.key: r.reason.value for r in results} == {
        k: expected_reason(sandbox, k) for k in keys
    }

    # No final outcome delivered twice, across the two runs.
    delivered = Counter(outcomes_in(events1) + outcomes_in(events2))
    assert delivered.most_common(1)[0][1] == 1
    finals = Counter(e["key"] for e in events1 + events2 if e["kind"] == "change" and e["final"])
    assert finals.most_common(1)[0][1] == 1
    # Every outcome the second run delivered was still open when the first one died.
    assert not set(outcomes_in(events2)) & set(outcomes_in(events1))
    # No change reported twice either: each transition of an invoice at most once.
    steps = Counter(
        (e["key"], e["old"], e["new"]) for e in events1 + events2 if e["kind"] == "change"
    )
    assert steps.most_common(1)[0][1] == 1
