"""Claims and leases: claim, renew, reschedule, release, request_confirm, next_due_in."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller.stores import redis as redis_store
from reqfin_async.poller.stores.base import WatchRecord

from .conftest import LEASE_S, StoreFactory, make_result

# Past a lease's end, with a margin for a busy machine.
AFTER_LEASE_S = LEASE_S + 0.1


async def test_add_claim_reschedule_round_trip_keeps_fields(make_store: StoreFactory) -> None:
    store = await make_store()
    now = time.time()
    added = WatchRecord(
        "a", status=InvoiceStatus.OPEN, due_at=now + 86400.5, changed_at=now, created_at=now - 1
    )
    await store.add([added])

    [claim] = await store.claim(10)
    assert claim.record == added
    assert claim.confirm is False

    polled = WatchRecord(
        "a",
        status=InvoiceStatus.DECLARED_PAID,
        due_at=None,
        changed_at=now + 0.000001,
        created_at=now - 1,
        failures=3,
    )
    assert await store.reschedule([(polled, 0.0)]) == []
    [again] = await store.claim(10)
    assert again.record == polled


async def test_claim_takes_the_oldest_due_first_up_to_the_limit(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord(k) for k in ("a", "b", "c", "d")])
    claims = await store.claim(10)
    # Due 3, 2 and 1 s ago; "d" later.
    delays = {"c": -3.0, "b": -2.0, "a": -1.0, "d": 60.0}
    await store.reschedule([(c.record, delays[c.record.key]) for c in claims])

    assert [c.record.key for c in await store.claim(2)] == ["c", "b"]
    assert [c.record.key for c in await store.claim(2)] == ["a"]
    assert await store.claim(0) == []


async def test_a_claimed_watch_is_not_claimable_until_its_lease_ends(
    make_store: StoreFactory,
) -> None:
    holder = await make_store(lease_s=LEASE_S)
    other = await make_store(lease_s=LEASE_S)
    await holder.add([WatchRecord("a")])
    [claim] = await holder.claim(10)

    assert await other.claim(10) == []
    assert await holder.claim(10) == []
    await asyncio.sleep(claim.lease_until - time.time() + 0.05)
    assert [c.record.key for c in await other.claim(10)] == ["a"]


async def test_lease_until_is_the_lease_end_on_the_local_clock(make_store: StoreFactory) -> None:
    store = await make_store(lease_s=5.0)
    await store.add([WatchRecord("a")])
    before = time.time()
    [claim] = await store.claim(1)
    assert before + 4.9 <= claim.lease_until <= time.time() + 5.0


async def test_lease_until_follows_a_skewed_local_clock(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This host's clock runs an hour ahead of the server's: the lease end is
    # translated into it, for renew as for claim.
    skewed = SimpleNamespace(time=lambda: time.time() + 3600.0)
    monkeypatch.setattr(redis_store, "time", skewed)
    store = await make_store(lease_s=5.0)
    await store.add([WatchRecord("a")])

    [claim] = await store.claim(1)
    assert abs(claim.lease_until - (skewed.time() + 5.0)) < 0.5
    _, renewed = await store.renew(["a"])
    assert abs(renewed - (skewed.time() + 5.0)) < 0.5


async def test_an_expired_lease_goes_to_another_owner_whose_reschedule_wins(
    make_store: StoreFactory,
) -> None:
    first = await make_store(lease_s=LEASE_S)
    second = await make_store(lease_s=LEASE_S)
    await first.add([WatchRecord("a")])
    [late] = await first.claim(1)
    await asyncio.sleep(AFTER_LEASE_S)

    [taken] = await second.claim(1)
    assert taken.record.key == "a"
    # The first owner comes back too late: refused, reported as lost.
    stale = WatchRecord("a", status=InvoiceStatus.REJECTED)
    assert await first.reschedule([(stale, 0.0)]) == ["a"]
    fresh = WatchRecord("a", status=InvoiceStatus.ACCEPTED)
    assert await second.reschedule([(fresh, 0.0)]) == []
    assert await first.reschedule([(late.record, 0.0)]) == ["a"]

    [claim] = await first.claim(1)
    assert claim.record.status is InvoiceStatus.ACCEPTED


async def test_an_expired_lease_nobody_took_is_still_held(make_store: StoreFactory) -> None:
    store = await make_store(lease_s=LEASE_S)
    await store.add([WatchRecord("a")])
    [claim] = await store.claim(1)
    await asyncio.sleep(AFTER_LEASE_S)
    assert await store.reschedule([(claim.record, 60.0)]) == []


async def test_renew_keeps_a_lease(make_store: StoreFactory) -> None:
    holder = await make_store(lease_s=LEASE_S)
    other = await make_store(lease_s=LEASE_S)
    await holder.add([WatchRecord("a")])
    [claim] = await holder.claim(1)
    await asyncio.sleep(LEASE_S * 0.6)

    lost, lease_until = await holder.renew(["a"])
    assert lost == []
    assert lease_until > claim.lease_until
    assert lease_until == pytest.approx(time.time() + LEASE_S, abs=0.1)
    await asyncio.sleep(LEASE_S * 0.6)  # past the first lease's end
    assert await other.claim(1) == []


async def test_renew_reports_a_lost_lease(make_store: StoreFactory) -> None:
    first = await make_store(lease_s=LEASE_S)
    second = await make_store(lease_s=LEASE_S)
    await first.add([WatchRecord("taken"), WatchRecord("finished"), WatchRecord("kept")])
    await first.claim(3)
    await asyncio.sleep(AFTER_LEASE_S)
    await first.renew(["kept"])
    assert [c.record.key for c in await second.claim(3)] == ["finished", "taken"]
    await second.finish(make_result("finished"))

    lost, _ = await first.renew(["taken", "finished", "kept", "unknown"])
    assert lost == ["taken", "finished", "unknown"]


async def test_renew_of_nothing_answers_a_lease_end(make_store: StoreFactory) -> None:
    store = await make_store(lease_s=LEASE_S)
    lost, lease_until = await store.renew([])
    assert lost == []
    assert lease_until == pytest.approx(time.time() + LEASE_S, abs=0.1)


async def test_reschedule_ends_the_lease(make_store: StoreFactory) -> None:
    holder = await make_store(lease_s=30.0)
    other = await make_store(lease_s=30.0)
    await holder.add([WatchRecord("a")])
    [claim] = await holder.claim(1)
    await holder.reschedule([(claim.record, 0.0)])

    # Due at once for anyone, the lease long before its end notwithstanding.
    assert [c.record.key for c in await other.claim(1)] == ["a"]
    lost, _ = await holder.renew(["a"])
    assert lost == ["a"]


async def test_release_makes_a_watch_due_at_once(make_store: StoreFactory) -> None:
    holder = await make_store(lease_s=30.0)
    other = await make_store(lease_s=30.0)
    await holder.add([WatchRecord("a", status=InvoiceStatus.OPEN)])
    await holder.claim(1)

    await holder.release(["a", "unknown"])
    assert await holder.next_due_in() == 0
    [claim] = await other.claim(1)
    assert claim.record.status is InvoiceStatus.OPEN


async def test_release_of_a_lease_held_by_another_changes_nothing(
    make_store: StoreFactory,
) -> None:
    holder = await make_store(lease_s=30.0)
    other = await make_store(lease_s=30.0)
    await holder.add([WatchRecord("a")])
    await holder.claim(1)
    await other.release(["a"])
    assert await other.claim(1) == []


async def test_request_confirm_on_an_idle_watch_makes_it_due_as_a_confirmation(
    make_store: StoreFactory,
) -> None:
    store = await make_store()
    await store.add([WatchRecord("a"), WatchRecord("b")])
    for claim in await store.claim(2):
        await store.reschedule([(claim.record, 60.0)])

    assert await store.request_confirm(["a", "unknown"]) == ["a"]
    assert await store.next_due_in() == 0
    [claim] = await store.claim(10)
    assert claim.record.key == "a"
    assert claim.confirm is True


async def test_the_claim_carrying_a_confirmation_clears_it(make_store: StoreFactory) -> None:
    store = await make_store()
    await store.add([WatchRecord("a")])
    await store.request_confirm(["a"])
    [claim] = await store.claim(1)
    assert claim.confirm is True

    await store.reschedule([(claim.record, 0.0)])
    [again] = await store.claim(1)
    assert again.confirm is False


async def test_request_confirm_on_a_held_watch_is_due_when_its_holder_reschedules(
    make_store: StoreFactory,
) -> None:
    holder = await make_store(lease_s=30.0)
    other = await make_store(lease_s=30.0)
    await holder.add([WatchRecord("a")])
    [claim] = await holder.claim(1)

    assert await other.request_confirm(["a"]) == ["a"]
    assert await other.claim(1) == []  # the lease stands

    assert await holder.reschedule([(claim.record, 60.0)]) == []
    [confirmation] = await other.claim(1)
    assert confirmation.record.key == "a"
    assert confirmation.confirm is True


async def test_next_due_in(make_store: StoreFactory) -> None:
    store = await make_store(lease_s=5.0)
    assert await store.next_due_in() is None
    await store.add([WatchRecord("a")])
    assert await store.next_due_in() == 0

    [claim] = await store.claim(1)
    # A leased watch is due again when its lease ends.
    assert await store.next_due_in() == pytest.approx(5.0, abs=0.2)
    await store.reschedule([(claim.record, 42.0)])
    assert await store.next_due_in() == pytest.approx(42.0, abs=0.2)
