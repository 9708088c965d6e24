"""Regression tests for the collector's hardening fixes: the status errors 409/422/429,
redaction before truncation, a dedupe store that fails to record, concurrent SQLite
opens, base-URL checks that never echo a token, an unsafe test callback, unreadable
request bodies and sandbox delivery errors without the callback's token."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reqfin_async import RetryPolicy
from reqfin_async._sqlite import SQLiteDatabase
from reqfin_async.collector import (
    CollectorBadRequestError,
    CollectorConflictError,
    CollectorRateLimitError,
    CollectorServerError,
    CollectorStatusError,
    DeliveryKey,
    InvoiceCollectorClient,
    MemoryDedupe,
    SQLiteDedupe,
    collector_callback_app,
)
from reqfin_async.collector.errors import collector_status_error, server_message
from reqfin_async.errors import (
    APIStatusError,
    BadRequestError,
    ConflictError,
    RateLimitError,
)
from reqfin_async.sandbox.collector import CollectorSandbox
from tests.fakeapi import FakeAPI, garbage_port, refused_port, reply, text_reply

from .conftest import FAST, Recorder, invoice_body, serve

BEARER = "fake-collector-bearer"
NO_RETRY = RetryPolicy.none()
QUICK_RETRY = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_cap_s=0.02)


@pytest.fixture
async def api() -> AsyncIterator[FakeAPI]:
    async with FakeAPI() as running:
        yield running


def collector_on(api: FakeAPI, retry: RetryPolicy = NO_RETRY) -> InvoiceCollectorClient:
    return InvoiceCollectorClient(api.url + "/api/v1", BEARER, retry=retry)


def error_body(message: str) -> dict[str, str]:
    return {"type": "error", "message": message}


# -- 1. 409, 422 and 429 have their own classes ------------------------------------------------
async def test_a_409_is_a_conflict_error(api: FakeAPI) -> None:
    api.add("POST", "/api/v1/user", reply(error_body("User already exists."), status=409))
    async with collector_on(api) as ic:
        with pytest.raises(CollectorConflictError) as caught:
            await ic.create_user_token(email="ann@acme.example", remote_id="A1")
    assert isinstance(caught.value, ConflictError)
    assert isinstance(caught.value, CollectorStatusError)
    assert caught.value.status_code == 409
    assert caught.value.message == "User already exists."
    assert str(caught.value) == "POST /user -> 409 Conflict: User already exists."


async def test_a_422_is_a_bad_request_error(api: FakeAPI) -> None:
    api.add("POST", "/api/v1/customer", reply(error_body("Invalid callback."), status=422))
    async with collector_on(api) as ic:
        with pytest.raises(CollectorBadRequestError) as caught:
            await ic.update_customer(callback="https://erp.example/cb")
    assert isinstance(caught.value, BadRequestError)
    assert caught.value.status_code == 422
    assert caught.value.message == "Invalid callback."


async def test_a_429_is_a_rate_limit_error_with_its_retry_after(api: FakeAPI) -> None:
    api.add(
        "GET",
        "/api/v1/customer",
        reply(error_body("Too many requests."), status=429, headers={"Retry-After": "7"}),
    )
    async with collector_on(api) as ic:
        with pytest.raises(CollectorRateLimitError) as caught:
            await ic.get_customer()
    assert isinstance(caught.value, RateLimitError)
    assert isinstance(caught.value, CollectorStatusError)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 7.0
    assert caught.value.message == "Too many requests."
    assert len(api.calls("GET", "/api/v1/customer")) == 1


def test_collector_status_error_maps_each_status_to_its_class() -> None:
    def mapped(status: int, **extra: Any) -> CollectorStatusError:
        if status == 429:
            core: APIStatusError = RateLimitError(
                method="GET", path="/customer", body=error_body("slow down"), **extra
            )
        else:
            core = APIStatusError(
                method="GET", path="/customer", status_code=status, body=error_body("m")
            )
        return collector_status_error(core)

    assert type(mapped(409)) is CollectorConflictError
    assert type(mapped(422)) is CollectorBadRequestError
    limited = mapped(429, retry_after=2.5)
    assert type(limited) is CollectorRateLimitError
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 2.5
    assert limited.message == "slow down"
    unhinted = mapped(429)
    assert isinstance(unhinted, CollectorRateLimitError)
    assert unhinted.retry_after is None
    # The others keep their earlier classes.
    assert type(mapped(418)) is CollectorStatusError
    assert type(mapped(502)) is CollectorServerError


# -- 2. redaction happens before the cut ---------------------------------------------------------
SECRET = "SECRETVALUE" * 5
PAIR = '"access_token": "'


def straddling(prefix_chars: int = 270) -> str:
    """A sentence whose ``"access_token": "<secret>"`` pair spans the 300-char cut.

    The secret starts at ``prefix_chars + 18``: from 230 to 281, the cut falls inside it.
    """
    return "x" * prefix_chars + " " + PAIR + SECRET + '" and more words after it' + "y" * 100


def shown_after_the_key(text: str) -> str:
    """What follows ``"access_token": "`` in ``text``, without the ellipsis of the cut."""
    return text.split(PAIR, 1)[1].removesuffix("…")


