"""``RateLimiter`` on a fake clock: pacing, the reserve, windows, in-flight calls, pauses."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

from reqfin_async import RateLimiter


class Clock:
    """A monotonic clock that moves only when a sleep says so."""

    def __init__(self) -> None:
        self.now = 500.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(anyio, "sleep", fake.sleep)
    return fake


def headers(limit: int | None, remaining: int | None, reset: float | str | None) -> dict[str, str]:
    values = {
        "X-Rate-Limit-Limit": limit,
        "X-Rate-Limit-Remaining": remaining,
        "X-Rate-Limit-Reset": reset,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


async def acquire_and_release(limiter: RateLimiter, times: int) -> None:
    for _ in range(times):
        await limiter.acquire()
        limiter.release()


async def test_an_unknown_budget_lets_calls_pass(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    await acquire_and_release(limiter, 50)
    assert clock.sleeps == []
    state = limiter.state()
    assert not state.known
    assert state.remaining is None


async def test_plenty_of_budget_lets_calls_pass_and_counts_them(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(100, 80, 60))
    await acquire_and_release(limiter, 10)
    assert clock.sleeps == []
    assert limiter.state().remaining == 70


async def test_below_pace_below_the_rest_is_spread_over_the_window(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock, pace_below=0.2, reserve=1)
    limiter.update(headers(100, 11, 10))  # 10 usable calls left, 10 s to the reset
    reset_at = clock.now + 10
    await acquire_and_release(limiter, 10)
    assert len(clock.sleeps) == 9  # the first goes at once, the others wait their slot
    assert clock.sleeps[0] == pytest.approx(1.0)
    assert all(s > 0.5 for s in clock.sleeps)
    assert clock.now < reset_at  # the budget lasts until the reset
    assert limiter.state().remaining == 1


async def test_above_pace_below_calls_are_not_spread(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock, pace_below=0.2)
    limiter.update(headers(100, 22, 10))
    await acquire_and_release(limiter, 1)  # 21 usable of 100: still above the pacing share
    assert clock.sleeps == []


async def test_the_reserve_is_never_spent_before_the_reset(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock, reserve=2)
    limiter.update(headers(10, 2, 5))
    await limiter.acquire()
    assert clock.sleeps == [5.0]  # waited for the window to reset


async def test_calls_after_a_window_roll_over_are_still_counted(clock: Clock) -> None:
    # Past the reset the budget is presumed whole: it must still be counted down,
    # or every waiting caller rushes out at once and overruns the new window.
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(10, 4, 5))
    clock.now += 6
    assert limiter.state().remaining == 10
    for _ in range(3):
        await limiter.acquire()
    assert limiter.state().remaining == 7


async def test_without_reserve_the_last_call_goes_at_once(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock, reserve=0, pace_below=0.0)
    limiter.update(headers(10, 1, 5))
    await limiter.acquire()
    assert clock.sleeps == []
    assert limiter.state().remaining == 0


async def test_the_window_rolls_over_at_the_reset(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(50, 3, 2))
    state = limiter.state()
    assert (state.remaining, state.reset_in_s) == (3, 2.0)
    clock.now += 2.5
    state = limiter.state()
    assert state.remaining == 50
    assert state.reset_in_s is None


async def test_an_update_discounts_the_calls_still_in_flight(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(100, 100, 60))
    for _ in range(5):
        await limiter.acquire()
    # One of the five came back; the server has not counted the other four yet.
    limiter.update(headers(100, 90, 60))
    assert limiter.state().remaining == 86


async def test_a_stale_answer_in_the_same_window_does_not_raise_the_count(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(100, 50, 60))
    limiter.update(headers(100, 55, 60))  # answered by the server before the first one
    assert limiter.state().remaining == 50
    limiter.update(headers(100, 97, 3600))  # a later reset: a new window
    assert limiter.state().remaining == 97


async def test_a_missing_limit_is_taken_from_the_first_remaining(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(None, 7, 30))
    assert limiter.state().limit == 7


@pytest.mark.parametrize(
    "answer",
    [{}, {"X-Rate-Limit-Remaining": "many"}, {"X-Rate-Limit-Limit": "100"}],
)
async def test_an_answer_without_a_readable_count_changes_nothing(
    clock: Clock, answer: dict[str, str]
) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(answer)
    assert not limiter.state().known


async def test_a_pause_holds_every_caller_until_it_ends(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(10, 6, 60))
    limiter.pause(3.0)
    assert limiter.state().paused_for_s == 3.0
    await asyncio.gather(limiter.acquire(), limiter.acquire())
    assert sum(clock.sleeps) >= 3.0
    assert limiter.state().paused_for_s == 0.0


async def test_a_pause_with_an_unknown_budget_still_holds_callers(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.pause(2.0)
    await limiter.acquire()
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize("seconds", [0.0, -1.0, math.nan])
async def test_a_meaningless_pause_is_ignored(clock: Clock, seconds: float) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.pause(seconds)
    await limiter.acquire()
    assert clock.sleeps == []
    assert limiter.state().paused_for_s == 0.0


async def test_a_cancelled_paced_caller_gives_its_slot_back(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock, pace_below=1.0, reserve=0)
    limiter.update(headers(10, 2, 10))
    await limiter.acquire()  # at once
    assert limiter._in_flight == 1
    waiting = asyncio.create_task(limiter.acquire())  # must wait for its slot
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert limiter._in_flight == 1


async def test_a_fractional_reset_is_not_rounded_down(clock: Clock) -> None:
    # "X-Rate-Limit-Reset: 0.5" means half a second, not "already reset".
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(10, 0, "0.5"))
    state = limiter.state()
    assert state.remaining == 0
    assert state.reset_in_s == pytest.approx(0.5)
    await limiter.acquire()
    assert sum(clock.sleeps) >= 0.5


def test_the_limiter_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="pace_below"):
        RateLimiter(pace_below=1.5)
    with pytest.raises(ValueError, match="reserve"):
        RateLimiter(reserve=-1)
    with pytest.raises(ValueError, match="learn_every"):
        RateLimiter(learn_every=0)


async def test_whole_second_resets_pace_to_the_earliest_and_roll_at_the_latest(
    clock: Clock,
) -> None:
    # One window whose true reset is at 510.3, told in whole seconds rounded up by
    # two answers: "10" at 500.5 (-> 510.5) and "10" at 500.9 (-> 510.9).
    limiter = RateLimiter(clock=clock)
    clock.now = 500.5
    limiter.update(headers(100, 50, 10))
    clock.now = 500.9
    limiter.update(headers(100, 49, 10))
    # Paced to the earliest estimate: the budget is spent by the reset, not after it.
    assert limiter.state().reset_in_s == pytest.approx(9.6)
    clock.now = 510.6  # past the earliest estimate, before the latest
    assert limiter.state().remaining == 49  # not presumed renewed too early
    clock.now = 511.0
    assert limiter.state().remaining == 100


async def test_a_limit_or_reset_that_changes_its_text_is_read_again(clock: Clock) -> None:
    # The limit and reset are parsed only when their text differs from the last
    # answer's: a change must still be seen, and a repeat must still count.
    limiter = RateLimiter(clock=clock)
    limiter.update(headers(100, 50, 60))
    limiter.update(headers(200, 150, 3600))  # a new plan and a new window
    state = limiter.state()
    assert (state.limit, state.remaining, state.reset_in_s) == (200, 150, 3600)
    clock.now += 2.0
    limiter.update(headers(200, 140, 3600))  # same texts, two seconds later
    state = limiter.state()
    assert state.remaining == 140
    assert state.reset_in_s == pytest.approx(3600)  # rolled forward: a new window
    limiter.update(headers(None, 130, "soon"))  # unreadable texts: the limit is kept
    state = limiter.state()
    assert (state.limit, state.remaining) == (200, 130)
    limiter.update(headers(300, 120, 3600))  # readable again after a bad answer
    assert limiter.state().limit == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [("12", 12), ("12.0", 12), (" 7 ", 7), ("1e2", 100), ("-3", None), ("nan", None)],
)
async def test_the_remaining_count_is_read_in_any_numeric_spelling(
    clock: Clock, text: str, expected: int | None
) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.update({"X-Rate-Limit-Limit": "1000", "X-Rate-Limit-Remaining": text})
    assert limiter.state().remaining == expected


# -- answered(): the transport's hot path reads one answer in learn_every while plenty is left
async def test_with_plenty_left_one_answer_in_learn_every_is_read(clock: Clock) -> None:
    limiter = RateLimiter(learn_every=4, clock=clock)
    heard: list[int] = []
    limiter.add_listener(lambda limit, remaining, reset: heard.append(remaining))
    await limiter.acquire()
    limiter.answered(headers(100, 100, 60))  # read: the first answer always is
    for _ in range(3):
        await limiter.acquire()
        limiter.answered(headers(100, 50, 60))  # someone else spent 47: not read yet
    assert limiter.state().remaining == 97  # our own count, down by our own calls
    await limiter.acquire()
    limiter.answered(headers(100, 50, 60))  # the fourth: read
    assert limiter.state().remaining == 50
    assert heard == [100, 50]


async def test_near_the_pacing_threshold_every_answer_is_read(clock: Clock) -> None:
    # pace_below 0.2 of 100 is 20; "plenty" is twice that: 40 left after the reserve.
    limiter = RateLimiter(learn_every=4, clock=clock)
    await limiter.acquire()
    limiter.answered(headers(100, 41, 60))
    for remaining in (35, 30, 25):
        await limiter.acquire()
        limiter.answered(headers(100, remaining, 60))
        assert limiter.state().remaining == remaining


async def test_a_pause_makes_the_next_answer_read(clock: Clock) -> None:
    limiter = RateLimiter(learn_every=8, clock=clock)
    await limiter.acquire()
    limiter.answered(headers(100, 100, 60))
    limiter.pause(2.0)  # a 429 came
    await limiter.acquire()
    assert clock.sleeps == [2.0]
    limiter.answered(headers(100, 10, 60))
    assert limiter.state().remaining == 10


async def test_an_answer_read_or_not_ends_its_call(clock: Clock) -> None:
    limiter = RateLimiter(learn_every=2, clock=clock)
    await limiter.acquire()  # before any answer: one probe at a time
    second = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert not second.done()
    limiter.answered(headers(1000, 1000, 60))  # read; ends the probe, the second goes
    await asyncio.wait_for(second, 1)
    limiter.answered(headers(1000, 999, 60))  # not read, but the second call ends
    await limiter.acquire()
    # Read: with the second call still counted in flight, this would be 989.
    limiter.answered(headers(1000, 990, 60))
    assert limiter.state().remaining == 990


async def test_a_refused_answer_is_read_and_so_is_the_next(clock: Clock) -> None:
    limiter = RateLimiter(learn_every=8, clock=clock)
    await limiter.acquire()
    limiter.answered(headers(100, 100, 60))
    await limiter.acquire()
    limiter.answered(headers(100, 90, 60), refused=True)  # a 429 with no Retry-After
    assert limiter.state().remaining == 90
    await limiter.acquire()
    limiter.answered(headers(100, 80, 60))
    assert limiter.state().remaining == 80


def test_with_plenty_left_a_call_passes_without_reading_the_clock() -> None:
    reads: list[float] = []

    def clock() -> float:
        reads.append(500.0)
        return 500.0

    limiter = RateLimiter(clock=clock)
    limiter.update(headers(1000, 1000, 60))
    reads.clear()
    for _ in range(500):  # 1000 - 500 is still above twice the threshold (2 * 200)
        assert limiter.try_acquire()
        limiter.release()
    assert reads == []
    assert limiter.state().remaining == 500
    reads.clear()
    for _ in range(100):  # down to twice the threshold: the window is checked again
        assert limiter.try_acquire()
        limiter.release()
    assert reads
