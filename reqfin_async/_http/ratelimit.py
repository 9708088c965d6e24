"""A client-side pacer fed by the server's ``X-Rate-Limit-*`` headers.

The API answers every call with ``X-Rate-Limit-Limit`` (calls per window),
``X-Rate-Limit-Remaining`` and ``X-Rate-Limit-Reset`` (seconds until the window
resets). Every caller of one client goes through one ``RateLimiter``: while
plenty of budget is left, calls pass at once; once what is left falls below
``pace_below`` (a share of the limit) the remaining calls are spread evenly
over the time left in the window, so the budget lasts until the reset instead
of running into 429s. A 429's ``Retry-After`` pauses every caller.

Reading the headers costs more than the rest of the pacing together, and while
most of the budget is left one answer in ``learn_every`` says all there is to
know: the client counts its own calls down between them. Once what is left
nears the pacing threshold, or after a 429, every answer is read again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
from multidict import istr

__all__ = ["RateLimiter", "RateLimitState"]

DEFAULT_PACE_BELOW = 0.2
DEFAULT_RESERVE = 1
DEFAULT_LEARN_EVERY = 8
# "Plenty" is this many times the pacing threshold: far enough from it that a
# few unread answers cannot hide a budget someone else is spending.
_PLENTY = 2.0


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


# Case-insensitive keys made once: a lookup with istr skips lower-casing the name.
_LIMIT = istr("X-Rate-Limit-Limit")
_REMAINING = istr("X-Rate-Limit-Remaining")
_RESET = istr("X-Rate-Limit-Reset")


def _number(raw: str | None) -> float | None:
    """A header's non-negative number, or ``None`` when absent or unreadable."""
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 <= value < math.inf else None


