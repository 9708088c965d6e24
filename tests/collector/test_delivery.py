"""End to end: the sandbox's callback deliveries reach the receiver over loopback HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from reqfin_async.collector import (
    CollectorBadRequestError,
    DedupeStore,
    DisconnectionNotice,
    InvoiceCollectorClient,
    MemoryDedupe,
    SQLiteDedupe,
    collector_callback_app,
)
from reqfin_async.sandbox.collector import (
    PDF,
    PNG,
    CollectorSandbox,
    CollectorSandboxConfig,
    CollectReport,
)

from .conftest import FAST, RETRY_DELAY_S, Recorder, serve, user_with_collector, wait_until


@dataclass
class CountingReceiver:
    """A callback that answers ``status`` and notes when each try arrived."""

    status: int = 204
    arrivals: list[float] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append(time.monotonic())
        return web.Response(status=self.status)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app


@pytest.mark.parametrize("mimetype", [PDF, PNG])
async def test_a_collected_invoice_reaches_on_invoice_with_the_exact_file(
    server: CollectorSandbox, client: InvoiceCollectorClient, mimetype: str
) -> None:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        credential = await user_with_collector(
            client, server, "A1", collector="ovh", invoices=2, mimetype=mimetype
        )
        assert await server.collect() == CollectReport(delivered=2, failed=0)
    sent = {invoice.id: invoice for invoice in credential.invoices}
    assert {d.invoice.id for d in recorder.handled} == set(sent)
    for delivery in recorder.handled:
        source = sent[delivery.invoice.id]
        assert delivery.invoice.data == source.data
        assert delivery.invoice.mimetype == mimetype
        assert delivery.invoice.amount == source.amount
        assert delivery.invoice.timestamp.timestamp() * 1000 == pytest.approx(source.timestamp_ms)
        assert (delivery.remote_id, delivery.collector.id) == ("A1", "ovh")
        assert delivery.collector.name == "OVHcloud"
    signature = b"%PDF-" if mimetype == PDF else b"\x89PNG\r\n\x1a\n"
    assert all(d.invoice.data.startswith(signature) for d in recorder.handled)


async def test_an_invoice_without_an_amount_is_delivered_without_one(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        await user_with_collector(client, server, "A1", amount=None)
        await server.collect()
    assert [d.invoice.amount for d in recorder.handled] == [None]


async def test_a_204_answer_gets_three_tries_then_the_invoice_comes_again_next_collection(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    receiver = CountingReceiver(status=204)
    async with serve(receiver.app()) as url:
        await client.update_customer(callback=url)
        await user_with_collector(client, server, "A1")
        assert await server.collect() == CollectReport(delivered=0, failed=1)
        assert len(receiver.arrivals) == 3
        gaps = [b - a for a, b in zip(receiver.arrivals, receiver.arrivals[1:], strict=False)]
        assert all(gap >= RETRY_DELAY_S * 0.9 for gap in gaps)
        assert [a.status for a in server.attempts] == [204, 204, 204]

        receiver.status = 200
        assert await server.collect() == CollectReport(delivered=1, failed=0)
        assert len(receiver.arrivals) == 4
        # Acknowledged now: a third collection has nothing to send.
        assert await server.collect() == CollectReport(delivered=0, failed=0)


def lose_first_answers(count: int) -> Middleware:
    """A middleware playing a proxy that loses the first ``count`` answers (a 504 instead)."""
    left = [count]

    @web.middleware
    async def lossy(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if left[0]:
            left[0] -= 1
            return web.Response(status=504)
        return response

    return lossy


@pytest.mark.parametrize("durable", [False, True])
async def test_an_invoice_redelivered_after_a_lost_answer_is_handled_once(
    server: CollectorSandbox, client: InvoiceCollectorClient, tmp_path: Path, durable: bool
) -> None:
    recorder = Recorder()
    store: DedupeStore = SQLiteDedupe(tmp_path / "d.sqlite3") if durable else MemoryDedupe()
    outer = web.Application(middlewares=[lose_first_answers(1)])
    outer.add_subapp("/collector/", collector_callback_app(recorder, dedupe=store))
    async with serve(outer) as url:
        await client.update_customer(callback=url + "collector/")
        await user_with_collector(client, server, "A1")
        assert await server.collect() == CollectReport(delivered=1, failed=0)
    assert [a.status for a in server.attempts] == [504, 200]
    assert recorder.calls == 1


async def test_a_raising_handler_gets_the_invoice_again_on_the_next_try(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    recorder = Recorder(failures_left=1)
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        await user_with_collector(client, server, "A1")
        assert await server.collect() == CollectReport(delivered=1, failed=0)
    assert [a.status for a in server.attempts] == [500, 200]
    assert recorder.calls == 2
    assert len(recorder.handled) == 1


async def test_an_invoice_failed_on_every_try_is_handled_at_the_next_collection(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    recorder = Recorder(failures_left=3)
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        await user_with_collector(client, server, "A1")
        assert await server.collect() == CollectReport(delivered=0, failed=1)
        assert await server.collect() == CollectReport(delivered=1, failed=0)
    assert recorder.calls == 4
    assert len(recorder.handled) == 1


async def test_test_callback_sends_a_fake_invoice_to_the_receiver(
    client: InvoiceCollectorClient,
) -> None:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        await client.test_callback()
    [delivery] = recorder.handled
    assert delivery.invoice.data.startswith(b"%PDF-")
    assert delivery.invoice.amount == "$93.50"


async def test_test_callback_to_a_204_receiver_reports_the_failure(
    client: InvoiceCollectorClient,
) -> None:
    async with serve(CountingReceiver(status=204).app()) as url:
        await client.update_customer(callback=url)
        with pytest.raises(CollectorBadRequestError, match="status code 204"):
            await client.test_callback()


async def test_a_disconnection_notice_reaches_on_disconnected(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    notices: list[DisconnectionNotice] = []
    async with serve(collector_callback_app(Recorder(), on_disconnected=notices.append)) as url:
        await client.update_customer(callback=url)
        credential = await user_with_collector(client, server, "A1", collector="orange")
        assert await server.disconnect(credential)
    [notice] = notices
    assert (notice.remote_id, notice.credential_id) == ("A1", credential.id)
    assert notice.user_id == server.users["A1"].id
    assert notice.collector.id == "orange"


async def test_the_control_plane_collects_in_the_background(
    server: CollectorSandbox, client: InvoiceCollectorClient
) -> None:
    recorder = Recorder()
    async with serve(collector_callback_app(recorder)) as url:
        await client.update_customer(callback=url)
        await client.create_user_token(email="ann@acme.example", remote_id="A1")
        async with aiohttp.ClientSession(server.origin) as http:
            async with http.post(
                "/sandbox/users/A1/collectors", json={"collector": "amazon", "invoices": 3}
            ) as added:
                assert added.status == 201
                credential = await added.json()
            async with http.post("/sandbox/collect") as started:
                assert (started.status, await started.json()) == (202, {"queued": 3})
            await wait_until(lambda: len(recorder.handled) == 3)
            async with http.get("/sandbox/deliveries") as log:
                assert [a["status"] for a in await log.json()] == [200, 200, 200]
    assert {d.invoice.id for d in recorder.handled} == {i["id"] for i in credential["invoices"]}


async def test_no_task_is_left_behind_when_the_sandbox_stops_mid_delivery() -> None:
    receiver = CountingReceiver(status=204)
    config = CollectorSandboxConfig(retry_delay_s=30.0)  # the delivery sleeps between tries
    before = asyncio.all_tasks()
    async with serve(receiver.app()) as url:
        async with CollectorSandbox(config) as server:
            async with InvoiceCollectorClient(server.url, server.bearer) as ic:
                await ic.update_customer(callback=url)
                await user_with_collector(ic, server, "A1", invoices=2)
            assert server.collect_in_background() == 2
            await wait_until(lambda: len(receiver.arrivals) == 2)
            assert server.background_tasks == 1
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 2.0
        assert server.background_tasks == 0
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


async def test_a_fast_config_is_what_the_suite_runs_with() -> None:
    # Guard for the suite's runtime: the default 10 s delay must not leak into the tests.
    assert FAST.retry_delay_s == RETRY_DELAY_S < 1.0
    assert CollectorSandboxConfig().retry_delay_s == 10.0
