"""Fixed-window rate limiting per credential, with the API's headers.

::

    limiter = RateLimiter(window_s=3600)
    decision = limiter.hit("key:abc", limit=5000)
    decision.allowed, decision.headers()   # True, {"X-Rate-Limit-Limit": "5000", ...}
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateDecision", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one call against a budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # whole seconds until the window resets, rounded up

    def headers(self) -> dict[str, str]:
        """``X-Rate-Limit-*`` (and ``Retry-After`` when refused)."""
        headers = {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset_s),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers


class RateLimiter:
    """Counts calls per key in fixed windows that start with a key's first call."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # key -> [window start, calls]

    def _window(self, key: str, now: float) -> list[float]:
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.window_s:
            window = self._windows[key] = [now, 0.0]
        return window

    def _decide(self, window: list[float], limit: int, now: float, allowed: bool) -> RateDecision:
        reset_s = max(1, math.ceil(self.window_s - (now - window[0])))
        remaining = max(0, limit - int(window[1]))
        return RateDecision(allowed, limit, remaining, reset_s)

    def hit(self, key: str, limit: int) -> RateDecision:
        """Charge one call to ``key``; a refused call is not charged."""
        now = self._clock()
        window = self._window(key, now)
        allowed = window[1] < limit
        if allowed:
            window[1] += 1
        return self._decide(window, limit, now, allowed)

    def peek(self, key: str, limit: int) -> RateDecision:
        """The budget of ``key`` without charging a call."""
        now = self._clock()
        window = self._window(key, now)
        return self._decide(window, limit, now, True)