class RateLimiter:
    """Paces the callers of one client within the budget the server advertises.

    ::

        limiter = RateLimiter()
        await limiter.acquire()            # before each call
        limiter.answered(response.headers) # after each answer (or release() if none came)
    """

    def __init__(
        self,
        *,
        pace_below: float = DEFAULT_PACE_BELOW,
        reserve: int = DEFAULT_RESERVE,
        learn_every: int = DEFAULT_LEARN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 <= pace_below <= 1.0:
            raise ValueError(f"pace_below must be within [0, 1], got {pace_below}")
        if reserve < 0:
            raise ValueError(f"reserve must not be negative, got {reserve}")
        if learn_every < 1:
            raise ValueError(f"learn_every must be at least 1, got {learn_every}")
        self._learn_every = learn_every
        self._unread = 0  # answers answered() may still pass over unread
        # Calls left above which no check is needed: twice the pacing threshold.
        self._plenty_above = math.inf
        self._pace_below = pace_below
        self._reserve = reserve
        self._clock = clock
        self._limit: int | None = None
        self._remaining: int | None = None  # the server's count, minus calls sent since
        # The reset is given in whole seconds, so each answer places it a little
        # differently: pace to the earliest estimate (spend it all by the reset),
        # presume the budget renewed only past the latest (never too early).
        self._reset_at: float | None = None
        self._roll_at: float | None = None
        self._paused_until = 0.0
        self._next_slot = 0.0
        self._in_flight = 0
        self._learned = False  # an answer has come: we know whether a budget is advertised
        self._changed = anyio.Event()  # set when a call ends or an answer teaches something
        self._waiting = 0
        self._listeners: list[Callable[[int | None, int, float | None], None]] = []
        # The last limit and reset texts seen, and what they read as.
        self._limit_text: str | None = None
        self._limit_read: int | None = None
        self._reset_text: str | None = None
        self._reset_read: float | None = None

    # -- state -------------------------------------------------------------
    def add_listener(self, listener: Callable[[int | None, int, float | None], None]) -> None:
        """Call ``listener(limit, remaining, reset_s)`` with each answer's budget headers.

        A fleet of pollers shares what each of them learns this way.
        """
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int | None, int, float | None], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

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
        if self._roll_at is not None and now >= self._roll_at:
            self._remaining = self._limit
            self._reset_at = self._roll_at = None
            self._next_slot = 0.0

    # -- callers -----------------------------------------------------------
    def try_acquire(self) -> bool:
        """Count one more call if it may go at once (the common case); else ``False``.

        The hot path of every request: no coroutine, and no clock read while
        plenty is left (a window that turned meanwhile would only add budget);
        ``acquire()`` handles every case that waits.
        """
        remaining = self._remaining
        if remaining is not None and remaining > self._plenty_above and not self._paused_until:
            self._remaining = remaining - 1
            self._in_flight += 1
            return True
        if not self._learned or self._paused_until:
            return False
        if remaining is None or self._limit is None:
            self._in_flight += 1  # the server advertises no budget
            return True
        if remaining - self._reserve <= self._limit * self._pace_below:
            return False  # low: pacing decides
        if self._roll_at is not None and self._clock() >= self._roll_at:
            return False  # the window turned: acquire() rolls it
        self._remaining = remaining - 1
        self._in_flight += 1
        return True

    async def acquire(self) -> None:
        """Wait until one more call fits the budget, then count it as sent."""
        while True:
            now = self._clock()
            if self._paused_until:
                if self._paused_until > now:
                    await anyio.sleep(self._paused_until - now)
                    continue
                self._paused_until = 0.0  # over: the fast path may serve again
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
                if self._roll_at is not None:
                    await anyio.sleep(max(self._roll_at - now, 0.001))
                elif self._in_flight == 0:
                    break  # presumed budget spent, reset unknown: one probe at a time
                else:
                    await self._wait_for_change()
                continue
            if self._reset_at is not None and available <= self._limit * self._pace_below:
                # Spread what is left evenly over what is left of the window.
                spacing = max(0.0, self._reset_at - now) / available
                slot = max(now, self._next_slot)
                self._next_slot = slot + spacing
                self._remaining -= 1
                self._in_flight += 1
                if slot > now:
                    try:
                        await anyio.sleep(slot - now)
                    except BaseException:
                        self._give_back(slot, slot + spacing)
                        raise
                return
            self._remaining -= 1
            break
        self._in_flight += 1

    def _give_back(self, slot: float, slot_end: float) -> None:
        # A paced caller cancelled before its slot came: the call was never sent,
        # so its unit of budget (and its slot, when still the newest) is free again.
        self.release()
        if self._remaining is not None:
            self._remaining += 1
            if self._limit is not None:
                self._remaining = min(self._remaining, self._limit)
        if self._next_slot == slot_end:
            self._next_slot = slot

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
        if self._waiting:  # _signal()'s test, inlined: this runs after every call
            self._signal()

    def answered(self, headers: Mapping[str, str], *, refused: bool = False) -> None:
        """A call counted by :meth:`acquire` got an answer: learn from it, then release it.

        While plenty of budget is left, only one answer in ``learn_every`` is
        read (the calls in between are counted down as they are sent). The
        first answer is always read, and so is every answer near the pacing
        threshold, during a pause, and when ``refused`` (a 429), after which the
        next ones are read too. ::

            limiter.answered(resp.headers, refused=resp.status == 429)
        """
        if self._unread and not refused:
            self._unread -= 1
        else:
            try:
                self.update(headers)
            finally:
                remaining = self._remaining
                if (
                    not refused
                    and not self._paused_until
                    and remaining is not None
                    and remaining > self._plenty_above
                ):
                    self._unread = self._learn_every - 1
                else:
                    self._unread = 0
        if self._in_flight > 0:
            self._in_flight -= 1
        if self._waiting:
            self._signal()

    def update(self, headers: Mapping[str, str]) -> None:
        """Learn the budget from an answer's ``X-Rate-Limit-*`` headers.

        Every answer given is read (:meth:`answered` passes over some). Called
        before :meth:`release` for that call: it still counts as in flight.
        """
        # On every answer, so kept lean: the limit and the reset repeat from one
        # answer to the next and are parsed only when their text changes; the
        # remaining count is an integer on the wire, read by int() first.
        raw = headers.get(_REMAINING)
        if not self._learned:
            self._learned = True
            self._signal()
        if raw is None:
            return
        try:
            remaining = int(raw)
        except ValueError:
            value = _number(raw)  # "12.0" and the like
            if value is None:
                return
            remaining = int(value)
        if remaining < 0:
            return
        raw_limit = headers.get(_LIMIT)
        if raw_limit != self._limit_text:
            self._limit_text = raw_limit
            limit_value = _number(raw_limit)
            self._limit_read = int(limit_value) if limit_value is not None else None
        limit = self._limit_read
        raw_reset = headers.get(_RESET)
        if raw_reset != self._reset_text:
            self._reset_text = raw_reset
            self._reset_read = _number(raw_reset)
        reset_s = self._reset_read
        for listener in self._listeners:
            listener(limit, remaining, reset_s)
        if limit is not None or self._limit is None:
            self._limit = limit if limit is not None else remaining
            self._plenty_above = self._reserve + _PLENTY * self._limit * self._pace_below
        # Calls still in flight have been counted by us but maybe not yet by the server.
        in_flight = self._in_flight
        server_view = remaining - in_flight + 1 if in_flight > 1 else remaining
        if server_view < 0:
            server_view = 0
        known = self._remaining
        roll_at = self._roll_at
        new_reset = None if reset_s is None else self._clock() + reset_s
        if (
            known is None
            or roll_at is None
            or (new_reset is not None and new_reset > roll_at + 1.0)
        ):
            # A new window (or the first one seen): the server's count replaces ours.
            self._remaining = server_view
            self._next_slot = 0.0
            if new_reset is not None:
                self._reset_at = self._roll_at = new_reset
            return
        if server_view < known:
            self._remaining = server_view
        if new_reset is not None:
            reset_at = self._reset_at
            if reset_at is None or new_reset < reset_at:
                self._reset_at = new_reset
            if new_reset > roll_at:
                self._roll_at = new_reset

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (a 429's ``Retry-After``).

        The budget itself is left alone: a 429 may come from a stricter limit of
        one endpoint or a passing fault, and the next answer's headers say what
        is really left.
        """
        if not 0 < seconds < math.inf:
            return
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._unread = 0  # a 429: what the next answers say matters again
