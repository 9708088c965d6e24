"""A fleet of pollers sharing one watch list in Redis: throughput, detection lag, store cost.

Every server and every poller runs in a process of its own, apart from the
measuring process: the sandbox (``sandbox_process(BENCH_CONFIG)``: rate limits
out of the way), one ``redis-server`` on loopback (``tests.redis_server``) and up
to four poller processes (``_fleet_process.py``), started once for the suite and
told what to run through their stdin. A fleet of N is the first N of them, each a
``StatusPoller`` on a ``RedisWatchStore`` of a fresh namespace (the others stay
idle). The Redis helper fsyncs every write, which suits its restart tests but
would time this machine's disk: the suite turns that off (``CONFIG SET appendonly
no``), as a fleet's Redis usually runs. All these processes share this machine's
cores: more processes cannot add CPU here, so the figures show what coordinating
through Redis costs and that the work is shared — not how a fleet scales out over
hosts.

**Fleet throughput** (1, 2 and 4 processes; quick: 1 and 2): 2,000 watches (quick:
1,000) due every 0.2 s, far more than any fleet here serves, so that it is always
busy. The measuring process adds them to the namespace and tells the fleet its
rate budget (what the first answer would: the start-up probes, one per 0.5 s for
the whole fleet, are not what is measured), then the pollers start; after a
warm-up, GETs per second over consecutive spans of 1 s (quick: one of 0.35 s),
counted by the sandbox (``GET /sandbox/stats``, 200 answers; any other answer is
named in the note); each process's share of the GETs, by its own counter, is in
the note. Two series: the default concurrency (16) — where a process holds at
most 32 watches, each from its claim until its reschedule is written (batched
every 50 ms), which caps it near 640 GETs/s whatever the CPU, so the fleet grows
with its processes — and (full run only) a concurrency of 256, which takes that
cap out of the way: then the machine is the limit.

**Detection lag** (1, 2 and 4 processes; quick: 1 and 2): 1,000 fresh invoices
(quick: 300), due in an hour, watched every 1 s (quick: 0.5 s), default
concurrency; the note gives the GETs per second this asks of the fleet (1,000:
more than one process's cap). Once every watch has been read once (the processes'
request counters add up to the watches: the fleet claims what is due now, oldest
first, before anything rescheduled), invoices are flipped to ``paid`` through the
control plane at a steady rate, 10 % of the watches per interval, as in
``poller_live``: one interval of warm-up (an invoice created or changed less than
an interval ago is polled twice as often), then two measured intervals (quick:
one). A flip's time is the ``paymentDate`` the sandbox stamps; its detection is
when the measuring process reads the outcome off the fleet's events stream
(``RedisWatchStore.read_events``: when any subscriber of any process can see it;
same host clock). The measured flips are dealt round-robin into three rounds
(quick: two); p50 and p99 per round, median and spread over rounds; a flip never
seen counts as an infinite lag. Target: p99 <= interval + 1 s, as for one poller.

**Store overhead per poll**: one ``StatusPoller`` in a poller process on
``poller_scale``'s stub client (no HTTP, no decoding), 5,000 watches due every
0.02 s (``max_interval`` too: an idle invoice is not polled less often), default
concurrency, with the memory store and with a ``RedisWatchStore``: the poller
process's CPU time (``time.process_time()``) per dispatched poll over spans of
0.5 s (quick: one of 0.2 s) after a warm-up, and the ratio. Each poller
dispatches as fast as it can: the memory one as fast as its CPU allows, the
Redis one up to its lease cap (polls per second in the note), so the figure is
each poll's own work, not idle time shared out. The Redis server's CPU per poll
and the scripts it ran per poll (``INFO``) are in the note. A stub answers no
rate-limit headers, so its fleet is told a budget by hand (without one, a fleet
whose client has no rate limiter — this stub, or ``rate_limit=False`` — never
learns a budget and sends one probe per 0.5 s for the whole fleet). Then, from
the measuring process, the wall-clock round trip of one claim + reschedule of 32
watches (a poller's batch at concurrency 16) and of one ``reserve_call`` (every
fleet GET waits for one), each the median of 40 calls (quick: 20) per round.

A run that should take a moment waits on events (every watch read, every flip
seen); the sleeps are the measured spans, the warm-ups and the flip schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import redis.asyncio as aioredis

from reqfin_async.poller import FinishReason
from reqfin_async.poller.codec import decode_result
from reqfin_async.poller.stores.base import WatchRecord
from reqfin_async.poller.stores.redis import RedisWatchStore
from tests.redis_server import RedisServer, RedisServerNotFoundError, find_redis_server

from ._harness import Figure, verdict
from ._server import (
    BENCH_CONFIG,
    ServerProcess,
    pay_on_schedule,
    sandbox_process,
    seed,
    server_stats,
)

__all__ = ["run"]

SUITE = "fleet"
FLIP_SHARE = 0.10  # of the watches flipped per interval
CONCURRENCY = 16  # the poller's default, per process
BATCH = 2 * CONCURRENCY  # what a poller claims at most at once
# Enough that a process's lease cap (2 x concurrency watches per ~50 ms) is out of the way.
UNCAPPED_CONCURRENCY = 256
_REPO = Path(__file__).resolve().parent.parent
_START_TIMEOUT_S = 30.0
_ANSWER_TIMEOUT_S = 30.0
_READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Plan:
    """The sizes of one run of the suite (full or quick)."""

    sizes: tuple[int, ...]  # processes per fleet
    throughput_watches: int
    throughput_interval: float
    throughput_warmup_s: float
    throughput_span_s: float
    throughput_rounds: int
    throughput_concurrency: tuple[int, ...]  # one series of fleet sizes per value
    lag_watches: int
    lag_interval: float
    lag_measured_intervals: int
    lag_rounds: int
    cost_watches: int
    cost_interval: float
    cost_warmup_s: float
    cost_span_s: float
    cost_rounds: int
    trip_calls: int
    trip_rounds: int


FULL = Plan(
    sizes=(1, 2, 4),
    throughput_watches=2000,
    throughput_interval=0.2,
    throughput_warmup_s=0.5,
    throughput_span_s=1.0,
    throughput_rounds=3,
    throughput_concurrency=(CONCURRENCY, UNCAPPED_CONCURRENCY),
    lag_watches=1000,
    lag_interval=1.0,
    lag_measured_intervals=2,
    lag_rounds=3,
    cost_watches=5000,
    cost_interval=0.02,
    cost_warmup_s=0.5,
    cost_span_s=0.5,
    cost_rounds=3,
    trip_calls=40,
    trip_rounds=3,
)
QUICK = Plan(
    sizes=(1, 2),
    throughput_watches=1000,
    throughput_interval=0.2,
    throughput_warmup_s=0.25,
    throughput_span_s=0.35,
    throughput_rounds=1,
    throughput_concurrency=(CONCURRENCY,),
    lag_watches=300,
    lag_interval=0.5,
    lag_measured_intervals=1,
    lag_rounds=2,
    cost_watches=5000,
    cost_interval=0.02,
    cost_warmup_s=0.15,
    cost_span_s=0.2,
    cost_rounds=1,
    trip_calls=20,
    trip_rounds=1,
)


# -- poller processes ---------------------------------------------------------------------
def _log_file(path: Path) -> IO[bytes]:
    return path.open("wb")


class PollerProcess:
    """One ``_fleet_process`` child: a JSON command per line in, a JSON answer per line out."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.name = name
        self.process = process
        self.stderr = stderr

    def _failure(self, what: str) -> RuntimeError:
        text = self.stderr.read_text(errors="replace")[-3000:] if self.stderr.exists() else ""
        return RuntimeError(f"poller process {self.name}: {what}\n{text}")

    async def receive(self, timeout_s: float = _ANSWER_TIMEOUT_S) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                line = await self.process.stdout.readline()
        except TimeoutError:
            raise self._failure(f"no answer within {timeout_s:g} s") from None
        if not line:
            await self.process.wait()
            raise self._failure(f"exited with {self.process.returncode}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        return await self.receive()

    async def close(self) -> None:
        """End of stdin: the process closes its poller and exits; killed if it lingers."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            async with asyncio.timeout(5.0):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def poller_processes(count: int, directory: Path) -> AsyncIterator[list[PollerProcess]]:
    """Start ``count`` poller processes; they import meanwhile (see ``wait_ready``)."""
    children: list[PollerProcess] = []
    try:
        for n in range(count):
            stderr = directory / f"poller-{n}.stderr"
            with _log_file(stderr) as log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "benchmarks._fleet_process",
                    cwd=_REPO,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                )
            children.append(PollerProcess(f"p{n}", process, stderr))
        yield children
    finally:
        # Every process is gone before this returns, whatever happened.
        await asyncio.gather(*(child.close() for child in children), return_exceptions=True)
        for child in children:
            if child.process.returncode is None:
                child.process.kill()
                await child.process.wait()


async def wait_ready(children: Sequence[PollerProcess]) -> None:
    """Until every process has imported what it needs and said so."""
    for child in children:
        await child.receive(_START_TIMEOUT_S)  # {"ready": true}


async def _each(children: Sequence[PollerProcess], command: dict[str, Any]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(child.ask(command) for child in children)))


# -- Redis and the sandbox ---------------------------------------------------------------
@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[RedisServer]:
    """A throwaway ``redis-server`` on loopback, without the helper's fsync on every write."""
    binary = find_redis_server()
    if binary is None:
        raise RedisServerNotFoundError()
    async with RedisServer(binary) as server:
        admin = aioredis.Redis.from_url(server.url)
        try:
            await admin.config_set("appendonly", "no")
        finally:
            await admin.aclose()
        yield server


@contextlib.asynccontextmanager
async def _namespace_store(redis_url: str, label: str) -> AsyncIterator[RedisWatchStore]:
    """A fresh namespace, and the measuring process's own store on it; emptied afterwards."""
    store = RedisWatchStore(redis_url, namespace=f"bench-{label}-{uuid.uuid4().hex[:8]}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        admin = aioredis.Redis.from_url(redis_url)
        try:
            await admin.flushdb()
        finally:
            await admin.aclose()


def _records(keys: Sequence[str]) -> list[WatchRecord]:
    now = time.time()
    return [WatchRecord(key=key, changed_at=now) for key in keys]


def _fleet_settings(
    server: ServerProcess,
    redis_url: str,
    namespace: str,
    interval: float,
    concurrency: int = CONCURRENCY,
) -> dict[str, Any]:
    return {
        "cmd": "start",
        "client": "sandbox",
        "url": server.url,
        "api_key": server.api_key,
        "store": "redis",
        "redis_url": redis_url,
        "namespace": namespace,
        "interval": interval,
        "concurrency": concurrency,
    }


# -- 1. throughput --------------------------------------------------------------------------
@dataclass
class ThroughputRun:
    processes: int
    concurrency: int
    rates: list[float] = field(default_factory=list)  # GETs per second, per span
    shares: list[float] = field(default_factory=list)  # per process, whole measured time
    other_answers: dict[str, int] = field(default_factory=dict)


async def throughput_run(
    children: Sequence[PollerProcess],
    server: ServerProcess,
    redis_url: str,
    http: aiohttp.ClientSession,
    keys: Sequence[str],
    plan: Plan,
    concurrency: int,
) -> ThroughputRun:
    """GETs per second that ``children`` sustain on ``keys``, over ``plan``'s spans."""
    result = ThroughputRun(len(children), concurrency)
    async with _namespace_store(redis_url, f"throughput-{len(children)}") as store:
        await store.add(_records(keys))  # all due now: each process claims at once
        # The budget the first answer would teach the fleet (the sandbox's limits are out of
        # the way): the start-up probes (one per 0.5 s for the fleet) are not measured here.
        limit = BENCH_CONFIG.api_key_limit
        await store.observe_budget(limit, limit, BENCH_CONFIG.rate_window_s)
        await _each(
            children,
            _fleet_settings(
                server, redis_url, store.namespace, plan.throughput_interval, concurrency
            ),
        )
        try:
            await asyncio.sleep(plan.throughput_warmup_s)  # the warm-up
            marks: list[tuple[float, dict[str, Any], list[dict[str, Any]]]] = []
            started = time.monotonic()
            for n in range(plan.throughput_rounds + 1):
                delay = started + n * plan.throughput_span_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # the measured span
                stats, samples = await asyncio.gather(
                    server_stats(http, server), _each(children, {"cmd": "sample"})
                )
                marks.append((time.monotonic(), stats, samples))
        finally:
            await _each(children, {"cmd": "stop"})
    for (t0, stats0, _), (t1, stats1, _) in itertools.pairwise(marks):
        # The sandbox counts an answer once sent: each stats call shows the previous one.
        ok = stats1["byStatus"].get("200", 0) - stats0["byStatus"].get("200", 0) - 1
        result.rates.append(ok / (t1 - t0))
        for status, count in stats1["byStatus"].items():
            if status != "200":
                delta = count - stats0["byStatus"].get(status, 0)
                if delta:
                    result.other_answers[status] = result.other_answers.get(status, 0) + delta
    polled = [
        s1["requests"] - s0["requests"] for s0, s1 in zip(marks[0][2], marks[-1][2], strict=True)
    ]
    result.shares = [p / max(sum(polled), 1) for p in polled]
    return result


# -- 2. detection lag -----------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LagRun:
    processes: int
    lags: list[list[float]] = field(default_factory=list)  # per round, seconds
    undetected: int = 0
    finished_by: list[int] = field(default_factory=list)  # paid outcomes, per process

    def per_round(self, q: float) -> list[float]:
        return [_percentile(lags, q) for lags in self.lags if lags]


async def _read_outcomes(
    store: RedisWatchStore, detected: dict[str, float], total: int, done: asyncio.Event
) -> None:
    """Note when each ``paid`` outcome appears on the fleet's events stream."""
    while not done.is_set():
        for event in await store.read_events(block_s=0.05):
            if event.kind != "result":
                continue
            seen = time.time()
            result = decode_result(event.payload)
            if result.reason is FinishReason.PAID and result.key not in detected:
                detected[result.key] = seen
                if len(detected) >= total:
                    done.set()


async def _until_read(children: Sequence[PollerProcess], count: int) -> None:
    """Until the fleet made ``count`` requests: every watch was claimed and read once.

    (A fleet claims the watches due now, oldest first, before any rescheduled one.)
    """
    deadline = time.monotonic() + _READ_TIMEOUT_S
    while sum(s["requests"] for s in await _each(children, {"cmd": "sample"})) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"watches still unread after {_READ_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.05)


async def lag_run(
    children: Sequence[PollerProcess],
    server: ServerProcess,
    redis_url: str,
    http: aiohttp.ClientSession,
    plan: Plan,
) -> LagRun:
    """Flip invoices to paid at a steady rate; time until the fleet reports each."""
    count, interval, rounds = plan.lag_watches, plan.lag_interval, plan.lag_rounds
    per_interval = max(rounds, round(count * FLIP_SHARE))
    spacing = interval / per_interval
    warm = per_interval  # one interval of flips, discarded
    total = warm + per_interval * plan.lag_measured_intervals
    keys = [i["requestId"] for i in await seed(server, count, dueInSeconds=3600)]
    order = random.Random(count).sample(keys, total)
    result = LagRun(len(children))
    detected: dict[str, float] = {}
    flipped: dict[str, float] = {}
    all_seen = asyncio.Event()
    async with _namespace_store(redis_url, f"lag-{len(children)}") as store:
        reader = asyncio.create_task(_read_outcomes(store, detected, total, all_seen))
        try:
            await store.add(_records(keys))
            await _each(children, _fleet_settings(server, redis_url, store.namespace, interval))
            try:
                await _until_read(children, count)
                flipped.update(await pay_on_schedule(http, server, order, spacing))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2 * interval + 5):
                        await all_seen.wait()
            finally:
                stopped = await _each(children, {"cmd": "stop"})
        finally:
            all_seen.set()  # the reader's signal to leave after its current read
            await reader
    result.finished_by = [s["stopped"]["finished"].get("paid", 0) for s in stopped]
    measured = order[warm:]
    for n in range(rounds):
        chunk = measured[n::rounds]
        result.lags.append([detected.get(k, math.inf) - flipped[k] for k in chunk])
    result.undetected = total - len(detected)
    return result


# -- 3. store overhead per poll -------------------------------------------------------------
async def _redis_load(admin: aioredis.Redis) -> tuple[float, int]:
    """The Redis server's CPU seconds so far, and the scripts it has run (EVALSHA, EVAL)."""
    cpu, commands = await asyncio.gather(admin.info("cpu"), admin.info("commandstats"))
    scripts = sum(
        int(commands.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), scripts


@dataclass
class CostRun:
    store: str
    cpu_us: list[float] = field(default_factory=list)  # poller process, per poll, per span
    server_us: list[float] = field(default_factory=list)  # Redis server, per poll, per span
    scripts: list[float] = field(default_factory=list)  # Redis scripts run per poll, per span
    polls_per_s: list[float] = field(default_factory=list)


async def cost_run(child: PollerProcess, store: str, redis_url: str, plan: Plan) -> CostRun:
    """CPU per dispatched poll of one stub-client poller on ``store`` ("memory" or "redis")."""
    result = CostRun(store)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await child.ask(
            {
                "cmd": "start",
                "client": "stub",
                "store": store,
                "redis_url": redis_url,
                "namespace": f"bench-cost-{uuid.uuid4().hex[:8]}",
                "interval": plan.cost_interval,
                "max_interval": plan.cost_interval,
                "concurrency": CONCURRENCY,
                "watch": plan.cost_watches,
                "budget": True,
            }
        )
        try:
            await asyncio.sleep(plan.cost_warmup_s)  # the first polls' burst, discarded
            marks: list[tuple[float, dict[str, Any], tuple[float, int]]] = []
            for n in range(plan.cost_rounds + 1):
                if n:
                    await asyncio.sleep(plan.cost_span_s)  # the measured span
                sample, load = await asyncio.gather(
                    child.ask({"cmd": "sample"}), _redis_load(admin)
                )
                marks.append((time.monotonic(), sample, load))
        finally:
            await child.ask({"cmd": "stop"})
        await admin.flushdb()
    finally:
        await admin.aclose()
    for (t0, s0, r0), (t1, s1, r1) in itertools.pairwise(marks):
        polls = max(s1["requests"] - s0["requests"], 1)
        result.cpu_us.append((s1["cpu"] - s0["cpu"]) / polls * 1e6)
        result.server_us.append((r1[0] - r0[0]) / polls * 1e6)
        result.scripts.append((r1[1] - r0[1]) / polls)
        result.polls_per_s.append(polls / (t1 - t0))
    return result


async def round_trips(redis_url: str, plan: Plan) -> tuple[list[float], list[float]]:
    """Wall-clock ms of a claim + reschedule of ``BATCH`` watches, and us of a reserve_call."""
    batches: list[float] = []
    reserves: list[float] = []
    calls = plan.trip_calls
    async with _namespace_store(redis_url, "trips") as store:
        keys = [f"01{n:064x}" for n in range(BATCH * (calls * plan.trip_rounds + 1))]
        await store.add(_records(keys))
        limit = BENCH_CONFIG.api_key_limit
        await store.observe_budget(limit, limit, BENCH_CONFIG.rate_window_s)
        await store.claim(BATCH)  # the scripts loaded, a connection in the pool
        await store.reserve_call()
        for _ in range(plan.trip_rounds):
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                claims = await store.claim(BATCH)
                await store.reschedule([(c.record, 3600.0) for c in claims])
                times.append(time.perf_counter() - started)
                assert len(claims) == BATCH
            batches.append(statistics.median(times) * 1e3)
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                await store.reserve_call()
                times.append(time.perf_counter() - started)
            reserves.append(statistics.median(times) * 1e6)
    return batches, reserves


# -- the suite ------------------------------------------------------------------------------
def _throughput_figures(runs: list[ThroughputRun], plan: Plan) -> list[Figure]:
    figures: list[Figure] = []
    singles = {r.concurrency: statistics.median(r.rates) for r in runs if r.processes == 1}
    for result in runs:
        default = result.concurrency == CONCURRENCY
        figure = Figure(
            suite=SUITE,
            name=f"fleet GETs/s @ {result.processes} proc"
            + ("" if default else f", concurrency {result.concurrency}"),
            unit="req/s",
            rounds=result.rates,
            note=f"{plan.throughput_watches:,} watches every {plan.throughput_interval:g} s, "
            f"{len(result.rates)} span(s) of {plan.throughput_span_s:g} s, sandbox count; "
            "shares " + "/".join(f"{s:.0%}" for s in result.shares),
            tags={"processes": result.processes, "concurrency": result.concurrency},
        )
        if result.processes > 1 and result.concurrency in singles:
            figure.note += f"; {figure.median / singles[result.concurrency]:.2f}x 1 proc"
        elif default:
            figure.note += (
                f"; lease cap: a process holds <= {BATCH} watches, each until its "
                "reschedule is written (batched every 50 ms)"
            )
        else:
            figure.note += "; lease cap out of the way: bound by this machine"
        if result.processes == 1:
            figure.note += f"; every process shares this machine's {os.cpu_count()} cores"
        if result.other_answers:
            figure.note += f"; other answers {result.other_answers}"
        figure.note += "; no target"
        figures.append(figure)
    return figures


def _lag_figures(runs: list[LagRun], plan: Plan) -> list[Figure]:
    target = plan.lag_interval + 1.0
    figures: list[Figure] = []
    for q in (50, 99):
        for result in runs:
            figure = Figure(
                suite=SUITE,
                name=f"fleet lag p{q} @ {result.processes} proc",
                unit="s",
                rounds=result.per_round(q) or [math.nan],
                note=f"{plan.lag_watches:,} watches every {plan.lag_interval:g} s "
                f"({plan.lag_watches / plan.lag_interval:,.0f} GETs/s asked), "
                f"{len(result.lags[0])} flips/round",
                higher_is_better=False,
                tags={"processes": result.processes, "target": target},
            )
            if q == 99:
                figure.note += "; " + verdict(figure.median, target, "s")
                figure.note += "; paid outcomes by process " + "/".join(
                    str(n) for n in result.finished_by
                )
            else:
                figure.note += "; no target"
            if result.undetected:
                figure.note += f"; {result.undetected} flips never seen"
            figures.append(figure)
    return figures


def _cost_figures(
    memory: CostRun, shared: CostRun, batches: list[float], reserves: list[float], plan: Plan
) -> list[Figure]:
    setting = f"{plan.cost_watches:,} watches every {plan.cost_interval:g} s, stub client"
    memory_figure = Figure(
        suite=SUITE,
        name="memory store CPU per poll",
        unit="us/poll",
        rounds=memory.cpu_us,
        note=f"{setting}; {statistics.median(memory.polls_per_s):,.0f} polls/s; no target",
        higher_is_better=False,
    )
    ratio = statistics.median(shared.cpu_us) / memory_figure.median
    redis_figure = Figure(
        suite=SUITE,
        name="Redis store CPU per poll",
        unit="us/poll",
        rounds=shared.cpu_us,
        note=f"{setting}; poller process only; {ratio:.1f}x memory store; "
        f"{statistics.median(shared.polls_per_s):,.0f} polls/s (lease cap); "
        f"{statistics.median(shared.scripts):.1f} Redis scripts/poll, "
        f"Redis server +{statistics.median(shared.server_us):.0f} us/poll; no target",
        higher_is_better=False,
    )
    ratio_figure = Figure(
        suite=SUITE,
        name="Redis / memory store CPU per poll",
        unit="x",
        rounds=[ratio],
        note="ratio of the medians, poller process only; no target",
        higher_is_better=False,
    )
    batch_figure = Figure(
        suite=SUITE,
        name=f"claim+reschedule of {BATCH} round trip",
        unit="ms",
        rounds=batches,
        note=f"wall clock, loopback, median of {plan.trip_calls} per round; "
        f"{statistics.median(batches) / BATCH * 1000:.0f} us/watch; no target",
        higher_is_better=False,
    )
    reserve_figure = Figure(
        suite=SUITE,
        name="reserve_call round trip",
        unit="us",
        rounds=reserves,
        note=f"wall clock, loopback, median of {plan.trip_calls} per round; "
        "one per fleet GET; no target",
        higher_is_better=False,
    )
    return [memory_figure, redis_figure, ratio_figure, batch_figure, reserve_figure]


async def run(*, quick: bool) -> list[Figure]:
    plan = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as directory:
        async with (
            # The poller processes import while the sandbox and Redis start.
            poller_processes(max(plan.sizes), Path(directory)) as children,
            sandbox_process(BENCH_CONFIG) as server,
            redis_server() as redis,
            aiohttp.ClientSession() as http,
        ):
            await wait_ready(children)
            keys = [
                i["requestId"]
                for i in await seed(server, plan.throughput_watches, dueInSeconds=3600)
            ]
            throughput = [
                await throughput_run(children[:n], server, redis.url, http, keys, plan, c)
                for c in plan.throughput_concurrency
                for n in plan.sizes
            ]
            lags = [await lag_run(children[:n], server, redis.url, http, plan) for n in plan.sizes]
            memory = await cost_run(children[0], "memory", redis.url, plan)
            shared = await cost_run(children[0], "redis", redis.url, plan)
            batches, reserves = await round_trips(redis.url, plan)
    figures = [
        *_throughput_figures(throughput, plan),
        *_lag_figures(lags, plan),
        *_cost_figures(memory, shared, batches, reserves, plan),
    ]
    if quick:
        for figure in figures:
            if figure.tags.get("processes") == 1:
                figure.note += "; quick: 1 and 2 processes only, short spans"
    return figures
