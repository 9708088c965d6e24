"""Bounds on what a server can make the client wait, and what a closed client raises.

Covers an unreadable or endless ``Retry-After``, a 429 asking for an hour, a
paced caller cancelled before its slot, the budget discounted by the calls
still in flight, a client closed during a backoff, refused connections and the
token endpoint's retries.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import anyio
import pytest
from aiohttp import web

from reqfin_async import (
    APIConnectionError,
    ApiKeyAuth,
    ClientCredentialsAuth,
    RateLimiter,
    RateLimitError,
    RequestFinanceClient,
    RetryPolicy,
)
from reqfin_async._http.retry import parse_retry_after
from reqfin_async.errors import ClientClosedError
from tests.fakeapi import (
    FAST_RETRY,
    FakeAPI,
    client_for,
    drop_connection,
    free_port,
    invoice_json,
    param,
    reply,
    token_reply,
)

INVOICE = invoice_json("inv-1")
LOGGER = "reqfin_async"


def _sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replace ``anyio.sleep`` by a recorder that does not wait."""
    asked: list[float] = []

    async def fake_sleep(delay: float) -> None:
        asked.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    return asked


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith(LOGGER) and getattr(r, "event_name", None) == name
    ]


def _field(record: logging.LogRecord, name: str) -> Any:
    return record.__dict__[name]


def _budget(limit: int, remaining: int, reset_s: int) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(reset_s),
    }


