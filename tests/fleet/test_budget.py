"""The rate budget is the API key's, not the process's: three poller processes that
would each spend it alone share it through Redis, and the API never answers 429."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from reqfin_async.sandbox import Sandbox
from reqfin_async.sandbox.ratelimit import RateDecision, RateLimiter
from tests.poller.conftest import fast_config, seed
from tests.redis_server import RedisServer

from .conftest import NAMES, running_fleet

LIMIT = 60
WINDOW_S = 3.0
WINDOWS = 3  # full windows observed


class Hits:
    """Every call the sandbox charged to a budget: when, and whether it was let through."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, bool]] = []

    def record(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hit = RateLimiter.hit

        def recording(limiter: RateLimiter, key: str, limit: int) -> RateDecision:
            now = time.monotonic()
            decision = hit(limiter, key, limit)
            if key.startswith("key:"):  # the API key's budget
                self.calls.append((now, decision.allowed))
            return decision

        monkeypatch.setattr(RateLimiter, "hit", recording)

    def windows(self) -> list[int]:
        """Calls sent per window (refused ones included), the windows cut as the sandbox
        cuts them: a window starts with the first call after the previous one ended,
        and lasts ``WINDOW_S``."""
        counts: list[int] = []
        start = -float("inf")
        for at, _ in self.calls:
            if at - start >= WINDOW_S:
                start = at
                counts.append(0)
            counts[-1] += 1
        return counts


async def test_three_processes_stay_within_one_shared_budget(
    tmp_path: Path,
    redis_server: RedisServer,
    namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hits = Hits()
    hits.record(monkeypatch)
    config = fast_config(seed=64, api_key_limit=LIMIT, rate_window_s=WINDOW_S)
    async with (
        Sandbox(config) as sandbox,
        running_fleet(tmp_path, sandbox, redis_server.url, namespace, interval=0.2) as fleet,
    ):
        # 300 invoices polled every 0.2 s would take 1,500 calls a second; the key
        # allows 20. None is due for a month: the processes poll until told to stop.
        keys = seed(sandbox, 300)
        await fleet.go(keys)
        await fleet.wait_for(
            lambda: len(hits.windows()) > WINDOWS,
            timeout_s=WINDOWS * WINDOW_S + 10,
            what=f"{WINDOWS} windows of the rate limit",
        )
        await fleet.stop()
        await fleet.wait_exit(timeout_s=10)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{sandbox.url}/sandbox/stats") as response,
        ):
            stats = await response.json()

    windows = hits.windows()
    first = hits.calls[0][0]
    burst = sum(1 for at, _ in hits.calls if at - first < 0.1)
    refused = [round(at - first, 3) for at, allowed in hits.calls if not allowed]
    assert stats["rateLimited"] == 0, (
        f"429s at {refused} s; {burst} calls in the first 0.1 s; calls per window {windows}"
    )
    assert "429" not in stats["byStatus"], stats
    assert max(windows) <= LIMIT, windows
    # Not an idle fleet: the budget was spent, in every full window.
    full = windows[:WINDOWS]
    assert min(full) >= LIMIT // 2, windows
    first_get = min(e["t0"] for e in fleet.of_kind("get"))
    # Each process took its part after the first window too: none starved (each holds
    # leases on watches that only it may poll).
    gets = Counter(e["proc"] for e in fleet.of_kind("get"))
    late = Counter(e["proc"] for e in fleet.of_kind("get") if e["t0"] > first_get + WINDOW_S)
    assert all(late[name] > sum(late.values()) / 6 for name in NAMES), (gets, late)
    assert {e["status"] for e in fleet.of_kind("get")} == {200}
    for name in NAMES:
        assert fleet.of_kind("done", name), name
