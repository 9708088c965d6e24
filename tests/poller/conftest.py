"""Shared fixtures for the poller tests: an in-process sandbox, clients pointed at it,
and small helpers that watch the HTTP traffic between the poller and the sandbox."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from reqfin_async import ApiKeyAuth, RequestFinanceClient
from reqfin_async.models.invoice import Invoice
from reqfin_async.poller import StatusChange, StatusPoller, WatchResult
from reqfin_async.sandbox import Sandbox, SandboxConfig
from reqfin_async.webhooks import WebhookEvent, WebhookEventType

# The name of the event the sandbox appends to an invoice -> the status it reached.
EVENT_STATUS = {
    "accept": "accepted",
    "reject": "rejected",
    "cancel": "canceled",
    "declarePaid": "declaredPaid",
    "paid": "paid",
}
FINAL_STATUSES = frozenset(("paid", "rejected", "canceled"))


def fast_config(**overrides: Any) -> SandboxConfig:
    """A sandbox configuration with short delays (and the given overrides)."""
    fields: dict[str, Any] = {"pending_delay_s": 0.05, "change_delay_s": 0.05, "seed": 7}
    fields.update(overrides)
    return SandboxConfig(**fields)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(fast_config()) as running:
        yield running


@asynccontextmanager
async def open_client(
    sandbox: Sandbox,
    *,
    key: str | None = None,
    organization: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> AsyncIterator[RequestFinanceClient]:
    """A client of the sandbox's seller (or of ``key``), closed on exit."""
    auth = ApiKeyAuth(key if key is not None else sandbox.config.api_key)
    async with RequestFinanceClient(
        auth, network="test", base_url=sandbox.url, organization=organization, session=session
    ) as client:
        yield client


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[RequestFinanceClient]:
    async with open_client(sandbox) as opened:
        yield opened


def seed(sandbox: Sandbox, count: int, **options: Any) -> list[str]:
    """``count`` open invoices of the seller, by requestId."""
    return [str(row["requestId"]) for row in sandbox.seed_invoices(count, **options)]


async def wait_until(
    check: Callable[[], bool], *, timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.005)


def webhook_event(
    invoice: Invoice, event: WebhookEventType = WebhookEventType.PAID
) -> WebhookEvent:
    """The webhook the API would send for ``invoice``."""
    return WebhookEvent(
        variant="rnf_invoice", event=event, timestamp=datetime.now(UTC), invoice=invoice
    )


def sandbox_status(sandbox: Sandbox, key: str) -> str | None:
    """The status the sandbox holds for an invoice (the truth the poller must find)."""
    record = sandbox.state.find_anywhere(key)
    assert record is not None, key
    return record.status


def sandbox_path(sandbox: Sandbox, key: str) -> list[str]:
    """Every status the invoice went through since it opened, from the sandbox's events."""
    record = sandbox.state.find_anywhere(key)
    assert record is not None, key
    path = ["open"]
    for event in record.data.get("events", ()):
        status = EVENT_STATUS.get(event["name"])
        if status is not None:
            path.append(status)
    return path


def expected_reason(sandbox: Sandbox, key: str) -> str:
    """The reason a watch of ``key`` must end with, by the sandbox's final state.

    Only for scenarios where every final change happens well before the due date.
    """
    status = sandbox_status(sandbox, key)
    return status if status in FINAL_STATUSES else "overdue"


def chains(changes: Sequence[StatusChange]) -> dict[str, list[StatusChange]]:
    by_key: dict[str, list[StatusChange]] = {}
    for change in changes:
        by_key.setdefault(change.key, []).append(change)
    return by_key


def assert_consistent(changes: Sequence[StatusChange]) -> None:
    """No transition twice, and per invoice each change starts where the last one ended."""
    for key, chain in chains(changes).items():
        for before, after in itertools.pairwise(chain):
            assert after.old_status == before.new_status, (key, before, after)
        assert sum(c.final for c in chain) <= 1, key
        assert all(not c.final for c in chain[:-1]), key
        steps = [(c.old_status, c.new_status) for c in chain]
        assert len(steps) == len(set(steps)), (key, steps)


def observed_path(chain: Sequence[StatusChange]) -> list[str]:
    """The statuses a chain of changes went through, its first old status included."""
    assert chain
    first = chain[0].old_status
    return [first.value if first is not None else "?"] + [
        c.new_status.value for c in chain if c.new_status is not None
    ]


