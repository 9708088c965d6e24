"""When each watch is polled next: a timer wheel, and the interval policy.

The wheel keeps one list per time slot (``resolution_s`` wide) and a heap of
the slots in use, so scheduling is O(1), dispatching costs O(1) per watch plus
O(log slots) per slot, and a watch costs one list entry. Rescheduling does
not search: the old entry goes stale (the watch remembers its current slot)
and is skipped when its slot comes up. Stale entries far in the future (a
finished watch's due-date check, weeks away) would hold their watches until
then, so the wheel is compacted once stale entries outnumber live ones.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from .watch import Watch

__all__ = ["TimerWheel", "IntervalPolicy"]

DEFAULT_RESOLUTION_S = 0.05
_COMPACT_SLACK = 1024  # below this many stale entries a rebuild is not worth it


class TimerWheel:
    """Watches by the slot of their next poll.

    ::

        wheel.schedule(watch, at=now + 30)
        for watch in wheel.pop_due(now): ...
    """

    __slots__ = ("_entries", "_heap", "_resolution", "_slots", "scheduled")

    def __init__(self, resolution_s: float = DEFAULT_RESOLUTION_S) -> None:
        if resolution_s <= 0:
            raise ValueError("resolution_s must be positive")
        self._resolution = resolution_s
        self._slots: dict[int, list[Watch]] = {}
        self._heap: list[int] = []
        self.scheduled = 0  # watches with a live entry
        self._entries = 0  # live and stale entries in the slots

    def schedule(self, watch: Watch, at: float) -> None:
        """Poll ``watch`` at ``at`` (replacing any earlier schedule of it)."""
        tick = math.ceil(at / self._resolution)
        if watch.tick == tick:
            return
        if watch.tick < 0:
            self.scheduled += 1
        else:
            self._compact_if_stale()
        watch.tick = tick
        self._entries += 1
        slot = self._slots.get(tick)
        if slot is None:
            self._slots[tick] = [watch]
            heapq.heappush(self._heap, tick)
        else:
            slot.append(watch)

    def when(self, watch: Watch) -> float | None:
        """When ``watch`` is scheduled (its slot's time), or ``None`` if it is not."""
        return watch.tick * self._resolution if watch.tick >= 0 else None

    def cancel(self, watch: Watch) -> None:
        """Forget the watch's schedule (its entry goes stale)."""
        if watch.tick >= 0:
            watch.tick = -1
            self.scheduled -= 1
            self._compact_if_stale()

    def _compact_if_stale(self) -> None:
        # Amortized O(1): a rebuild costs O(entries) and halves them at least.
        if self._entries <= 2 * self.scheduled + _COMPACT_SLACK:
            return
        slots: dict[int, list[Watch]] = {}
        for tick, watches in self._slots.items():
            live = [watch for watch in watches if watch.tick == tick]
            if live:
                slots[tick] = live
        self._slots = slots
        self._heap = list(slots)
        heapq.heapify(self._heap)
        self._entries = sum(len(watches) for watches in slots.values())

    def pop_due(self, now: float) -> list[Watch]:
        """Every watch whose slot has come, in slot order; they leave the wheel."""
        # The tolerance keeps a float error from leaving the slot that next_at()
        # named unpopped at that very time (the scheduler would spin).
        now_tick = math.floor(now / self._resolution + 1e-9)
        due: list[Watch] = []
        heap = self._heap
        while heap and heap[0] <= now_tick:
            tick = heapq.heappop(heap)
            entries = self._slots.pop(tick)
            self._entries -= len(entries)
            for watch in entries:
                if watch.tick == tick:  # else it was rescheduled or cancelled meanwhile
                    watch.tick = -1
                    due.append(watch)
        self.scheduled -= len(due)
        return due

    def next_at(self) -> float | None:
        """When the earliest slot comes, or ``None`` when the wheel is empty."""
        return self._heap[0] * self._resolution if self._heap else None

    def __len__(self) -> int:
        return self.scheduled


@dataclass(frozen=True, slots=True)
class IntervalPolicy:
    """How long to wait before polling a watch again.

    Starts from ``interval_s``; polls more often just after a change (buyers
    tend to act in bursts: accepted, then paid) and as the due date nears; less
    often for an invoice idle for long (doubling every ``idle_after_s``); backs
    off exponentially after failures. Everything is jittered by ``±jitter`` so
    that watches registered together do not fire in lockstep, and clamped to
    ``[min_interval_s, max_interval_s]``. ::

        policy = IntervalPolicy(interval_s=30)
        delay = policy.next_delay(now=now, changed_at=t, due_at=due, failures=0, rng=rng)
    """

    interval_s: float = 30.0
    min_interval_s: float | None = None
    max_interval_s: float | None = None
    jitter: float = 0.1
    idle_after_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.interval_s <= 0:
            raise ValueError("interval_s must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be within [0, 1)")
        if self.lowest > self.interval_s or self.highest < self.interval_s:
            raise ValueError("min_interval_s <= interval_s <= max_interval_s must hold")

    @property
    def lowest(self) -> float:
        return self.min_interval_s if self.min_interval_s is not None else self.interval_s / 4

    @property
    def highest(self) -> float:
        return self.max_interval_s if self.max_interval_s is not None else self.interval_s * 8

    def next_delay(
        self,
        *,
        now: float,
        changed_at: float,
        due_at: float | None,
        failures: int,
        rng: random.Random,
    ) -> float:
        """Seconds until the next poll of a watch in this state."""
        low, high = self.lowest, self.highest
        if failures:
            # Full jitter over an exponential ceiling: failing watches spread out.
            ceiling = min(high, self.interval_s * (2 ** min(failures - 1, 16)))
            return max(low, rng.uniform(ceiling / 2, ceiling))
        base = self.interval_s
        idle = now - changed_at
        if idle < self.interval_s:
            base /= 2
        elif idle > self.idle_after_s:
            base *= 2 ** min(int(idle // self.idle_after_s), 16)
        if due_at is not None:
            left = due_at - now
            if 0 < left < 2 * base:
                base = min(base, max(left / 2, low))
        if self.jitter:
            base *= rng.uniform(1 - self.jitter, 1 + self.jitter)
        return min(max(base, low), high)