@pytest.mark.parametrize("prefix_chars", [230, 270, 281])
def test_server_message_redacts_a_secret_the_cut_would_split(prefix_chars: int) -> None:
    message = server_message(error_body(straddling(prefix_chars)))
    assert message is not None
    assert message.endswith("…")
    assert len(message) == 301  # still capped: 300 characters and the ellipsis
    shown = shown_after_the_key(message)
    # Either the marker, whole or cut, or nothing at all: never a character of the secret.
    assert "[redacted]".startswith(shown) or shown.startswith("[redacted]")


async def test_a_secret_across_the_cut_never_shows_in_the_error(api: FakeAPI) -> None:
    api.add("GET", "/api/v1/customer", text_reply(straddling(), status=400))
    async with collector_on(api) as ic:
        with pytest.raises(CollectorBadRequestError) as caught:
            await ic.get_customer()
    assert caught.value.message is not None
    for text in (str(caught.value), caught.value.message):
        shown = shown_after_the_key(text)
        assert SECRET[:2] not in shown
        assert "[redacted]".startswith(shown) or shown.startswith("[redacted]")


# -- 3. a store that cannot record a handled delivery ------------------------------------------
class UnrecordingDedupe(MemoryDedupe):
    """A store whose ``add`` fails (a full disk, a lost database connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_calls = 0

    async def add(self, key: DeliveryKey) -> None:
        self.add_calls += 1
        raise OSError("disk full")


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event_name", None) == name]


async def test_run_once_reports_a_handled_delivery_it_could_not_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="reqfin_async")
    store = UnrecordingDedupe()
    key = DeliveryKey("free", "A1", "INV-1")
    handled: list[str] = []

    async def handle() -> None:
        handled.append(key.invoice_id)

    assert await store.run_once(key, handle) is True
    assert handled == ["INV-1"]
    assert store.add_calls == 1
    [record] = events(caplog, "collector_dedupe_record_failed")
    assert record.levelno == logging.ERROR
    assert getattr(record, "invoice_id", None) == "INV-1"
    assert "disk full" in str(getattr(record, "error", ""))


async def test_the_receiver_answers_200_when_the_store_cannot_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="reqfin_async")
    recorder = Recorder()
    store = UnrecordingDedupe()
    async with (
        serve(collector_callback_app(recorder, dedupe=store)) as url,
        aiohttp.ClientSession() as http,
        http.post(url, data=invoice_body("INV-1")) as answer,
    ):
        # A 500 would have the collector deliver again, and the handler run twice.
        assert answer.status == 200
        assert await answer.json() == {"received": True, "duplicate": False}
    assert recorder.calls == 1
    assert len(recorder.handled) == 1
    assert events(caplog, "collector_dedupe_record_failed")
    assert not events(caplog, "collector_handler_failed")


# -- 4. concurrent opens make one connection ---------------------------------------------------
@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every connection ``sqlite3.connect`` makes from now on (it runs in worker threads)."""
    made: list[sqlite3.Connection] = []
    lock = threading.Lock()
    real_connect = sqlite3.connect

    def counting(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        with lock:
            made.append(conn)
        return conn

    monkeypatch.setattr(sqlite3, "connect", counting)
    return made


def is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


async def test_concurrent_opens_of_one_database_make_one_connection(
    tmp_path: Path, connections: list[sqlite3.Connection]
) -> None:
    db = SQLiteDatabase(tmp_path / "d.sqlite3", schema="CREATE TABLE IF NOT EXISTS t (x);")
    await asyncio.gather(*(db.open() for _ in range(5)))
    assert len(connections) == 1
    assert db.is_open
    assert await db.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()) == (0,)
    await db.close()
    assert all(is_closed(conn) for conn in connections)  # nothing left open behind close()


async def test_racing_first_uses_of_a_sqlite_dedupe_make_one_connection(
    tmp_path: Path, connections: list[sqlite3.Connection]
) -> None:
    store = SQLiteDedupe(tmp_path / "deliveries.sqlite3")
    key = DeliveryKey("free", "A1", "INV-1")
    calls: list[Awaitable[object]] = [store.open(), store.open()]
    calls += [store.contains(key) for _ in range(3)]
    await asyncio.gather(*calls)
    assert len(connections) == 1
    await store.close()
    assert all(is_closed(conn) for conn in connections)


# -- 5. base URL checks ------------------------------------------------------------------------
def test_a_base_url_with_a_token_in_its_query_is_refused_without_showing_it() -> None:
    with pytest.raises(ValueError, match="query") as caught:
        InvoiceCollectorClient("http://localhost:8080/api/v1/ui?token=SECRET123", BEARER)
    assert "SECRET123" not in str(caught.value)


