"""A client-side pacer fed by the server's ``X-Rate-Limit-*`` headers.

The API answers every call with ``X-Rate-Limit-Limit`` (calls per window),
``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset`` (seconds until the window
resets). Every caller of one client goes through one ``RateLimiter``: while
plenty of budget is left, calls pass at once; once what is left falls below
``pace_below`` (a share of the limit) the remaining calls are spread evenly
over the time left in the window, so the budget lasts until the reset instead
of running into 429s. A 429's ``Retry-After`` pauses every caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import overload

import anyio

__all__ = ["RateLimiter", "RateLimitState"]

DEFAULT_PACE_BELOW = 0.2
DEFAULT_RESERVE = 1


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What the client knows of its budget: the window's limit, calls left, seconds to reset."""

    limit: int | None
    remaining: int | None
    reset_in_s: float | None
    paused_for_s: float

    @property
    def known(self) -> bool:
        return self.limit is not None and self.remaining is not None


@overload
def _header_number(headers: Mapping[str, str], name: str) -> int | None: ...
@overload
def _header_number(headers: Mapping[str, str], name: str, *, whole: bool) -> float | None: ...
def _header_number(headers: Mapping[str, str], name: str, *, whole: bool = True) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value) if whole else value


class RateLimiter:
    """Paces the callers of one client within the budget the server advertises.

    ::

        limiter = RateLimiter()
        await limiter.acquire()          # before each call
        limiter.update(response.headers) # after each answer
    """

    def __init__(
        self,
        *,
        pace_below: float = DEFAULT_PACE_BELOW,
        reserve: int = DEFAULT_RESERVE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= pace_below <= 1.0:
            raise ValueError(f"pace_below must be within [0, 1], got {pace_below}")
        if reserve < 0:
            raise ValueError(f"reserve must not be negative, got {reserve}")
        self._pace_below = pace_below
        self._reserve = reserve
        self._clock = clock
        self._limit: int | None = None
        self._remaining: int | None = None  # the server's count, minus calls sent since
        self._reset_at: float | None = None
        self._paused_until = 0.0
        self._next_slot = 0.0
        self._in_flight = 0
        self._learned = False  # an answer has come: we know whether a budget is advertised
        self._changed = anyio.Event()  # set when a call ends or an answer teaches something
        self._waiting = 0

    # -- state -------------------------------------------------------------
    def state(self) -> RateLimitState:
        now = self._clock()
        self._roll_window(now)
        return RateLimitState(
            limit=self._limit,
            remaining=self._remaining,
            reset_in_s=None if self._reset_at is None else max(0.0, self._reset_at - now),
            paused_for_s=max(0.0, self._paused_until - now),
        )

    def _roll_window(self, now: float) -> None:
        # Past the advertised reset the budget is presumed whole again and is
        # counted down as usual, until an answer brings the new window's figures.
        if self._reset_at is not None and now >= self._reset_at:
            self._remaining = self._limit
            self._reset_at = None
            self._next_slot = 0.0

    # -- callers -----------------------------------------------------------
    async def acquire(self) -> None:
        """Wait until one more call fits the budget, then count it as sent."""
        while True:
            now = self._clock()
            if self._paused_until > now:
                await anyio.sleep(self._paused_until - now)
                continue
            self._roll_window(now)
            if not self._learned:
                # Before the first answer the budget is unknown: probe with one call
                # at a time rather than sending a burst the server may refuse.
                if self._in_flight == 0:
                    break
                await self._wait_for_change()
                continue
            if self._remaining is None or self._limit is None:
                break  # the server advertises no budget: nothing to pace by
            available = self._remaining - self._reserve
            if available <= 0:
                if self._reset_at is not None:
                    await anyio.sleep(max(self._reset_at - now, 0.001))
                elif self._in_flight == 0:
                    break  # presumed budget spent, reset unknown: one probe at a time
                else:
                    await self._wait_for_change()
                continue
            if self._reset_at is not None and available <= self._limit * self._pace_below:
                # Spread what is left evenly over what is left of the window.
                spacing = (self._reset_at - now) / available
                slot = max(now, self._next_slot)
                self._next_slot = slot + spacing
                self._remaining -= 1
                self._in_flight += 1
                if slot > now:
                    try:
                        await anyio.sleep(slot - now)
                    except BaseException:
                        self.release()
                        raise
                return
            self._remaining -= 1
            break
        self._in_flight += 1

    async def _wait_for_change(self) -> None:
        self._waiting += 1
        try:
            await self._changed.wait()
        finally:
            self._waiting -= 1

    def _signal(self) -> None:
        # Only when someone waits: a fresh Event per answer would tax the hot path.
        if self._waiting:
            changed, self._changed = self._changed, anyio.Event()
            changed.set()

    def release(self) -> None:
        """The call ended (answered or failed); it no longer counts as in flight."""
        if self._in_flight > 0:
            self._in_flight -= 1
        self._signal()

    def update(self, headers: Mapping[str, str]) -> None:
        """Learn the budget from an answer's ``X-Rate-Limit-*`` headers."""
        limit = _header_number(headers, "X-Rate-Limit-Limit")
        remaining = _header_number(headers, "X-Rate-Limit-Remaining")
        reset_s = _header_number(headers, "X-Rate-Limit-Reset", whole=False)
        self._learned = True
        self._signal()
        if remaining is None:
            return
        now = self._clock()
        if limit is not None:
            self._limit = limit
        elif self._limit is None:
            self._limit = remaining
        # Calls still in flight have been counted by us but maybe not yet by the server.
        others = max(0, self._in_flight - 1)
        server_view = max(0, remaining - others)
        new_reset = now + reset_s if reset_s is not None else None
        new_window = (
            self._remaining is None
            or self._reset_at is None
            or (new_reset is not None and new_reset > self._reset_at + 1.0)
        )
        if new_window:
            self._remaining = server_view
            self._next_slot = 0.0
        else:
            assert self._remaining is not None
            self._remaining = min(self._remaining, server_view)
        if new_reset is not None:
            self._reset_at = new_reset

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 429's ``Retry-After``).

        The budget itself is left alone: a 429 may come from a stricter limit of
        one endpoint or a passing fault, and the next answer's headers say what
        is really left.
        """
        if seconds <= 0 or math.isnan(seconds):
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)
