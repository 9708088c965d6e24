"""Which failures are retried, and how long to wait before the next attempt."""

from __future__ import annotations

import enum
import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from .options import RetryPolicy

__all__ = ["Safety", "RETRYABLE_STATUSES", "parse_retry_after", "backoff_delay", "retry_delay"]

# Statuses worth another attempt when the request is safe to repeat.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Safety(enum.Enum):
    """How freely a request may be sent again after a failure."""

    #: GET, PUT, DELETE: repeating changes nothing, so every transient failure is retried.
    IDEMPOTENT = "idempotent"
    #: POST: retried only when the server cannot have acted on it — the connection
    #: was refused, or a 429/503 said when to come back.
    UNSAFE = "unsafe"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    ``parse_retry_after("2") == 2.0``; an HTTP date in the past gives ``0.0``; an
    unreadable value gives ``None``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # NaN and infinity ("1e999") are not a delay anyone can wait for.
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff after the ``attempt``-th failure (1-based)."""
    ceiling = min(policy.backoff_cap_s, policy.backoff_base_s * (2 ** (attempt - 1)))
    return rng.uniform(0.0, ceiling)


def retry_delay(
    policy: RetryPolicy, attempt: int, retry_after_s: float | None, rng: random.Random
) -> float | None:
    """The wait before the next attempt, or ``None`` when no further attempt should be made."""
    if attempt >= policy.max_attempts:
        return None
    if retry_after_s is not None:
        if retry_after_s > policy.retry_after_cap_s:
            return None
        # A little jitter on top, so that callers told the same instant don't return together.
        return retry_after_s + rng.uniform(0.0, min(1.0, policy.backoff_base_s))
    return backoff_delay(policy, attempt, rng)


def is_retryable(status: int, safety: Safety, retry_after_s: float | None) -> bool:
    """Whether an answer with ``status`` may be retried for a request of this ``safety``."""
    if status not in RETRYABLE_STATUSES:
        return False
    if safety is Safety.IDEMPOTENT:
        return True
    # An unsafe request is repeated only when the server says it did not act and when to return.
    return status in (429, 503) and retry_after_s is not None