def is_subsequence(small: Sequence[str], big: Sequence[str]) -> bool:
    it = iter(big)
    return all(item in it for item in small)


@dataclass
class Recorder:
    """Collects what a poller reports through its callbacks."""

    changes: list[StatusChange] = field(default_factory=list)
    results: list[WatchResult] = field(default_factory=list)

    def on_change(self, change: StatusChange) -> None:
        self.changes.append(change)

    def on_finish(self, result: WatchResult) -> None:
        self.results.append(result)

    def reached(self, status: str) -> Callable[[], bool]:
        """A check: the last change reported ended in ``status``."""
        return lambda: bool(self.changes) and self.changes[-1].new_status == status

    def reasons(self) -> dict[str, str]:
        return {r.key: r.reason.value for r in self.results}


@dataclass
class Traffic:
    """What went over the wire: GETs per invoice, lists, overlaps; optional delay and faults."""

    gets: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    sent_at: dict[str, list[float]] = field(default_factory=dict)
    lists: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    overlaps: list[str] = field(default_factory=list)
    answer_delay_s: float = 0.0
    failing: bool = False

    async def middleware(
        self,
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        path = request.url.path
        if request.method != "GET" or not path.startswith("/invoices"):
            return await handler(request)
        if path == "/invoices":
            self.lists += 1
            return await handler(request)
        key = path.rsplit("/", 1)[1]
        self.gets[key] += 1
        self.sent_at.setdefault(key, []).append(time.monotonic())
        self.in_flight[key] += 1
        if self.in_flight[key] > 1:
            self.overlaps.append(key)
        try:
            if self.failing:
                raise aiohttp.ClientConnectionError("injected network failure")
            response = await handler(request)
            self.answered[key] += 1
            if self.answer_delay_s:
                # The server has answered; the answer takes this long to come back.
                await asyncio.sleep(self.answer_delay_s)
            return response
        finally:
            self.in_flight[key] -= 1

    @property
    def total_gets(self) -> int:
        return sum(self.gets.values())


@asynccontextmanager
async def traced_client(
    sandbox: Sandbox,
    traffic: Traffic,
    *,
    response_class: type[aiohttp.ClientResponse] = aiohttp.ClientResponse,
) -> AsyncIterator[RequestFinanceClient]:
    """A client whose requests go through ``traffic``'s middleware."""
    async with (
        aiohttp.ClientSession(
            middlewares=(traffic.middleware,), response_class=response_class
        ) as session,
        open_client(sandbox, session=session) as client,
    ):
        yield client


def hiding_list_answers(hidden: set[str]) -> type[aiohttp.ClientResponse]:
    """A response class that leaves the invoices in ``hidden`` out of every ``GET /invoices``
    page, as for invoices the account's listing does not return."""

    class HidingResponse(aiohttp.ClientResponse):
        async def read(self) -> bytes:
            body = await super().read()
            if self.method != "GET" or self.url.path != "/invoices" or self.status != 200:
                return body
            page: Any = json.loads(body)
            rows = page["invoices"] if isinstance(page, dict) else page
            kept = [r for r in rows if r.get("requestId") not in hidden and r["id"] not in hidden]
            if isinstance(page, dict):
                page["invoices"] = kept
            else:
                page = kept
            return json.dumps(page).encode()

    return HidingResponse


@dataclass
class ThreadedSandbox:
    url: str
    api_key: str
    request_ids: list[str]


@contextmanager
def sandbox_in_thread(config: SandboxConfig, invoices: int) -> Iterator[ThreadedSandbox]:
    """A sandbox served by its own event loop in another thread, so that the test's
    loop holds nothing but the client side (for counting tasks left behind)."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with Sandbox(config) as running:
            box["info"] = ThreadedSandbox(running.url, config.api_key, seed(running, invoices))
            stop = asyncio.Event()
            box["stop"] = stop
            box["loop"] = asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the threaded sandbox did not start"
    try:
        yield box["info"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


def make_poller(client: RequestFinanceClient, **options: Any) -> StatusPoller:
    """A poller with test-sized intervals (overridable)."""
    settings: dict[str, Any] = {"interval": 0.1, "overdue_grace_s": 0.05, "seed": 1}
    settings.update(options)
    return StatusPoller(client, **settings)


def foreign_organization(sandbox: Sandbox) -> str:
    """An organization the seller is not a member of."""
    return next(
        org.id
        for org in sandbox.state.organizations.values()
        if sandbox.main_user.id not in org.members
    )
