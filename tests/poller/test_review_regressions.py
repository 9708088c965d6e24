"""Regressions found in review, one poller alone (the fleet's are in
``tests/fleet/test_review_regressions.py``): sweeps that keep failing, stale entries of
the timer wheel, an out-of-range webhook timestamp, a store whose ``load_active``
fails, and ``forget`` of an invoice merged with its twin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from reqfin_async import RequestFinanceClient
from reqfin_async.poller import FinishReason, TimerWheel
from reqfin_async.poller.stores.base import WatchRecord
from reqfin_async.poller.stores.memory import MemoryWatchStore
from reqfin_async.poller.watch import Watch
from reqfin_async.sandbox import Sandbox
from reqfin_async.webhooks import (
    SIGNATURE_HEADER,
    WebhookEvent,
    WebhookPayloadError,
    parse_webhook,
    sign_webhook,
    webhook_app,
)

from .conftest import Traffic, fast_config, make_poller, seed, traced_client, wait_until

# -- sweeps that keep failing ------------------------------------------------------------


@dataclass
class BreakableListing:
    """Once ``status`` is set, every ``GET /invoices`` answers it (a 500 of the server,
    a 403 of a credential that lost the right to list), while ``GET /invoices/{id}``
    still works."""

    status: int | None = None
    failed: int = 0

    def response_class(self) -> type[aiohttp.ClientResponse]:
        listing = self

        class ListingResponse(aiohttp.ClientResponse):
            _failed = False

            async def start(self, connection: Any) -> aiohttp.ClientResponse:
                await super().start(connection)
                if (
                    listing.status is not None
                    and self.method == "GET"
                    and self.url.path == "/invoices"
                ):
                    listing.failed += 1
                    self._failed = True
                    self.status = listing.status
                    self.reason = "Injected"
                return self

            async def read(self) -> bytes:
                body = await super().read()
                if not self._failed:
                    return body
                return json.dumps({"statusCode": self.status, "message": "injected"}).encode()

        return ListingResponse


@pytest.mark.parametrize("status", [500, 403])
async def test_while_sweeps_keep_failing_the_watches_they_covered_are_polled_on_their_own(
    status: int,
) -> None:
    async with Sandbox(fast_config(api_key_limit=100_000)) as sandbox:
        keys = seed(sandbox, 60)
        traffic = Traffic()
        listing = BreakableListing()
        async with (
            traced_client(sandbox, traffic, response_class=listing.response_class()) as client,
            make_poller(client, interval=0.3, sweep=True) as poller,
        ):
            await poller.watch_many(keys)
            await wait_until(lambda: poller.stats().sweeps >= 2, what="two sweeps")
            assert poller.stats().sweeping
            # The sweeps keep an eye on every invoice: none is polled on its own.
            listing.status = status
            before = traffic.gets.copy()
            sandbox.set_status(keys[0], "paid")
            with anyio.fail_after(3):
                result = await poller.wait_final(keys[0])
            # Not just the one that changed: every watch is polled again.
            await wait_until(
                lambda: all(traffic.gets[k] > before[k] for k in keys[1:]),
                timeout_s=3,
                what="a GET of every other watch",
            )
            errors = poller.stats().errors
    assert result.reason is FinishReason.PAID
    assert listing.failed >= 1
    assert errors >= listing.failed


# -- the timer wheel's stale entries -------------------------------------------------------

NOW = 1_700_000_000.0
MONTH = 30 * 86400.0
MANY = 5000  # well above the wheel's slack of stale entries (1024)


def entries(wheel: TimerWheel) -> list[Watch]:
    """Every entry the wheel holds, live or stale."""
    return [watch for slot in wheel._slots.values() for watch in slot]


def test_watches_cancelled_far_ahead_are_not_held_by_the_wheel() -> None:
    wheel = TimerWheel()
    soon = [Watch(f"soon-{i}", None, NOW) for i in range(3)]
    later = Watch("later", None, NOW)
    for i, watch in enumerate(soon):
        wheel.schedule(watch, NOW + 1 + i)
    wheel.schedule(later, NOW + 2 * MONTH)
    # Finished watches: their due-date checks were a month away.
    gone = [Watch(f"gone-{i}", None, NOW) for i in range(MANY)]
    for i, watch in enumerate(gone):
        wheel.schedule(watch, NOW + MONTH + i)
    for watch in gone:
        wheel.cancel(watch)

    held = entries(wheel)
    assert len(held) <= 2 * len(wheel) + 1024
    gone_ids = {id(watch) for watch in gone}
    assert sum(id(watch) in gone_ids for watch in held) <= 1024
    # The live watches are still served, in order.
    assert len(wheel) == 4
    assert wheel.next_at() == pytest.approx(NOW + 1)
    assert wheel.pop_due(NOW + 10) == soon
    assert wheel.next_at() is not None
    assert wheel.pop_due(NOW + MONTH) == []
    assert wheel.pop_due(NOW + 2 * MONTH) == [later]
    assert len(wheel) == 0
    assert wheel.pop_due(NOW + 3 * MONTH) == []
    assert wheel.next_at() is None


def test_a_watch_rescheduled_again_and_again_leaves_no_pile_of_entries() -> None:
    wheel = TimerWheel()
    watch = Watch("busy", None, NOW)
    other = Watch("other", None, NOW)
    wheel.schedule(other, NOW + 5)
    # Each schedule of a watch already on the wheel leaves its old entry stale.
    for i in range(MANY):
        wheel.schedule(watch, NOW + MONTH - i)
    assert len(entries(wheel)) <= 2 * len(wheel) + 1024
    assert wheel.when(watch) == pytest.approx(NOW + MONTH - (MANY - 1))
    assert wheel.pop_due(NOW + 5) == [other]
    assert wheel.pop_due(NOW + MONTH) == [watch]  # once, though it was scheduled MANY times
    assert len(wheel) == 0
    assert wheel.next_at() is None


# -- an out-of-range webhook timestamp ------------------------------------------------------

SECRET = "whsec-review"
INVOICE = json.loads((Path(__file__).parent.parent / "fixtures" / "invoice_get.json").read_text())
OUT_OF_RANGE = [1e20, -1e20, 10**20, 253_402_300_800_000]  # the last: year 10000


def webhook_body(timestamp: float) -> bytes:
    payload = {
        "variant": "rnf_invoice",
        "event": "paid",
        "timestamp": timestamp,
        "invoice": {**INVOICE, "status": "paid"},
    }
    return json.dumps(payload).encode()


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE)
def test_a_signed_webhook_with_an_out_of_range_timestamp_is_a_payload_error(
    timestamp: float,
) -> None:
    raw = webhook_body(timestamp)
    with pytest.raises(WebhookPayloadError, match="out of range"):
        parse_webhook(raw, sign_webhook(raw, SECRET), SECRET)


async def test_the_webhook_app_answers_400_to_an_out_of_range_timestamp() -> None:
    received: list[WebhookEvent] = []
    app = web.Application()
    app.add_subapp("/hooks", webhook_app(received.append, secret=SECRET))
    raw = webhook_body(1e20)
    async with TestClient(TestServer(app)) as http:
        response = await http.post(
            "/hooks/",
            data=raw,
            headers={
                SIGNATURE_HEADER: sign_webhook(raw, SECRET),
                "Content-Type": "application/json",
            },
        )
        assert response.status == 400
    assert received == []


# -- a store whose load_active fails --------------------------------------------------------


class BrokenStore(MemoryWatchStore):
    """A store that opens, then fails (or hangs) loading its watches."""

    def __init__(self, *, hang: bool = False) -> None:
        super().__init__()
        self.hang = hang
        self.calls: list[str] = []
        self.loading = anyio.Event()

    async def open(self) -> None:
        self.calls.append("open")

    async def close(self) -> None:
        self.calls.append("close")

    async def load_active(self) -> list[WatchRecord]:
        self.loading.set()
        if self.hang:
            await anyio.sleep_forever()
        raise RuntimeError("the watch list is unreadable")


async def test_a_poller_whose_store_fails_to_load_closes_the_store(
    client: RequestFinanceClient,
) -> None:
    store = BrokenStore()
    with pytest.raises(RuntimeError, match="unreadable"):
        async with make_poller(client, store=store):
            pytest.fail("the poller must not start")
    assert store.calls == ["open", "close"]


async def test_a_poller_cancelled_while_its_store_loads_closes_the_store(
    client: RequestFinanceClient,
) -> None:
    store = BrokenStore(hang=True)

    async def enter() -> None:
        async with make_poller(client, store=store):
            pytest.fail("the poller must not start")

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(enter)
            await store.loading.wait()
            tg.cancel_scope.cancel()
    assert store.calls == ["open", "close"]


# -- forget() of an invoice merged with its twin -------------------------------------------


@pytest.mark.parametrize("forgotten", ["id", "requestId"])
async def test_after_forget_an_invoice_merged_with_its_twin_can_be_watched_again(
    sandbox: Sandbox, client: RequestFinanceClient, forgotten: str
) -> None:
    (row,) = sandbox.seed_invoices(1)
    async with make_poller(client) as poller:
        await poller.watch(row["requestId"])
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        await poller.watch(row["id"])  # the same invoice under its other id
        await wait_until(lambda: poller.watching() == [row["requestId"]], what="the merge")
        sandbox.set_status(row["id"], "paid")
        with anyio.fail_after(5):
            await poller.wait_final(row["id"])
        assert await poller.watch(row["id"]) is False  # finished: its outcome stands

        await poller.forget(row[forgotten])  # either id: it is one invoice

        assert await poller.results() == []
        assert await poller.watch(row["id"]) is True
        with anyio.fail_after(5):
            again = await poller.wait_final(row["id"])
    assert (again.key, again.reason) == (row["id"], FinishReason.PAID)
