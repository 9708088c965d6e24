"""One watched invoice, and the table that decides what an answer means for it.

A ``Watch`` is a small slotted object — the poller holds a hundred thousand of
them — with no task of its own. The stop rule is a table of acceptors, as in
boto's waiters: a status or an error maps to "go on", "retry later" or
"finish with this reason".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    RateLimitError,
    RequestFinanceError,
)
from ..models.invoice import InvoiceStatus
from .events import FinishReason

__all__ = ["Watch", "Outcome", "Verdict", "STATUS_ACCEPTORS", "judge_status", "judge_error"]


class Watch:
    """The poller's state for one invoice: ~100 bytes plus its id."""

    __slots__ = ("changed_at", "created_at", "due_at", "failures", "flags", "key", "status", "tick")

    # flags
    IN_FLIGHT = 1  # handed to a worker, polled now
    SWEEPABLE = 2  # a sweep of GET /invoices has seen it
    UNSWEEPABLE = 4  # a sweep that should have seen it did not
    KNOWN = 8  # its status has been read at least once
    CONFIRM = 16  # a sweep or a push reported a change: the next poll confirms it
    FINISHED = 32
    QUEUED = 64  # off the wheel, in a ready queue, waiting for a token and a worker
    DUE_CHECK = 128  # its scheduled poll is the last check after the due date

    def __init__(self, key: str, due_at: float | None, now: float) -> None:
        self.key = key
        self.status: InvoiceStatus | None = None
        self.due_at = due_at
        self.changed_at = now
        self.created_at: float | None = None
        self.tick = -1
        self.failures = 0
        self.flags = 0

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def __repr__(self) -> str:
        status = self.status.value if self.status is not None else None
        return f"Watch({self.key!r}, status={status!r}, flags={self.flags})"


class Outcome(enum.Enum):
    """What an answer means for a watch."""

    CONTINUE = "continue"  # poll again at the next interval
    RETRY = "retry"  # a transient failure: poll again after a backoff
    FINISH = "finish"  # the watch is over (``Verdict.reason`` says why)


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: FinishReason | None = None


CONTINUE = Verdict(Outcome.CONTINUE)
RETRY = Verdict(Outcome.RETRY)

# Final statuses end the watch; every other one (declaredPaid, accepted,
# pending, open, scheduled, an unknown new one) means "keep watching".
STATUS_ACCEPTORS: Mapping[InvoiceStatus, Verdict] = MappingProxyType(
    {
        InvoiceStatus.PAID: Verdict(Outcome.FINISH, FinishReason.PAID),
        InvoiceStatus.REJECTED: Verdict(Outcome.FINISH, FinishReason.REJECTED),
        InvoiceStatus.CANCELED: Verdict(Outcome.FINISH, FinishReason.CANCELED),
    }
)

_FAILED = Verdict(Outcome.FINISH, FinishReason.FAILED)


def judge_status(status: InvoiceStatus | None) -> Verdict:
    """The verdict for an invoice read with ``status``."""
    if status is None:
        return CONTINUE
    return STATUS_ACCEPTORS.get(status, CONTINUE)


def judge_error(error: RequestFinanceError) -> Verdict:
    """The verdict for a failed poll: transient failures retry, permanent ones fail the watch."""
    if isinstance(error, RateLimitError):
        return RETRY
    if isinstance(error, APIStatusError):
        status = error.status_code
        if status >= 500 or status in (408, 425):
            return RETRY
        # 404: the invoice is gone; 401/403: refused even after a token refresh;
        # any other 4xx on a GET will not heal by asking again.
        return _FAILED
    if isinstance(error, APIConnectionError | APIResponseValidationError):
        return RETRY
    return _FAILED
