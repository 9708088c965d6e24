"""The client under pressure: a small rate budget, and injected faults (chaos)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from reqfin_async import Invoice, InvoiceStatus, RetryPolicy
from reqfin_async.sandbox import ChaosConfig, Sandbox, SandboxConfig
from tests.specbody import invoice_body

from .conftest import QUICK_RETRY, create_request, make_client

PATIENT_RETRY = RetryPolicy(max_attempts=12, backoff_base_s=0.01, backoff_cap_s=0.05)


async def sandbox_stats(sandbox: Sandbox) -> dict[str, object]:
    """``GET /sandbox/stats`` (the control plane: no chaos, no budget)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(sandbox.url + "/sandbox/stats") as answer,
    ):
        stats: dict[str, object] = await answer.json()
        return stats


def stored_numbers(sandbox: Sandbox) -> list[str]:
    return sorted(str(record.data["invoiceNumber"]) for record in sandbox.state.invoices("test"))


# -- rate limits --------------------------------------------------------------------------


async def test_concurrent_calls_stay_within_a_small_rate_budget() -> None:
    # 60 concurrent calls, half again the budget of one window: the client must hold
    # some back until the next window. (With 30 per 3 s the same test takes ~7 s: the
    # client keeps one call in reserve per window, so 60 calls need three windows.)
    limit, calls = 40, 60
    config = SandboxConfig(
        pending_delay_s=0.05, change_delay_s=0.05, api_key_limit=limit, rate_window_s=1.0
    )
    async with Sandbox(config) as sandbox, make_client(sandbox) as client:
        [seeded] = sandbox.seed_invoices(1)
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.invoices.get(seeded["requestId"]) for _ in range(calls))
        )
        elapsed = time.monotonic() - started
        assert [answer.id for answer in answers] == [seeded["id"]] * calls
        assert client.stats.rate_limited == 0
        assert client.stats.requests == calls  # no call needed a second attempt
        assert client.rate_limit.limit == limit  # learned from the answers' headers
        stats = await sandbox_stats(sandbox)
        assert stats["rateLimited"] == 0
        assert stats["byStatus"] == {"200": calls}
        # More than one window's budget: the client waited for the next window.
        assert elapsed >= 0.9


# -- chaos --------------------------------------------------------------------------------


async def test_every_call_succeeds_through_chaos_and_no_invoice_is_duplicated() -> None:
    chaos = ChaosConfig(rate=0.2, slow_s=0.05, retry_after_s=0)  # all kinds
    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, chaos=chaos, seed=2024)
    numbers = [f"CHAOS-{i:02d}" for i in range(30)]
    async with Sandbox(config) as sandbox, make_client(sandbox, retry=QUICK_RETRY) as client:
        for number in numbers:
            created = await client.invoices.create(invoice_body(number))
            assert created.invoice_number == number
            converted = await client.invoices.convert_to_request(created.id)
            assert converted.id == created.id
            assert converted.request_id is not None
            fetched = await client.invoices.get(converted.request_id)
            assert fetched.id == created.id
            assert fetched.invoice_number == number

        assert stored_numbers(sandbox) == numbers  # exactly once each
        assert all(record.request_id for record in sandbox.state.invoices("test"))
        listed = await client.invoices.list(take=7).collect()
        assert sorted(invoice.invoice_number or "" for invoice in listed) == numbers

        stats = await sandbox_stats(sandbox)
        faults = stats["chaos"]
        assert isinstance(faults, dict)
        assert faults.get("drop_after", 0) > 0, faults  # some answers were lost after the fact
        assert len(faults) >= 4, faults  # and most kinds of fault were met
        assert client.stats.retries > 0


