"""The callback receiver over loopback HTTP: 200 only once handled, dedupe, refusals, size cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web

from reqfin_async.collector import (
    DedupeStore,
    DeliveryKey,
    DisconnectionNotice,
    InvoiceDelivery,
    MemoryDedupe,
    SQLiteDedupe,
    collector_callback_app,
    collector_callback_handler,
)

from .conftest import Recorder, invoice_body, serve, wait_until

LIMIT_BYTES = 4096

DISCONNECTED = msgspec.json.encode(
    {
        "type": "notification_disconnected",
        "collector": {"id": "free", "name": "Free"},
        "credential_id": "c-1",
        "user_id": "u-1",
        "remote_id": "A1",
    }
)


async def post(url: str, body: bytes) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Content-Type": "application/json"}) as answer,
    ):
        return answer.status, await answer.read()


@pytest.fixture
async def recorder_url() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder, max_body_bytes=LIMIT_BYTES)) as url:
        yield recorder, url


# -- handing over --------------------------------------------------------------------------
async def test_an_async_handler_gets_the_delivery_before_the_200(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    status, _ = await post(url, invoice_body("INV-1", data=b"file bytes"))
    assert status == 200
    assert [d.invoice.data for d in recorder.handled] == [b"file bytes"]


async def test_a_sync_handler_works_too() -> None:
    handled: list[InvoiceDelivery] = []
    async with serve(collector_callback_app(handled.append)) as url:
        assert (await post(url, invoice_body()))[0] == 200
    assert len(handled) == 1


async def test_the_handler_mounts_on_a_route_of_your_application() -> None:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/hooks/collector", collector_callback_handler(recorder))
    async with serve(app) as url:
        assert (await post(url + "hooks/collector", invoice_body()))[0] == 200
    assert recorder.calls == 1


# -- deduplication -------------------------------------------------------------------------
async def test_a_redelivery_already_handled_is_acknowledged_without_calling_the_handler(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    first = await post(url, invoice_body("INV-1"))
    again = await post(url, invoice_body("INV-1"))
    other_user = await post(url, invoice_body("INV-1", remote_id="B2"))
    assert [first[0], again[0], other_user[0]] == [200, 200, 200]
    assert msgspec.json.decode(again[1]) == {"received": True, "duplicate": True}
    assert [d.remote_id for d in recorder.handled] == ["A1", "B2"]


async def test_a_failing_handler_answers_500_and_the_redelivery_is_handled(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    recorder.failures_left = 1
    assert (await post(url, invoice_body("INV-1")))[0] == 500
    assert (await post(url, invoice_body("INV-1")))[0] == 200
    assert recorder.calls == 2
    assert len(recorder.handled) == 1


def memory_store(_: Path) -> DedupeStore:
    return MemoryDedupe()


def sqlite_store(tmp_path: Path) -> DedupeStore:
    return SQLiteDedupe(tmp_path / "deliveries.sqlite3")


@pytest.mark.parametrize("make_store", [memory_store, sqlite_store])
async def test_concurrent_redeliveries_of_one_invoice_call_the_handler_once(
    tmp_path: Path, make_store: Callable[[Path], DedupeStore]
) -> None:
    release = asyncio.Event()
    calls: list[str] = []

    async def slow(delivery: InvoiceDelivery) -> None:
        calls.append(delivery.invoice.id)
        await release.wait()

    async with serve(collector_callback_app(slow, dedupe=make_store(tmp_path))) as url:
        posts = [asyncio.create_task(post(url, invoice_body("INV-1"))) for _ in range(5)]
        await wait_until(lambda: bool(calls))
        await asyncio.sleep(0.05)  # the other four are waiting, not handling
        release.set()
        answers = await asyncio.gather(*posts)
    assert [status for status, _ in answers] == [200] * 5
    assert calls == ["INV-1"]


async def test_sqlite_dedupe_survives_a_new_application_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "deliveries.sqlite3"
    first, second = Recorder(), Recorder()
    async with serve(collector_callback_app(first, dedupe=SQLiteDedupe(path))) as url:
        assert (await post(url, invoice_body("INV-1")))[0] == 200
    # A restarted receiver: a new store object and a new application.
    async with serve(collector_callback_app(second, dedupe=SQLiteDedupe(path))) as url:
        assert (await post(url, invoice_body("INV-1")))[0] == 200
        assert (await post(url, invoice_body("INV-2")))[0] == 200
    assert [d.invoice.id for d in first.handled] == ["INV-1"]
    assert [d.invoice.id for d in second.handled] == ["INV-2"]


async def test_sqlite_dedupe_records_a_key_only_after_success(tmp_path: Path) -> None:
    key = DeliveryKey("free", "A1", "INV-1")

    async def fail() -> None:
        raise RuntimeError("boom")

    async def succeed() -> None:
        return None

    async with SQLiteDedupe(tmp_path / "d.sqlite3") as store:
        with pytest.raises(RuntimeError):
            await store.run_once(key, fail)
        assert not await store.contains(key)
        assert await store.run_once(key, succeed)
        assert not await store.run_once(key, succeed)


async def test_memory_dedupe_forgets_the_oldest_keys_past_its_bound() -> None:
    store = MemoryDedupe(max_keys=2)
    keys = [DeliveryKey("free", "A1", f"INV-{n}") for n in range(3)]
    for key in keys:
        await store.add(key)
    assert len(store) == 2
    assert not await store.contains(keys[0])
    assert await store.contains(keys[2])


# -- disconnection notices -------------------------------------------------------------------
async def test_a_disconnection_notice_reaches_its_handler() -> None:
    notices: list[DisconnectionNotice] = []
    recorder = Recorder()
    async with serve(collector_callback_app(recorder, on_disconnected=notices.append)) as url:
        assert (await post(url, DISCONNECTED))[0] == 200
    assert [(n.remote_id, n.credential_id, n.collector.id) for n in notices] == [
        ("A1", "c-1", "free")
    ]
    assert recorder.calls == 0


async def test_a_disconnection_notice_without_a_handler_is_acknowledged(
    recorder_url: tuple[Recorder, str],
) -> None:
    assert (await post(recorder_url[1], DISCONNECTED))[0] == 200


async def test_a_failing_disconnection_handler_answers_500() -> None:
    def broken(_: DisconnectionNotice) -> None:
        raise RuntimeError("mailer down")

    async with serve(collector_callback_app(Recorder(), on_disconnected=broken)) as url:
        assert (await post(url, DISCONNECTED))[0] == 500


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b"{oops",
        b'{"type": "something_new"}',
        invoice_body().replace(b'"data":"', b'"data":"%%'),
    ],
)
async def test_a_malformed_body_is_refused_with_400_and_the_handler_not_called(
    recorder_url: tuple[Recorder, str], body: bytes
) -> None:
    recorder, url = recorder_url
    assert (await post(url, body))[0] == 400
    assert recorder.calls == 0


async def raw_exchange(url: str, head: bytes, parts: list[bytes]) -> bytes:
    """Send a request by hand (head, then body parts, never finished); return the status line."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        for part in parts:
            writer.write(part)
        await writer.drain()
        # The answer comes although the body is incomplete: it was not read to the end.
        return await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()


async def test_a_declared_length_over_the_cap_is_refused_413_without_reading_the_body(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    status_line = await raw_exchange(url, head, [b'{"type": "invoice"'])
    assert status_line.startswith(b"HTTP/1.1 413")
    assert recorder.calls == 0


async def test_a_chunked_body_is_cut_off_as_soon_as_it_goes_over_the_cap(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 1024
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 6  # 6 kB, over the 4 kB cap, no end chunk
    status_line = await raw_exchange(url, head, parts)
    assert status_line.startswith(b"HTTP/1.1 413")
    assert recorder.calls == 0


async def test_an_oversized_body_through_a_client_gets_413(
    recorder_url: tuple[Recorder, str],
) -> None:
    recorder, url = recorder_url
    status, _ = await post(url, invoice_body(data=b"x" * LIMIT_BYTES))
    assert status == 413
    assert recorder.calls == 0
