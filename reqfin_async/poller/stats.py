"""What a poller has done: counters, and the detection lag of the changes it saw."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .plan import Plan

__all__ = ["PollerStats", "LagSampler"]

_LAG_SAMPLES = 4096


class LagSampler:
    """A bounded reservoir of detection lags (seconds), for percentiles over a long run."""

    __slots__ = ("_rng", "_samples", "_size", "count", "max")

    def __init__(self, size: int = _LAG_SAMPLES) -> None:
        self._samples: list[float] = []
        self._rng = random.Random(0)  # noqa: S311 - sampling, not cryptography
        self.count = 0
        self.max = 0.0
        self._size = size

    def add(self, lag_s: float) -> None:
        self.count += 1
        self.max = max(self.max, lag_s)
        if len(self._samples) < self._size:
            self._samples.append(lag_s)
        else:
            # Reservoir sampling: every lag seen has the same chance to be kept.
            slot = self._rng.randrange(self.count)
            if slot < self._size:
                self._samples[slot] = lag_s

    def percentile(self, q: float) -> float | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]


@dataclass(slots=True)
class PollerStats:
    """A snapshot of a poller's activity.

    ::

        s = poller.stats()
        print(s.watching, s.finished, s.requests, s.lag_p99_s)
    """

    watching: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    rate_limited: int = 0
    changes: int = 0
    sweeps: int = 0
    sweep_requests: int = 0
    sweeps_skipped: int = 0
    confirmations: int = 0
    pushed: int = 0
    lag_p50_s: float | None = None
    lag_p99_s: float | None = None
    lag_max_s: float | None = None
    sweeping: bool = False
    plan: Plan | None = None
    spent_per_hour: dict[str, float] = field(default_factory=dict)

    @property
    def finished_total(self) -> int:
        return sum(self.finished.values())