@pytest.mark.parametrize("seed", [1, 7, 11])
async def test_drop_after_create_never_duplicates_the_invoice(seed: int) -> None:
    chaos = ChaosConfig(rate=0.5, kinds={"drop_after": 1})
    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, chaos=chaos, seed=seed)
    # Half the lookups are dropped too: give them enough attempts to get through.
    async with Sandbox(config) as sandbox, make_client(sandbox, retry=PATIENT_RETRY) as client:
        recovered: list[Invoice] = []
        for i in range(8):
            number = f"DROP-{i}"
            sent_before = client.stats.requests
            created = await client.invoices.create(invoice_body(number))
            [stored] = [r for r in sandbox.state.invoices("test") if r.id == created.id]
            # What create returned is the invoice the server did create.
            assert stored.data["invoiceNumber"] == number
            assert created.invoice_number == number
            if client.stats.requests - sent_before > 1:
                recovered.append(created)  # the answer was lost: found by its number
        assert stored_numbers(sandbox) == [f"DROP-{i}" for i in range(8)]
        assert recovered, "no create lost its answer: the test proved nothing"
        stats = await sandbox_stats(sandbox)
        assert stats["chaos"] == {"drop_after": stats["chaosTotal"]}


async def test_drop_after_convert_returns_the_converted_invoice() -> None:
    chaos = ChaosConfig(rate=0.5, kinds={"drop_after": 1})
    config = SandboxConfig(pending_delay_s=0.05, change_delay_s=0.05, chaos=chaos, seed=3)
    async with Sandbox(config) as sandbox, make_client(sandbox, retry=PATIENT_RETRY) as client:
        for i in range(6):
            converted = await create_request(client, invoice_body(f"CONV-{i}"))
            record = sandbox.state.find_invoice("test", converted.id)
            assert record is not None
            assert converted.request_id == record.request_id
            assert converted.status in (InvoiceStatus.PENDING, InvoiceStatus.OPEN)
        assert len(sandbox.state.invoices("test")) == 6


# A slow answer that lands after the client gave up on it. With the seed below, the
# sandbox draws: the create passes, the first POST /invoices/{id} is slowed (handled
# after SLOW_S), the look-up and the second POST pass. The client times out at
# TIMEOUT_S, looks (not yet converted), waits its backoff (seeded jitter: ~0.46 s),
# and sends again: by then the first attempt has landed.
LATE_CHAOS_SEED = 37
LATE_JITTER_SEED = 9
LATE_CREATE_SEED = 36
SLOW_S = 0.4
TIMEOUT_S = 0.2


async def test_a_convert_that_lands_late_returns_the_converted_invoice() -> None:
    chaos = ChaosConfig(rate=0.5, kinds={"slow": 1}, slow_s=SLOW_S)
    config = SandboxConfig(
        pending_delay_s=0.05, change_delay_s=0.05, chaos=chaos, seed=LATE_CHAOS_SEED
    )
    retry = RetryPolicy(max_attempts=3, backoff_base_s=1.0, backoff_cap_s=1.0)
    async with Sandbox(config) as sandbox, make_client(sandbox, retry=retry) as client:
        slow = client.with_options(timeout=TIMEOUT_S)
        client.transport.rng.seed(LATE_JITTER_SEED)
        created = await client.invoices.create(invoice_body("LATE-1"))
        converted = await slow.invoices.convert_to_request(created.id)
        record = sandbox.state.find_invoice("test", created.id)
        assert record is not None
        assert converted.request_id == record.request_id
        stats = await sandbox_stats(sandbox)
        assert stats["chaos"] == {"slow": 1}  # the scenario above did happen


async def test_a_create_that_lands_late_returns_the_created_invoice() -> None:
    # The same timing for POST /invoices: the late copy is refused (409) and looked up.
    chaos = ChaosConfig(rate=0.5, kinds={"slow": 1}, slow_s=SLOW_S)
    config = SandboxConfig(
        pending_delay_s=0.05, change_delay_s=0.05, chaos=chaos, seed=LATE_CREATE_SEED
    )
    retry = RetryPolicy(max_attempts=3, backoff_base_s=1.0, backoff_cap_s=1.0)
    async with Sandbox(config) as sandbox, make_client(sandbox, retry=retry) as client:
        client.transport.rng.seed(LATE_JITTER_SEED)
        created = await client.with_options(timeout=TIMEOUT_S).invoices.create(
            invoice_body("LATE-2")
        )
        [record] = sandbox.state.invoices("test")
        assert created.id == record.id
        stats = await sandbox_stats(sandbox)
        assert stats["chaos"] == {"slow": 1}
