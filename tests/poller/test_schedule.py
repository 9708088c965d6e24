"""The schedule: ``IntervalPolicy`` (how long until the next poll) and ``TimerWheel``
(which watches are due), tested on their own with a seeded random generator."""

from __future__ import annotations

import itertools
import math
import random
import statistics
import time

import pytest

from reqfin_async.poller import IntervalPolicy, TimerWheel
from reqfin_async.poller.watch import Watch

NOW = 1_700_000_000.0
HOUR = 3600.0


def delays(policy: IntervalPolicy, n: int = 500, /, **state: float) -> list[float]:
    """``n`` delays for a watch in ``state`` (defaults: changed long ago, no due date)."""
    rng = random.Random(1)
    changed_at = state.get("changed_at", NOW - 10 * policy.interval_s)
    due_at = state.get("due_at")
    failures = int(state.get("failures", 0))
    return [
        policy.next_delay(now=NOW, changed_at=changed_at, due_at=due_at, failures=failures, rng=rng)
        for _ in range(n)
    ]


# -- IntervalPolicy --------------------------------------------------------------------------


def test_default_bounds_are_a_quarter_and_eight_times_the_interval() -> None:
    policy = IntervalPolicy(interval_s=30)
    assert (policy.lowest, policy.highest) == (7.5, 240.0)


@pytest.mark.parametrize(
    "state",
    [
        {"changed_at": NOW},  # just changed
        {"changed_at": NOW - 100 * HOUR},  # idle for days
        {"due_at": NOW + 0.01},  # due in a moment
        {"due_at": NOW - HOUR},  # already past due
        {"failures": 1},
        {"failures": 50},
    ],
)
def test_every_delay_stays_within_the_bounds(state: dict[str, float]) -> None:
    policy = IntervalPolicy(interval_s=10, min_interval_s=4, max_interval_s=60, jitter=0.3)
    for delay in delays(policy, 500, **state):
        assert 4 <= delay <= 60


def test_delays_are_jittered_across_the_whole_jitter_band() -> None:
    policy = IntervalPolicy(interval_s=10, jitter=0.2)
    spread = delays(policy, 2000)
    assert min(spread) >= 8.0
    assert max(spread) <= 12.0
    # Spread over the band, not stuck at one value: watches registered together drift apart.
    assert min(spread) < 8.2
    assert max(spread) > 11.8
    assert statistics.pstdev(spread) > 0.8
    assert statistics.mean(spread) == pytest.approx(10.0, rel=0.02)


def test_without_jitter_the_delay_is_exactly_the_interval() -> None:
    policy = IntervalPolicy(interval_s=10, jitter=0.0)
    assert set(delays(policy, 20)) == {10.0}


def test_polls_come_sooner_just_after_a_change() -> None:
    policy = IntervalPolicy(interval_s=10, jitter=0.0)
    assert delays(policy, 1, changed_at=NOW - 1) == [5.0]


def test_polls_come_sooner_as_the_due_date_nears() -> None:
    policy = IntervalPolicy(interval_s=10, jitter=0.0)
    far, near, nearer = (delays(policy, 1, due_at=NOW + left)[0] for left in (HOUR, 12.0, 4.0))
    assert far == 10.0
    assert near == 6.0  # half of what is left
    assert nearer == policy.lowest  # never below the lower bound
    assert near < far


def test_idle_invoices_are_polled_less_and_less_often_up_to_the_upper_bound() -> None:
    policy = IntervalPolicy(interval_s=10, jitter=0.0, idle_after_s=HOUR)
    by_idle = [delays(policy, 1, changed_at=NOW - hours * HOUR)[0] for hours in (0.5, 1.5, 2.5)]
    assert by_idle == [10.0, 20.0, 40.0]
    assert delays(policy, 1, changed_at=NOW - 1000 * HOUR) == [policy.highest]


def test_failures_back_off_exponentially_with_full_jitter_up_to_the_upper_bound() -> None:
    policy = IntervalPolicy(interval_s=10, max_interval_s=1000, jitter=0.1)
    medians = [statistics.median(delays(policy, failures=f)) for f in range(1, 7)]
    for before, after in itertools.pairwise(medians):
        assert after > before * 1.5
    first = delays(policy, failures=1)
    assert min(first) >= 5.0
    assert max(first) <= 10.0
    assert max(first) - min(first) > 4.0  # spread, so that failing watches do not retry together
    assert max(delays(policy, failures=40)) <= policy.highest


@pytest.mark.parametrize(
    "options",
    [
        {"interval_s": 0},
        {"interval_s": 10, "jitter": 1.0},
        {"interval_s": 10, "jitter": -0.1},
        {"interval_s": 10, "min_interval_s": 11},
        {"interval_s": 10, "max_interval_s": 9},
    ],
)
def test_inconsistent_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        IntervalPolicy(**options)


# -- TimerWheel ------------------------------------------------------------------------------


def make(key: str) -> Watch:
    return Watch(key, None, NOW)


def keys(watches: list[Watch]) -> list[str]:
    return [w.key for w in watches]


