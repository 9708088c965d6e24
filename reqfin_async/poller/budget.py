"""The poller's rate budget: how many requests per second it may send, and to what.

The API allows so many calls per window and per credential (5000 an hour
with an API key, 15000 for OAuth apps). At those budgets what users feel is
how long a payment goes unnoticed, so the poller meters its requests and
spends them where they buy the most:

1. ``CONFIRM`` — a GET confirming a change a sweep or a webhook reported;
2. ``DUE`` — the last check of an invoice whose due date has passed;
3. ``SWEEP`` and ``POLL`` — pages of ``GET /invoices`` and single GETs, shared
   by weight (the planner sets the weights to minimize the mean lag).

The rate is ``remaining ÷ seconds to reset`` from the client's
``X-Rate-Limit-*`` knowledge — the budget left is spread evenly over what is
left of the window, so it lasts exactly until the reset and adapts to other
callers of the same client — or a fixed ``Budget`` when one is given. Until
the server has told anything, nothing is metered (the client's rate limiter
probes with one call at a time).
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from .._http.ratelimit import RateLimiter

__all__ = ["RequestKind", "Budget", "BudgetGate", "PRIORITY_KINDS"]

# Unspent tokens may pile up to this share of a window's budget: a burst that
# short runs (a test, a first sweep) use at once. It never exceeds the budget
# itself — tokens accrue at remaining ÷ time left, and are capped by what the
# server says remains.
DEFAULT_BURST_SHARE = 0.1
_MIN_WINDOW_LEFT_S = 0.5


class RequestKind(enum.StrEnum):
    """What a poller request is for."""

    CONFIRM = "confirm"
    DUE = "due"
    SWEEP = "sweep"
    POLL = "poll"


PRIORITY_KINDS = (RequestKind.CONFIRM, RequestKind.DUE)


@dataclass(frozen=True, slots=True)
class Budget:
    """A fixed budget: ``calls`` per ``window_s`` seconds.

    ::

        StatusPoller(client, budget=Budget.per_hour(5000))
    """

    calls: int
    window_s: float

    def __post_init__(self) -> None:
        if self.calls < 1 or self.window_s <= 0:
            raise ValueError("a budget needs at least one call in a positive window")

    @classmethod
    def per_hour(cls, calls: int) -> Budget:
        return cls(calls=calls, window_s=3600.0)

    @property
    def rate(self) -> float:
        return self.calls / self.window_s


class _Waiter:
    __slots__ = ("kind",)

    def __init__(self, kind: Callable[[], RequestKind]) -> None:
        self.kind = kind


class BudgetGate:
    """A token bucket at the planned rate, serving waiters by kind.

    ::

        await gate.acquire(lambda: RequestKind.POLL)   # returns when a request may go
    """

    def __init__(
        self,
        *,
        limiter: RateLimiter | None,
        budget: Budget | None = None,
        share: float = 1.0,
        burst_share: float = DEFAULT_BURST_SHARE,
        shared_reserve: Callable[[], Awaitable[tuple[bool, float]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("the budget share must be within (0, 1]")
        if not 0 <= burst_share <= 1:
            raise ValueError("the burst share must be within [0, 1]")
        self._limiter = limiter
        self._budget = budget
        self._share = share
        self._burst_share = burst_share
        self._clock = clock
        self._shared_reserve = shared_reserve
        self._tokens: float | None = None  # full at the first metered request
        self._refilled_at = clock()
        self._waiters: list[_Waiter] = []
        self._changed = anyio.Event()
        self.weights: dict[RequestKind, float] = {RequestKind.SWEEP: 1.0, RequestKind.POLL: 1.0}
        self.spent: Counter[RequestKind] = Counter()
        self.started_at = clock()

    # -- the rate ------------------------------------------------------------------
    def rate(self) -> float | None:
        """Requests per second the poller may send now; ``None`` when not metered."""
        metering = self._metering()
        return metering[0] if metering is not None else None

    def _metering(self) -> tuple[float, float] | None:
        """``(rate, bucket capacity)`` now, from one look at the limiter; ``None``
        when not metered."""
        if self._budget is not None:
            calls = self._budget.calls * self._share
            return self._budget.rate * self._share, max(1.0, calls * self._burst_share)
        if self._limiter is None:
            return None
        state = self._limiter.state()
        if state.limit is None or state.remaining is None or state.reset_in_s is None:
            return None
        # What the poller leaves to the application's other calls in this window.
        kept = (1.0 - self._share) * state.limit
        left = max(0.0, state.remaining - kept - 1)
        seconds = max(state.reset_in_s, _MIN_WINDOW_LEFT_S)
        capacity = min(max(1.0, state.limit * self._share * self._burst_share), max(1.0, left))
        # Nothing left: one request when the window turns (the limiter waits for it).
        return max(left, 1.0) / seconds, capacity

    @property
    def metered(self) -> bool:
        return self.rate() is not None

    # -- waiting for a token -----------------------------------------------------------
    def _refill(self, rate: float, capacity: float) -> float:
        now = self._clock()
        if self._tokens is None:
            self._tokens = capacity
        else:
            self._tokens = min(capacity, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        return self._tokens

    def _choose(self) -> _Waiter | None:
        """Who gets the next token: CONFIRM, then DUE, then SWEEP/POLL by weighted share."""
        best: _Waiter | None = None
        best_rank: tuple[int, float] | None = None
        for waiter in self._waiters:
            kind = waiter.kind()
            if kind in PRIORITY_KINDS:
                rank = (PRIORITY_KINDS.index(kind), 0.0)
            else:
                # Deficit round robin: the kind furthest below its share goes first.
                rank = (
                    len(PRIORITY_KINDS),
                    self.spent[kind] / max(self.weights.get(kind, 1.0), 1e-9),
                )
            if best_rank is None or rank < best_rank:
                best, best_rank = waiter, rank
        return best

    def _signal(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def acquire(self, kind: Callable[[], RequestKind]) -> RequestKind:
        """Wait for a token; returns the kind the request is counted as.

        ``kind`` is asked again when the token is granted, so a waiter whose
        best work changed meanwhile (a confirmation arrived) is served as such.
        """
        metering = self._metering()
        if metering is None and self._shared_reserve is None:
            granted = kind()
            self.spent[granted] += 1
            return granted
        waiter = _Waiter(kind)
        self._waiters.append(waiter)
        try:
            while True:
                if self._shared_reserve is not None:
                    if await self._shared_turn(waiter):
                        break
                    metering = self._metering()  # the store was asked: time went by
                if metering is None:
                    break
                rate, capacity = metering
                tokens = self._refill(rate, capacity)
                changed = self._changed
                if tokens >= 1.0:
                    if self._choose() is waiter:
                        self._tokens = tokens - 1.0
                        break
                    await changed.wait()  # the chosen one takes it, then signals
                else:
                    with anyio.move_on_after((1.0 - tokens) / rate):
                        await changed.wait()
                metering = self._metering()
        finally:
            self._waiters.remove(waiter)
            if self._waiters:  # no one else waits: a fresh Event would go unused
                self._signal()
        granted = kind()
        self.spent[granted] += 1
        return granted

    async def _shared_turn(self, waiter: _Waiter) -> bool:
        """Reserve a call of the fleet's budget for ``waiter``; False to meter locally.

        The budget is the credential's, shared by every poller of a fleet: the
        store spreads it over the window for all of them. Local priorities still
        decide who asks first. Unreachable store: the local bucket meters meanwhile.
        """
        assert self._shared_reserve is not None
        while True:
            if self._choose() is not waiter:
                changed = self._changed
                await changed.wait()
                continue
            try:
                granted, wait = await self._shared_reserve()
            except (ConnectionError, OSError):
                return False
            if wait > 0:
                await anyio.sleep(wait)
            if granted:
                return True

    # -- what was spent ---------------------------------------------------------------------
    def per_hour(self) -> dict[str, float]:
        """Requests per hour spent so far, by kind."""
        elapsed = max(self._clock() - self.started_at, 1e-6)
        return {
            kind.value: round(count * 3600.0 / elapsed, 1) for kind, count in self.spent.items()
        }
