"""Poller scale without a network: registering watches, and the CPU each poll costs.

Three pollers side by side — ``StatusPoller``, the naive one-task-per-invoice
loop and the boto-style waiter (``_baselines.py``) — on a stub client whose
``invoices.get`` returns one pre-decoded open ``Invoice`` at once, so that only
the pollers' own work is measured:

- **registration** of 10k / 100k / 1M watches (quick: 10k, 100k): the time of
  ``watch_many(ids)`` on a fresh poller (for the task-based pollers, until
  every task has made its first, stubbed, poll and is parked in its sleep —
  their steady state; ``StatusPoller``'s stub never answers, so the few first
  reads that come due while it registers start and wait instead of polling
  during the measurement), and the memory it keeps per watch: the ``tracemalloc``
  delta divided by the count, in a traced pass of its own that also serves as
  the warm-up (tracing slows allocation down, so its time is discarded). The
  ids are built beforehand and held by the caller, so they are not counted.
  Every pass starts after a full collection; the collector stays on while
  registering (its work is part of the cost). A task-based poller skips a size
  that the previous size predicts to take more than ~30 s (quick: ~4 s).
- **scheduler cost per dispatched poll**: 10k watches due every 20 ms, so that
  every poller dispatches as fast as it can (it never idles: the figure is not
  diluted by, or divided into, idle time, and the naive loop's tasks, all
  started together, cannot bunch into bursts); process CPU time
  (``time.process_time()``) divided by the polls made in each round. For the
  task-based pollers a poll is a task's wake-up: timer, task step, stubbed get,
  sleep.

``StatusPoller`` runs with ``sweep=False``: the stub has no ``GET /invoices``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from reqfin_async import Invoice, RateLimitState, RequestFinanceClient
from reqfin_async.models import decoder

from ._baselines import BOTO, NAIVE, STATUS_POLLER, Watcher, open_stack
from ._harness import Figure, verdict

__all__ = ["run", "StubClient", "stub_invoice", "MEMORY_TARGET_B", "POLL_COST_TARGET_US"]

MEMORY_TARGET_B = 512  # the issue: 0.5 KB per watch
POLL_COST_TARGET_US = 20.0
# A task-based poller skips a size predicted to take longer than this (1M in a full run).
TASK_BUDGET_S = 30.0  # the 10k passes predict 100k at 14-21 s, which then take ~14 s
QUICK_TASK_BUDGET_S = 4.0
STACKS = (STATUS_POLLER, NAIVE, BOTO)
_FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "invoice_get.json"
_PARK_S = 3600.0  # registration: nothing is due again during the measurement
_COST_WATCHES = 10_000
_COST_INTERVAL_S = 0.02


def stub_invoice() -> Invoice:
    """An open invoice without a due date, decoded once (the fixture of ``GET /invoices/{id}``)."""
    data = json.loads(_FIXTURE.read_text())
    data["status"] = "open"
    data.pop("paymentTerms", None)
    return decoder(Invoice).decode(json.dumps(data).encode())


class _StubInvoices:
    def __init__(self, invoice: Invoice, *, held: bool) -> None:
        self._invoice = invoice
        self._held = asyncio.Event() if held else None

    async def get(self, id_or_request_id: str, *, with_links: bool = False) -> Invoice:
        if self._held is not None:
            await self._held.wait()  # never set: the call is cancelled when the poller stops
        return self._invoice


class _StubTransport:
    limiter = None  # as a client built with rate_limit=False


class StubClient:
    """Answers every ``invoices.get`` at once with one pre-decoded invoice: no I/O, no decoding.

    ``with_options(...)`` returns the stub itself. Anything else the poller might
    ask of a client fails loudly, naming what is missing. A ``held`` stub never
    answers: a poller's first polls start and wait.
    """

    def __init__(self, invoice: Invoice, *, held: bool = False) -> None:
        self.invoices = _StubInvoices(invoice, held=held)
        self.transport = _StubTransport()

    def with_options(self, **options: object) -> StubClient:
        return self

    @property
    def rate_limit(self) -> RateLimitState:
        return RateLimitState(limit=None, remaining=None, reset_in_s=None, paused_for_s=0.0)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the benchmark's stub client has no {name!r}: extend StubClient")


def _client(invoice: Invoice, *, held: bool = False) -> RequestFinanceClient:
    return cast(RequestFinanceClient, StubClient(invoice, held=held))


def _open(
    name: str, invoice: Invoice, interval: float, *, held: bool = False
) -> contextlib.AbstractAsyncContextManager[Watcher]:
    # sweep=False: the stub serves no GET /invoices.
    return open_stack(
        "StatusPoller sweep=False" if name == STATUS_POLLER else name,
        _client(invoice, held=held),
        interval=interval,
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection inside (a teardown that is not measured goes faster)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def _register(poller: Watcher, ids: list[str], task_based: bool) -> None:
    accepted = await poller.watch_many(ids)
    if task_based:
        # One pass of the loop: every new task runs to its first suspension (its sleep).
        await asyncio.sleep(0)
    assert len(accepted) == len(ids)
    del accepted  # the caller's copy of the ids is not the poller's memory


async def _registration(name: str, invoice: Invoice, ids: list[str], *, traced: bool) -> float:
    """Register ``ids`` on a fresh poller: seconds taken, or with ``traced`` bytes kept per watch.

    A full collection first, so that every round starts from the same heap; the
    collector stays on while registering (its work is part of the cost). The
    teardown is not measured.
    """
    gc.collect()
    # StatusPoller lets its scheduler run between slices of a large watch_many(), and
    # first reads come due within a second: with a stub that never answers, at most
    # `concurrency` of them start (and wait) meanwhile, so the time is registration's.
    manager = _open(name, invoice, _PARK_S, held=name == STATUS_POLLER)
    poller = await manager.__aenter__()
    try:
        if not traced:
            started = time.perf_counter()
            await _register(poller, ids, name != STATUS_POLLER)
            return time.perf_counter() - started
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            await _register(poller, ids, name != STATUS_POLLER)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return (after - before) / len(ids)
    finally:
        with _gc_paused():
            await manager.__aexit__(None, None, None)


async def _cost_us(
    name: str, invoice: Invoice, warmup_s: float, round_s: float, rounds: int
) -> list[float]:
    """CPU microseconds per dispatched poll, one value per round of ``round_s``."""
    ids = [f"01{n:064x}" for n in range(_COST_WATCHES)]
    results: list[float] = []
    gc.collect()
    async with _open(name, invoice, _COST_INTERVAL_S) as poller:
        await poller.watch_many(ids)
        await asyncio.sleep(warmup_s)  # the first polls' burst, discarded
        for _ in range(rounds):
            polls, cpu = poller.stats().requests, time.process_time()
            await asyncio.sleep(round_s)  # the polls run meanwhile: this is the measured span
            polls, cpu = poller.stats().requests - polls, time.process_time() - cpu
            results.append(cpu / max(polls, 1) * 1e6)
    return results


def _label(count: int) -> str:
    return f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"


async def _registration_figures(
    invoice: Invoice, sizes: tuple[int, ...], *, quick: bool
) -> list[Figure]:
    budget_s = QUICK_TASK_BUDGET_S if quick else TASK_BUDGET_S
    times: dict[tuple[str, int], Figure] = {}
    memory: dict[tuple[str, int], Figure] = {}
    skipped: dict[int, list[str]] = {}
    per_watch_s: dict[str, float] = {}  # wall time of a whole pass (set-up, teardown) per watch
    for count in sizes:
        ids = [f"01{n:064x}" for n in range(count)]
        rounds = 5 if count <= 10_000 else 3 if count <= 100_000 else 2
        if quick:
            rounds = min(rounds, 3 if count <= 10_000 else 2)
        for name in STACKS:
            if name != STATUS_POLLER and name in per_watch_s:
                # +1: the traced pass, about twice as slow as the others.
                predicted = per_watch_s[name] * count * (rounds + 2)
                if predicted > budget_s:
                    skipped.setdefault(count, []).append(f"{name} (~{predicted:.0f} s)")
                    continue
            started = time.monotonic()
            # The traced pass comes first and doubles as the warm-up: its time is discarded.
            bytes_per_watch = await _registration(name, invoice, ids, traced=True)
            seconds = [await _registration(name, invoice, ids, traced=False) for _ in range(rounds)]
            per_watch_s[name] = (time.monotonic() - started) / (rounds + 2) / count
            task_note = (
                "; until each task made its first stubbed poll" if name != STATUS_POLLER else ""
            )
            times[(name, count)] = Figure(
                suite="poller",
                name=f"{name} register {_label(count)}",
                unit="ms",
                rounds=[s * 1000 for s in seconds],
                note=f"watch_many of {count:,} ids, "
                f"{statistics.median(seconds) / count * 1e6:.2f} us/watch{task_note}",
                higher_is_better=False,
                tags={"plot": "register", "stack": name, "watches": count},
            )
            memory[(name, count)] = Figure(
                suite="poller",
                name=f"{name} memory/watch {_label(count)}",
                unit="B/watch",
                rounds=[bytes_per_watch],
                note="tracemalloc delta / count, one traced pass, ids excluded",
                higher_is_better=False,
                tags={"plot": "memory", "stack": name, "watches": count},
            )
        del ids
    for (name, count), figure in memory.items():
        figure.note += "; " + verdict(figure.median, MEMORY_TARGET_B, "B")
        if name == STATUS_POLLER:
            figure.tags["target"] = MEMORY_TARGET_B
            if count in skipped:
                figure.note += "; skipped as too slow: " + ", ".join(skipped[count])
        elif (STATUS_POLLER, count) in memory:
            ratio = figure.median / memory[(STATUS_POLLER, count)].median
            figure.note += f"; {ratio:.1f}x StatusPoller"
    for (name, count), figure in times.items():
        figure.note += "; no target"
        if name != STATUS_POLLER and (STATUS_POLLER, count) in times:
            ratio = figure.median / times[(STATUS_POLLER, count)].median
            figure.note += f"; {ratio:.1f}x StatusPoller"
        elif count in skipped:
            figure.note += "; skipped as too slow: " + ", ".join(skipped[count])
    return [*times.values(), *memory.values()]


async def run(*, quick: bool) -> list[Figure]:
    invoice = stub_invoice()
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    figures = await _registration_figures(invoice, sizes, quick=quick)
    warmup_s, round_s, rounds = (0.25, 0.2, 3) if quick else (1.0, 0.5, 5)
    costs: dict[str, Figure] = {}
    for name in STACKS:
        costs[name] = Figure(
            suite="poller",
            name=f"{name} CPU per poll",
            unit="us/poll",
            rounds=await _cost_us(name, invoice, warmup_s, round_s, rounds),
            note=f"{_COST_WATCHES // 1000}k watches every {_COST_INTERVAL_S:g} s, stub client",
            higher_is_better=False,
        )
    ours = costs[STATUS_POLLER]
    for name, figure in costs.items():
        figure.note += "; " + verdict(figure.median, POLL_COST_TARGET_US, "us")
        if name != STATUS_POLLER:
            figure.note += f"; {figure.median / ours.median:.2f}x StatusPoller"
    return [*figures, *costs.values()]