def test_the_wheel_hands_out_watches_in_time_order() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    order = [(make(f"w{i}"), NOW + t) for i, t in enumerate([0.9, 0.1, 0.5, 0.3, 0.7])]
    for watch, at in order:
        wheel.schedule(watch, at)
    assert len(wheel) == 5
    assert keys(wheel.pop_due(NOW + 1.0)) == ["w1", "w3", "w2", "w4", "w0"]
    assert len(wheel) == 0


def test_a_watch_is_never_handed_out_before_its_time() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    rng = random.Random(3)
    for i in range(200):
        at = NOW + rng.uniform(0, 5)
        watch = make(f"w{i}")
        wheel.schedule(watch, at)
        assert wheel.pop_due(at - 1e-3) == []
        # ...and at most one slot late.
        assert keys(wheel.pop_due(at + 0.05)) == [f"w{i}"]


def test_rescheduling_leaves_the_old_entry_stale_and_skipped() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    watch = make("w")
    wheel.schedule(watch, NOW + 1.0)
    wheel.schedule(watch, NOW + 3.0)  # later
    wheel.schedule(watch, NOW + 1.0)  # back to the first slot
    wheel.schedule(watch, NOW + 2.0)
    assert len(wheel) == 1
    assert wheel.pop_due(NOW + 1.5) == []
    assert keys(wheel.pop_due(NOW + 10)) == ["w"]  # once, at 2.0
    assert len(wheel) == 0


def test_a_watch_rescheduled_into_its_own_slot_comes_out_once() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    watch = make("w")
    wheel.schedule(watch, NOW + 1.0)
    wheel.schedule(watch, NOW + 1.01)  # the same slot: nothing changes
    assert keys(wheel.pop_due(NOW + 2)) == ["w"]


def test_a_cancelled_watch_is_not_handed_out() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    kept, cancelled = make("kept"), make("cancelled")
    wheel.schedule(kept, NOW + 1)
    wheel.schedule(cancelled, NOW + 1)
    wheel.cancel(cancelled)
    wheel.cancel(cancelled)  # twice is harmless
    assert len(wheel) == 1
    assert keys(wheel.pop_due(NOW + 2)) == ["kept"]
    # A cancelled watch can be scheduled again.
    wheel.schedule(cancelled, NOW + 3)
    assert keys(wheel.pop_due(NOW + 4)) == ["cancelled"]


def test_next_at_is_never_later_than_the_earliest_scheduled_watch() -> None:
    wheel = TimerWheel(resolution_s=0.05)
    assert wheel.next_at() is None
    rng = random.Random(5)
    times = [NOW + rng.uniform(0, 10) for _ in range(100)]
    watches = [make(f"w{i}") for i in range(100)]
    for watch, at in zip(watches, times, strict=True):
        wheel.schedule(watch, at)
    next_at = wheel.next_at()
    assert next_at is not None
    # It is the earliest slot: not later than the first watch, less than a slot before it.
    assert min(times) <= next_at < min(times) + 0.05 + 1e-9
    earliest = watches[times.index(min(times))]
    wheel.schedule(earliest, NOW + 20)
    following = sorted(times)[1]
    next_at = wheel.next_at()
    assert next_at is not None
    assert next_at <= following + 0.05
    wheel.pop_due(NOW + 30)
    assert wheel.next_at() is None


def test_popping_does_not_look_at_watches_that_are_not_due() -> None:
    class CountingWatch(Watch):
        """A watch that counts how often the wheel reads its slot."""

        reads = 0

        @property
        def tick(self) -> int:
            CountingWatch.reads += 1
            return int(self.__dict__["_tick"])

        @tick.setter
        def tick(self, value: int) -> None:
            self.__dict__["_tick"] = value

    wheel = TimerWheel(resolution_s=0.05)
    for i in range(10_000):
        wheel.schedule(CountingWatch(f"later{i}", None, NOW), NOW + 60 + i % 500)
    due = make("due")
    wheel.schedule(due, NOW + 1)
    CountingWatch.reads = 0
    assert keys(wheel.pop_due(NOW + 2)) == ["due"]
    assert CountingWatch.reads == 0  # the 10,000 later watches were not touched


def test_popping_costs_the_same_with_or_without_many_unrelated_watches() -> None:
    def cost(unrelated: int) -> float:
        wheel = TimerWheel(resolution_s=0.05)
        for i in range(unrelated):
            wheel.schedule(make(f"later{i}"), NOW + 60 + i)
        best = math.inf
        for round_ in range(50):
            watch = make(f"due{round_}")
            wheel.schedule(watch, NOW)
            started = time.perf_counter()
            wheel.pop_due(NOW + 1)
            best = min(best, time.perf_counter() - started)
        return best

    alone, crowded = cost(0), cost(100_000)
    # A scan of 100,000 entries would take milliseconds; a pop takes microseconds.
    assert crowded < max(20 * alone, 5e-5)


def test_a_wheel_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TimerWheel(resolution_s=0)
