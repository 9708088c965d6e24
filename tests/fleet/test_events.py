"""What one process of a fleet learns of the others' work: ``wait_final`` returns an
outcome another process recorded, and ``changes()``/``outcomes()`` subscribers get the
events other processes observed, while ``on_change`` runs once, where it was seen."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio
import pytest

from reqfin_async.poller import StatusPoller
from reqfin_async.poller.stores.redis import RedisWatchStore
from reqfin_async.sandbox import Sandbox
from tests.poller.conftest import fast_config, open_client, seed
from tests.redis_server import RedisServer

from .conftest import NAMES, running_fleet

COUNT = 30


def steps(events: list[dict[str, object]], kind: str) -> Counter[tuple[object, ...]]:
    return Counter((e["key"], e["old"], e["new"], e["final"]) for e in events if e["kind"] == kind)


async def test_wait_final_and_subscribers_see_what_other_processes_observed(
    tmp_path: Path, redis_server: RedisServer, namespace: str
) -> None:
    config = fast_config(seed=65)
    async with (
        Sandbox(config) as sandbox,
        # Two workers each: a process holds a few watches at a time, so they spread.
        running_fleet(tmp_path, sandbox, redis_server.url, namespace, concurrency=2) as fleet,
    ):
        keys = seed(sandbox, COUNT)
        # Every process waits for every outcome, whoever finishes the invoice.
        await fleet.go(keys, wait_final=dict.fromkeys(NAMES, keys), await_outcomes=True)

        def stored(status: str) -> set[str]:
            """The keys some process handed back with ``status`` seen."""
            return {
                key
                for e in fleet.of_kind("reschedule")
                for key, seen in zip(e["keys"], e["statuses"], strict=True)
                if seen == status
            }

        await fleet.wait_for(
            lambda: stored("open") >= set(keys), timeout_s=10, what="a first read of each"
        )
        for key in keys:
            sandbox.set_status(key, "accepted")
        await fleet.wait_for(
            lambda: stored("accepted") >= set(keys), timeout_s=10, what="every acceptance seen"
        )
        finals = {key: ("paid" if i % 3 else "rejected") for i, key in enumerate(keys)}
        for key, status in finals.items():
            sandbox.set_status(key, status)
        await fleet.wait_exit(timeout_s=20)

        # From a process that polled nothing: an outcome at once, and an id never
        # watched refused.
        store = RedisWatchStore(redis_server.url, namespace=namespace)
        async with open_client(sandbox) as client, StatusPoller(client, store=store) as late:
            with anyio.fail_after(2):
                result = await late.wait_final(keys[0])
            assert result.reason.value == finals[keys[0]]
            with pytest.raises(KeyError):
                await late.wait_final("never-watched")
            await late.drain()

    events = fleet.events()
    expected = Counter(
        [(k, "open", "accepted", False) for k in keys]
        + [(k, "accepted", finals[k], True) for k in keys]
    )
    # on_change ran once per change, fleet-wide, in the process that saw it ...
    assert steps(events, "on_change") == expected
    observers = {e["proc"] for e in events if e["kind"] == "on_change"}
    assert len(observers) > 1, observers
    for name in NAMES:
        mine = fleet.events(name)
        # ... while every process's changes() subscriber got every change, those the
        # other processes observed included, and its outcomes() subscriber every outcome.
        assert steps(mine, "sub_change") == expected, name
        assert Counter(e["key"] for e in mine if e["kind"] == "sub_outcome") == Counter(keys)
        assert fleet.of_kind("outcomes_seen", name)[0]["all"], name
        # wait_final returned every outcome in every process, whoever recorded it.
        assert {e["key"]: e["reason"] for e in mine if e["kind"] == "wait_final"} == finals
        finished_here = {e["key"] for e in mine if e["kind"] == "on_finish"}
        assert len(finished_here) < COUNT, name  # some were finished elsewhere
    # Each outcome told once, by the process that recorded it.
    assert Counter(e["key"] for e in events if e["kind"] == "on_finish") == Counter(keys)
