"""How a watch ends: paid, rejected, canceled, overdue, unwatched or failed; what does
not end it (non-final statuses, transient failures); and the paid grace period."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from reqfin_async.client import RequestFinanceClient
from reqfin_async.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from reqfin_async.models.invoice import InvoiceStatus
from reqfin_async.poller import FinishReason
from reqfin_async.sandbox import ChaosConfig, Sandbox

from .conftest import (
    Recorder,
    Traffic,
    assert_consistent,
    fast_config,
    foreign_organization,
    make_poller,
    open_client,
    seed,
    traced_client,
    wait_until,
)


@pytest.mark.parametrize("status", ["paid", "rejected", "canceled"])
async def test_a_watch_ends_when_the_invoice_reaches_a_final_status(
    sandbox: Sandbox, client: RequestFinanceClient, status: str
) -> None:
    (key,) = seed(sandbox, 1)
    recorder = Recorder()
    async with make_poller(client, on_change=recorder.on_change) as poller:
        assert await poller.watch(key) is True
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, status)
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason == FinishReason(status)
    assert result.status == InvoiceStatus(status)
    assert result.request_id == key
    assert result.invoice is not None
    assert result.invoice.status == InvoiceStatus(status)
    assert result.error is None
    [change] = recorder.changes
    assert (change.old_status, change.new_status, change.final) == (
        InvoiceStatus.OPEN,
        InvoiceStatus(status),
        True,
    )


async def test_declared_paid_accepted_pending_open_and_scheduled_are_not_final(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    recorder = Recorder()
    async with make_poller(client, on_change=recorder.on_change) as poller:
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        for status in ("declaredPaid", "accepted", "pending", "scheduled", "open", "paid"):
            sandbox.set_status(key, status)
            await wait_until(recorder.reached(status), what=f"the change to {status}")
            if status != "paid":
                assert poller.watching() == [key]
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID
    assert [c.new_status.value for c in recorder.changes if c.new_status] == [
        "declaredPaid",
        "accepted",
        "pending",
        "scheduled",
        "open",
        "paid",
    ]
    assert_consistent(recorder.changes)


async def test_a_watch_ends_overdue_once_its_due_date_has_passed(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    due = datetime.now(UTC) + timedelta(seconds=0.4)
    async with make_poller(client) as poller:
        await poller.watch(key, due_date=due)
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.OVERDUE
    assert result.status is InvoiceStatus.OPEN
    assert result.at >= due


async def test_the_due_date_is_read_from_the_invoice_when_not_given(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1, due_in_s=0.4)
    record = sandbox.state.find_anywhere(key)
    assert record is not None
    assert record.due_ts is not None
    async with make_poller(client) as poller:
        await poller.watch(key)
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.OVERDUE
    assert result.at.timestamp() >= record.due_ts


async def test_an_invoice_paid_just_before_its_due_date_ends_paid(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    due = datetime.now(UTC) + timedelta(seconds=0.6)
    async with make_poller(client, interval=0.2) as poller:
        await poller.watch(key, due_date=due)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        await anyio.sleep(due.timestamp() - 0.05 - time.time())
        sandbox.set_status(key, "paid")
        assert datetime.now(UTC) < due
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID


async def test_an_answer_sent_before_the_due_date_is_not_the_last_check(
    sandbox: Sandbox,
) -> None:
    """The answer to a poll sent before the due date comes back after it (a slow network):
    the invoice was paid meanwhile, before its due date, so it must not end overdue."""
    (key,) = seed(sandbox, 1)
    traffic = Traffic(answer_delay_s=0.4)
    async with (
        traced_client(sandbox, traffic) as client,
        make_poller(client, interval=0.4, sweep=False) as poller,
    ):
        due = datetime.now(UTC) + timedelta(seconds=0.3)
        await poller.watch(key, due_date=due)
        await wait_until(lambda: traffic.answered[key] == 1, what="the first answer")
        sandbox.set_status(key, "paid")  # the first answer, still on its way, says open
        assert datetime.now(UTC) < due
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID
    assert traffic.gets[key] == 2  # one more GET, sent after the due date, decided


async def test_unwatch_ends_a_watch_with_reason_unwatched(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    keys = seed(sandbox, 2)
    async with make_poller(client) as poller:
        await poller.watch_many(keys)
        assert await poller.unwatch(keys[0]) is True
        assert await poller.unwatch(keys[0]) is False
        assert await poller.unwatch("never-watched") is False
        result = await poller.wait_final(keys[0])
        assert poller.watching() == [keys[1]]
    assert result.reason is FinishReason.UNWATCHED


async def test_an_invoice_that_does_not_exist_fails_its_watch_with_the_404(
    client: RequestFinanceClient,
) -> None:
    async with make_poller(client) as poller:
        await poller.watch("0" * 24)
        with anyio.fail_after(5):
            result = await poller.wait_final("0" * 24)
    assert result.reason is FinishReason.FAILED
    assert isinstance(result.error, NotFoundError)


async def test_a_refused_api_key_fails_the_watch_with_the_401(sandbox: Sandbox) -> None:
    (key,) = seed(sandbox, 1)
    async with (
        open_client(sandbox, key="not-a-valid-key") as client,
        make_poller(client) as poller,
    ):
        await poller.watch(key)
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.FAILED
    assert isinstance(result.error, AuthenticationError)
    assert result.error.status_code == 401


async def test_a_refused_organization_fails_the_watch_with_the_403(sandbox: Sandbox) -> None:
    (key,) = seed(sandbox, 1)
    async with (
        open_client(sandbox, organization=foreign_organization(sandbox)) as client,
        make_poller(client) as poller,
    ):
        await poller.watch(key)
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.FAILED
    assert isinstance(result.error, PermissionDeniedError)
    assert result.error.status_code == 403


async def test_5xx_429_and_dropped_connections_are_retried_and_never_end_a_watch() -> None:
    chaos = ChaosConfig(rate=0.3, kinds={"500": 1, "503": 1, "429": 1, "drop": 1}, retry_after_s=0)
    async with Sandbox(fast_config(chaos=chaos, seed=11)) as sandbox:
        keys = seed(sandbox, 10)
        recorder = Recorder()
        async with open_client(sandbox) as client:
            poller = make_poller(
                client,
                max_interval=0.3,
                on_change=recorder.on_change,
                on_finish=recorder.on_finish,
            )
            async with poller:
                await poller.watch_many(keys)
                await wait_until(lambda: poller.status_counts() == {"open": 10}, what="first reads")
                for key in keys:
                    sandbox.set_status(key, "paid")
                with anyio.fail_after(10):
                    await poller.drain()
                stats = poller.stats()
    assert recorder.reasons() == dict.fromkeys(keys, "paid")
    assert stats.errors > 0
    assert stats.rate_limited > 0
    assert_consistent(recorder.changes)


async def test_a_long_outage_backs_off_and_the_watch_goes_on_afterwards(
    sandbox: Sandbox,
) -> None:
    (key,) = seed(sandbox, 1)
    traffic = Traffic()
    async with (
        traced_client(sandbox, traffic) as client,
        make_poller(client, interval=0.1, sweep=False) as poller,
    ):
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        traffic.failing = True
        first_failure = traffic.gets[key]
        await wait_until(lambda: poller.stats().errors >= 4, what="four failed polls")
        assert poller.watching() == [key]
        sandbox.set_status(key, "paid")
        traffic.failing = False
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
    assert result.reason is FinishReason.PAID
    failed = traffic.sent_at[key][first_failure:]
    gaps = [after - before for before, after in itertools.pairwise(failed)]
    # Exponential backoff with full jitter: after 1 failure 0.05-0.1 s, after 3 at least 0.2 s.
    assert gaps[2] > gaps[0]
    assert gaps[2] >= 0.2


async def test_without_a_paid_grace_paid_ends_the_watch_at_once(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    async with make_poller(client) as poller:
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
        assert poller.watching() == []
    assert result.reason is FinishReason.PAID


async def test_with_a_paid_grace_a_reverted_payment_is_reported_and_watched_on(
    sandbox: Sandbox, client: RequestFinanceClient
) -> None:
    (key,) = seed(sandbox, 1)
    recorder = Recorder()
    async with make_poller(client, paid_grace_s=1.0, on_change=recorder.on_change) as poller:
        await poller.watch(key)
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="first read")
        sandbox.set_status(key, "paid")
        await wait_until(lambda: poller.status_counts() == {"paid": 1}, what="paid seen")
        assert poller.watching() == [key]  # within the grace: still watched
        sandbox.set_status(key, "open")  # the payment is reverted
        await wait_until(lambda: poller.status_counts() == {"open": 1}, what="reversal seen")
        assert poller.watching() == [key]
        paid_again = time.monotonic()
        sandbox.set_status(key, "paid")
        with anyio.fail_after(5):
            result = await poller.wait_final(key)
        held = time.monotonic() - paid_again
    assert result.reason is FinishReason.PAID
    assert held >= 1.0  # it ended only once the grace had passed
    steps = [(c.old_status, c.new_status) for c in recorder.changes]
    assert steps == [
        (InvoiceStatus.OPEN, InvoiceStatus.PAID),
        (InvoiceStatus.PAID, InvoiceStatus.OPEN),
        (InvoiceStatus.OPEN, InvoiceStatus.PAID),
    ]
    assert [c.final for c in recorder.changes] == [False, False, False]