def test_allow_insecure_http_accepts_a_private_name() -> None:
    url = "http://collector:8080/api/v1"
    assert InvoiceCollectorClient(url, BEARER, allow_insecure_http=True).base_url == url


@pytest.mark.parametrize(
    ("url", "allow", "problem", "shown"),
    [
        # The URL in the message is the one passed (with its token hidden), never an https one.
        (
            "http://collector:8080/api/v1?token=SECRET123",
            True,
            "query",
            "http://collector:8080/api/v1?token=",
        ),
        ("http://collector:8080/api/v1#frag", True, "fragment", "http://collector:8080/api/v1"),
        ("http://8.8.8.8/api/v1", True, "public address", "8.8.8.8"),
        ("http://collector:8080/api/v1", False, "loopback", "http://collector:8080/api/v1"),
        (
            "http://collector:8080/api/v1?token=SECRET123",
            False,
            "loopback",
            "http://collector:8080/api/v1?token=",
        ),
    ],
)
def test_a_refused_base_url_error_names_the_problem_and_shows_only_what_was_passed(
    url: str, allow: bool, problem: str, shown: str
) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        InvoiceCollectorClient(url, BEARER, allow_insecure_http=allow)
    text = str(caught.value)
    assert shown in text
    assert "https://" not in text
    assert "SECRET123" not in text


# -- 6. the test callback is never resent after a doubtful failure ----------------------------
async def test_test_callback_is_not_retried_on_a_503(api: FakeAPI) -> None:
    api.add("GET", "/api/v1/test_callback", reply(503))
    async with collector_on(api, QUICK_RETRY) as ic:
        with pytest.raises(CollectorServerError):
            await ic.test_callback()
    assert len(api.calls("GET", "/api/v1/test_callback")) == 1


async def test_get_customer_is_retried_on_a_503(api: FakeAPI) -> None:
    api.add("GET", "/api/v1/customer", reply(503))
    async with collector_on(api, QUICK_RETRY) as ic:
        with pytest.raises(CollectorServerError):
            await ic.get_customer()
    assert len(api.calls("GET", "/api/v1/customer")) == QUICK_RETRY.max_attempts


async def test_test_callback_is_retried_when_a_503_says_when_to_come_back(api: FakeAPI) -> None:
    # The server said it did not act: sending again cannot deliver twice.
    api.add("GET", "/api/v1/test_callback", reply(503, headers={"Retry-After": "0"}), reply(200))
    async with collector_on(api, QUICK_RETRY) as ic:
        await ic.test_callback()
    assert len(api.calls("GET", "/api/v1/test_callback")) == 2


# -- 7. an unreadable request body is the sender's fault ---------------------------------------
@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder)) as url:
        yield recorder, url


async def test_a_body_that_is_not_the_gzip_it_claims_is_refused_with_400(
    receiver: tuple[Recorder, str],
) -> None:
    recorder, url = receiver
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=invoice_body(), headers=headers) as answer,
    ):
        assert answer.status == 400
    assert recorder.calls == 0


async def test_a_body_that_is_not_the_deflate_it_claims_is_refused_with_400(
    receiver: tuple[Recorder, str],
) -> None:
    recorder, url = receiver
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    body = b"abcdefgh"
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 400")
    assert recorder.calls == 0


# -- 8. the collector sandbox's delivery errors hide the callback's token -----------------------
CALLBACK_TOKEN = "CB-SECRET-4242"


@pytest.mark.parametrize(
    ("callback_port", "names_url"),
    [
        pytest.param(refused_port, False, id="refused"),
        # aiohttp's ClientResponseError names the whole URL, query and all.
        pytest.param(garbage_port, True, id="not-http"),
    ],
)
async def test_a_failed_callback_delivery_is_recorded_without_the_urls_token(
    caplog: pytest.LogCaptureFixture,
    callback_port: Callable[[], AbstractAsyncContextManager[int]],
    names_url: bool,
) -> None:
    caplog.set_level(logging.WARNING, logger="reqfin_async.sandbox")
    async with callback_port() as port:
        callback = f"http://127.0.0.1:{port}/cb?token={CALLBACK_TOKEN}"
        async with (
            CollectorSandbox(replace(FAST, callback=callback)) as server,
            InvoiceCollectorClient(server.url, server.bearer, retry=NO_RETRY) as ic,
        ):
            with pytest.raises(CollectorBadRequestError) as caught:
                await ic.test_callback()
            [attempt] = server.attempts
    assert attempt.status is None
    assert attempt.error is not None
    if names_url:
        assert "token=[redacted]" in attempt.error
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "callback try 1" in logged
    for text in (attempt.error, logged, str(caught.value)):
        assert CALLBACK_TOKEN not in text