# -- Retry-After that no one can wait for --------------------------------------------------
@pytest.mark.parametrize("value", ["inf", "1e999", "nan", "Infinity", "-nan"])
def test_retry_after_that_is_not_a_finite_number_is_unreadable(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_in_ordinary_seconds_is_still_read() -> None:
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0


@pytest.mark.parametrize("seconds", [math.inf, math.nan, 0.0, -1.0])
async def test_a_pause_without_a_finite_positive_length_is_ignored(seconds: float) -> None:
    limiter = RateLimiter()
    limiter.pause(seconds)
    assert limiter.state().paused_for_s == 0.0
    with anyio.fail_after(1):
        await limiter.acquire()  # not held
    limiter.release()


async def test_an_endless_retry_after_on_a_429_does_not_freeze_the_client(
    fake_api: FakeAPI,
) -> None:
    fake_api.add(
        "GET", "/invoices/{id}", reply(429, headers={"Retry-After": "1e999"}), reply(INVOICE)
    )
    async with client_for(fake_api) as client:
        async with asyncio.timeout(2):
            # Unreadable, so the 429 is retried with the usual backoff.
            invoice = await client.invoices.get("inv-1")
        assert client.rate_limit.paused_for_s == 0.0
    assert invoice.id == "inv-1"
    assert len(fake_api.requests) == 2


# -- a 429 asking for an hour ---------------------------------------------------------------
async def test_a_429_asking_for_an_hour_pauses_the_client_at_most_the_retry_after_cap(
    fake_api: FakeAPI,
) -> None:
    cap_s = 0.2
    fake_api.add(
        "GET", "/invoices/{id}", reply(429, headers={"Retry-After": "3600"}), reply(INVOICE)
    )
    retry = RetryPolicy(
        max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05, retry_after_cap_s=cap_s
    )
    async with client_for(fake_api, retry=retry) as client:
        async with asyncio.timeout(2):
            with pytest.raises(RateLimitError) as info:
                await client.invoices.get("inv-1")
            assert info.value.retry_after == 3600.0
            paused_for_s = client.rate_limit.paused_for_s
            assert 0.0 < paused_for_s <= cap_s
            # The next call waits out the short pause, not the hour.
            invoice = await client.invoices.get("inv-1")
    assert invoice.id == "inv-1"
    assert len(fake_api.requests) == 2


# -- a paced caller cancelled before its slot ---------------------------------------------
async def test_paced_callers_cancelled_before_their_slot_give_their_budget_back() -> None:
    limiter = RateLimiter()
    # 19 usable calls of 100 over ten minutes: paced, about 30 s apart.
    limiter.update(_budget(100, 20, 600))
    await limiter.acquire()  # the first slot is now; the next ones are far off
    limiter.release()
    before = limiter.state().remaining
    assert before == 19

    async def impatient() -> bool:
        with anyio.move_on_after(0.05) as scope:
            await limiter.acquire()
            limiter.release()
        return scope.cancelled_caught

    cancelled = await asyncio.gather(*(impatient() for _ in range(5)))
    assert cancelled == [True] * 5  # every one of them was waiting for its slot
    assert limiter.state().remaining == before
    assert limiter._in_flight == 0


async def test_a_cancelled_paced_caller_frees_its_slot_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    asked: list[float] = []
    hold = [True]
    sleeping = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        asked.append(seconds)
        sleeping.set()
        if hold[0]:
            await asyncio.Event().wait()  # until cancelled
        now[0] += seconds

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    limiter = RateLimiter(clock=lambda: now[0])
    limiter.update(_budget(100, 20, 600))
    await limiter.acquire()
    limiter.release()
    first_spacing = 600 / 19
    waiting = asyncio.create_task(limiter.acquire())
    await sleeping.wait()
    assert asked == [pytest.approx(first_spacing)]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    hold[0] = False
    await limiter.acquire()
    limiter.release()
    # The slot the cancelled caller held, not the one after it.
    assert asked[-1] == pytest.approx(first_spacing)
    assert limiter.state().remaining == 18


# -- the budget of an answer, with other calls in flight ----------------------------------
async def test_an_answer_is_discounted_by_the_other_calls_still_in_flight(
    fake_api: FakeAPI,
) -> None:
    slow_arrived = asyncio.Event()
    let_slow_answer = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        which = param(request, "id")
        if which == "warm":
            return web.json_response(invoice_json(which), headers=_budget(100, 100, 60))
        if which == "slow":
            slow_arrived.set()
            await let_slow_answer.wait()
            return web.json_response(invoice_json(which))
        return web.json_response(invoice_json(which), headers=_budget(100, 50, 60))

    fake_api.add("GET", "/invoices/{id}", handler)
    # Every answer read: this budget is plentiful, where answers are sampled.
    limiter = RateLimiter(learn_every=1)
    async with client_for(fake_api, rate_limit=limiter) as client:
        async with asyncio.timeout(2):
            await client.invoices.get("warm")
            assert client.rate_limit.remaining == 100
            slow = asyncio.create_task(client.invoices.get("slow"))
            await slow_arrived.wait()
            await client.invoices.get("fast")
            # The slow call is counted by us, maybe not yet by the server: 50 - 1.
            assert client.rate_limit.remaining == 49
            let_slow_answer.set()
            await slow


# -- a client closed during a backoff -----------------------------------------------------
async def test_a_client_closed_during_a_backoff_raises_client_closed_error(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.add("GET", "/invoices/{id}", reply(503), reply(INVOICE))
    in_backoff = asyncio.Event()
    closed = asyncio.Event()

    async def backoff(delay: float) -> None:
        in_backoff.set()
        await closed.wait()

    monkeypatch.setattr(anyio, "sleep", backoff)
    client = client_for(fake_api)
    try:
        async with asyncio.timeout(2):
            await client.__aenter__()
            call = asyncio.create_task(client.invoices.get("inv-1"))
            await in_backoff.wait()
            await client.aclose()
            closed.set()
            with pytest.raises(ClientClosedError):
                await call
    finally:
        await client.aclose()
    assert len(fake_api.requests) == 1


# -- refused and dropped connections ------------------------------------------------------
async def test_a_refused_connection_is_retried_with_backoff_and_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    sleeps = _sleeps(monkeypatch)
    client = RequestFinanceClient(
        ApiKeyAuth("k"), base_url=f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY, timeout=1.0
    )
    async with client:
        with pytest.raises(APIConnectionError) as info:
            await client.invoices.get("inv-1")
        assert client.stats.requests == FAST_RETRY.max_attempts
        assert client.stats.retries == FAST_RETRY.max_attempts - 1
    assert info.value.refused
    # Not the immediate resend of a dropped keep-alive connection: every retry waits.
    assert len(sleeps) == FAST_RETRY.max_attempts - 1
    assert all(0.0 <= s <= FAST_RETRY.backoff_cap_s for s in sleeps)
    retries = _events(caplog, "http_retry")
    assert [r.levelno for r in retries] == [logging.INFO] * (FAST_RETRY.max_attempts - 1)
    assert [_field(r, "attempt") for r in retries] == [1, 2]
    assert {_field(r, "reason") for r in retries} == {"APIConnectionError"}
    assert {_field(r, "status") for r in retries} == {None}


async def test_a_first_dropped_connection_is_resent_at_once_without_a_retry_event(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    sleeps = _sleeps(monkeypatch)
    fake_api.add("GET", "/invoices/{id}", drop_connection(), reply(INVOICE))
    async with client_for(fake_api) as client:
        invoice = await client.invoices.get("inv-1")
        assert client.stats.retries == 1
    assert invoice.id == "inv-1"
    assert sleeps == []
    assert _events(caplog, "http_retry") == []


# -- the token endpoint's retries ----------------------------------------------------------
async def test_a_token_request_answered_503_is_retried_counted_and_logged(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake_api.add("POST", "/oauth/token", reply(503), token_reply("access-9"))
    fake_api.add("GET", "/invoices/{id}", reply(INVOICE))
    auth = ClientCredentialsAuth(
        client_id="cid",
        client_secret="the-client-secret",
        token_url=fake_api.url + "/oauth/token",
        retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01),
    )
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
        stats = client.stats
        assert (stats.token_requests, stats.retries, stats.errors) == (2, 1, 1)
    assert len(fake_api.calls("POST", "/oauth/token")) == 2
    (retry,) = _events(caplog, "http_retry")
    assert retry.levelno == logging.INFO
    assert _field(retry, "method") == "POST"
    assert _field(retry, "status") == 503
    assert _field(retry, "attempt") == 1
    assert "the-client-secret" not in retry.getMessage()


async def test_a_429_is_read_even_while_answers_are_sampled(fake_api: FakeAPI) -> None:
    # Plenty of budget: the limiter reads one answer in eight. A 429 must be
    # read whatever its turn, or the client would go on as if all were well.
    fake_api.add(
        "GET",
        "/invoices/{id}",
        reply(INVOICE, headers=_budget(100, 100, 60)),
        reply({"message": "slow down"}, status=429, headers=_budget(100, 0, 60)),
    )
    async with client_for(fake_api, retry=RetryPolicy.none()) as client:
        await client.invoices.get("inv-1")
        with pytest.raises(RateLimitError):
            await client.invoices.get("inv-1")
        assert client.rate_limit.remaining == 0
