"""The watch list and the outcomes: add, finish, result(s), forget, counts, namespaces."""

from __future__ import annotations

from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller.codec import RestoredError
from reqfin_async.poller.events import FinishReason
from reqfin_async.poller.stores.base import FleetEvent, WatchRecord

from .conftest import StoreFactory, make_result


async def test_add_returns_the_keys_accepted(make_store: StoreFactory) -> None:
    store = await make_store()
    accepted = await store.add([WatchRecord("a"), WatchRecord("b"), WatchRecord("a")])
    assert accepted == ["a", "b"]
    assert await store.count_active() == 2


async def test_add_leaves_an_active_watch_as_it_is(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord("a", status=InvoiceStatus.OPEN, changed_at=1.0)])
    [claim] = await store.claim(10)
    await store.reschedule([(claim.record, 60.0)])

    assert await store.add([WatchRecord("a", status=InvoiceStatus.DRAFT)]) == ["a"]

    # Neither due now nor overwritten: the schedule and fields stand.
    assert await store.claim(10) == []
    due_in = await store.next_due_in()
    assert due_in is not None
    assert due_in > 50
    await store.request_confirm(["a"])
    [again] = await store.claim(10)
    assert again.record.status is InvoiceStatus.OPEN
    assert again.record.changed_at == 1.0


async def test_finish_is_true_once_across_two_stores(make_store: StoreFactory) -> None:
    first = await make_store()
    second = await make_store()
    await first.add([WatchRecord("a")])

    assert await first.finish(make_result("a")) is True
    assert await second.finish(make_result("a")) is False
    assert await first.finish(make_result("a", FinishReason.CANCELED)) is False
    # The first outcome stands.
    result = await second.result("a")
    assert result is not None
    assert result.reason is FinishReason.PAID


async def test_finish_ends_the_watch(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord("a"), WatchRecord("b")])
    await store.finish(make_result("a"))
    assert await store.count_active() == 1
    assert await store.is_active("a") is False
    assert [c.record.key for c in await store.claim(10)] == ["b"]


async def test_a_finished_key_is_refused_by_add(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord("a")])
    await store.finish(make_result("a"))

    assert await store.add([WatchRecord("a"), WatchRecord("b")]) == ["b"]
    assert await store.is_active("a") is False


async def test_result_round_trips_an_outcome(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.finish(make_result("a", FinishReason.FAILED, error="gone for good"))

    result = await store.result("a")
    assert result is not None
    assert (result.key, result.request_id, result.reason) == ("a", "req-a", FinishReason.FAILED)
    assert result.at == make_result("a").at
    assert isinstance(result.error, RestoredError)
    assert str(result.error) == "gone for good"
    assert await store.result("unknown") is None


async def test_results_come_in_finish_order(make_store: StoreFactory) -> None:
    store = await make_store()
    other = await make_store()
    for key in ("c", "a", "b"):
        await store.finish(make_result(key))
    await other.finish(make_result("d"))
    assert [r.key for r in await other.results()] == ["c", "a", "b", "d"]


async def test_forget_drops_everything_about_a_key(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord("active"), WatchRecord("done"), WatchRecord("kept")])
    await store.finish(make_result("done"))

    await store.forget("active")
    await store.forget("done")
    await store.forget("never-seen")

    assert await store.is_active("active") is False
    assert await store.result("done") is None
    assert await store.results() == []
    assert await store.count_active() == 1
    # A forgotten outcome no longer blocks watching the key anew.
    assert await store.add([WatchRecord("done")]) == ["done"]


async def test_count_active_and_is_active(make_store: StoreFactory) -> None:
    store = await make_store()
    assert await store.count_active() == 0
    await store.add([WatchRecord(f"k{i}") for i in range(7)])
    await store.claim(3)  # leased watches are active too
    assert await store.count_active() == 7
    assert await store.is_active("k0") is True
    assert await store.is_active("k7") is False


async def test_large_batches_are_applied_whole(make_store: StoreFactory) -> None:
    store = await make_store()
    keys = [f"k{i:04}" for i in range(1234)]  # more than one script call's batch
    assert await store.add([WatchRecord(k) for k in keys]) == keys
    claims = await store.claim(2000)
    assert len(claims) == 1234
    assert await store.reschedule([(c.record, 60.0) for c in claims]) == []
    assert await store.request_confirm(keys) == keys
    assert await store.count_active() == 1234


async def test_namespaces_are_isolated(make_store: StoreFactory, namespace: str) -> None:
    one = await make_store(namespace=f"{namespace}-one")
    two = await make_store(namespace=f"{namespace}-two")
    await one.add([WatchRecord("a")])
    await one.finish(make_result("b"))
    await one.publish(FleetEvent("change", one.owner, b"{}"))
    await one.observe_budget(limit=2, remaining=1, reset_s=60.0)

    assert await two.count_active() == 0
    assert await two.claim(10) == []
    assert await two.result("b") is None
    assert await two.add([WatchRecord("b")]) == ["b"]
    assert await two.read_events(0) == []
    assert await two.reserve_call() == (True, 0.0)  # knows nothing of one's budget
    assert (await one.reserve_call())[0] is False
