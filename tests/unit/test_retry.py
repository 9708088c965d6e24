"""The retry policy in isolation: Retry-After parsing, full-jitter backoff, what may be retried."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from reqfin_async import RequestOptions, RetryPolicy, Timeout
from reqfin_async._http.options import UNSET
from reqfin_async._http.retry import (
    RETRYABLE_STATUSES,
    Safety,
    backoff_delay,
    is_retryable,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)


# -- Retry-After ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 0.25 ", 0.25),
        ("0", 0.0),
        ("-5", 0.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Fri, 14 Mar 2025 12:00:30 GMT", 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        ("nan", None),
        (None, None),
    ],
)
def test_parse_retry_after_reads_seconds_and_http_dates(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, now=NOW) == expected


# -- backoff ------------------------------------------------------------------------------
def test_backoff_is_full_jitter_within_an_exponential_ceiling() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_cap_s=8.0)
    rng = random.Random(1234)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (12, 8.0)]:
        delays = [backoff_delay(policy, attempt, rng) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter: the whole range is used, from near zero to near the ceiling.
        assert min(delays) < 0.05 * ceiling
        assert max(delays) > 0.95 * ceiling


def test_backoff_is_reproducible_with_a_seeded_random() -> None:
    policy = RetryPolicy(backoff_base_s=0.1, backoff_cap_s=1.0)
    first = [backoff_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    second = [backoff_delay(policy, n, random.Random(7)) for n in range(1, 6)]
    assert first == second


def test_a_zero_base_means_no_wait() -> None:
    policy = RetryPolicy(backoff_base_s=0.0)
    assert backoff_delay(policy, 3, random.Random(0)) == 0.0


def test_retry_delay_stops_at_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_base_s=0.1)
    rng = random.Random(0)
    assert retry_delay(policy, 1, None, rng) is not None
    assert retry_delay(policy, 2, None, rng) is not None
    assert retry_delay(policy, 3, None, rng) is None
    assert retry_delay(RetryPolicy.none(), 1, None, rng) is None


def test_retry_delay_honours_retry_after_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base_s=0.5, retry_after_cap_s=60.0)
    rng = random.Random(3)
    for _ in range(100):
        delay = retry_delay(policy, 1, 12.0, rng)
        assert delay is not None
        assert 12.0 <= delay <= 12.5  # at least what the server asked, a little jitter on top
    assert retry_delay(policy, 1, 60.0, rng) is not None
    assert retry_delay(policy, 1, 60.5, rng) is None  # too long to wait inside one call


# -- what may be retried -----------------------------------------------------------------
@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
def test_idempotent_requests_retry_every_transient_status(status: int) -> None:
    assert is_retryable(status, Safety.IDEMPOTENT, None)


def test_the_transient_statuses_are_exactly_these() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRYABLE_STATUSES


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_nothing_else_is_retried(status: int) -> None:
    assert not is_retryable(status, Safety.IDEMPOTENT, None)
    assert not is_retryable(status, Safety.UNSAFE, 5.0)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, 1.0, True),
        (503, 1.0, True),
        (429, None, False),
        (503, None, False),
        (500, 1.0, False),
        (502, 1.0, False),
        (504, 1.0, False),
        (408, 1.0, False),
    ],
)
def test_unsafe_requests_retry_only_when_told_when_to_return(
    status: int, retry_after: float | None, expected: bool
) -> None:
    assert is_retryable(status, Safety.UNSAFE, retry_after) is expected


# -- the option objects ------------------------------------------------------------------
def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="must not be negative"):
        RetryPolicy(backoff_base_s=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        RetryPolicy.coerce(-1)


def test_retry_policy_coerces_a_number_of_retries() -> None:
    assert RetryPolicy.coerce(0).max_attempts == 1
    assert RetryPolicy.coerce(4).max_attempts == 5
    policy = RetryPolicy(max_attempts=2)
    assert RetryPolicy.coerce(policy) is policy


def test_timeout_coerces_seconds_none_and_itself() -> None:
    assert Timeout.coerce(5) == Timeout(connect_s=5.0, total_s=5.0)
    assert Timeout.coerce(60) == Timeout(connect_s=10.0, total_s=60.0)
    assert Timeout.coerce(None) == Timeout(connect_s=None, total_s=None)
    timeout = Timeout(connect_s=1, total_s=2)
    assert Timeout.coerce(timeout) is timeout
    with pytest.raises(ValueError, match="total_s must be positive"):
        Timeout(total_s=0)


def test_timeout_maps_to_aiohttp_socket_connect_and_total() -> None:
    # sock_connect bounds connecting a socket; aiohttp's `connect` would also bound
    # the wait for a pooled connection, and cost a timer on every request.
    assert Timeout(connect_s=3, total_s=15).to_aiohttp() == aiohttp.ClientTimeout(
        total=15, sock_connect=3
    )


def test_request_options_replace_only_what_is_given() -> None:
    base = RequestOptions(timeout=Timeout(total_s=9), retry=RetryPolicy(max_attempts=2))
    base = base.replace(organization="org-1")
    assert base.organization == "org-1"
    changed = base.replace(timeout=1.5, retry=0)
    assert changed.timeout.total_s == 1.5
    assert changed.retry.max_attempts == 1
    assert changed.organization == "org-1"
    assert base.replace(organization=None).organization is None
    assert base.replace(timeout=UNSET, retry=UNSET, organization=UNSET) == base
