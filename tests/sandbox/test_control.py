"""The control plane (``/sandbox/...``) and the in-process helpers."""

from __future__ import annotations

import aiohttp

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import create_request, fetch, seller


async def set_status(
    http: aiohttp.ClientSession, key: str, status: str
) -> tuple[int, dict[str, object]]:
    async with http.post(f"/sandbox/invoices/{key}/status", json={"status": status}) as response:
        return response.status, await response.json()


async def test_paid_fills_payment_metadata_and_an_event(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("K-1"))
    status, _ = await set_status(http, request["requestId"], "paid")
    assert status == 200
    _, paid = await fetch(http, f"/invoices/{request['requestId']}", seller(sandbox))
    assert paid["status"] == "paid"
    metadata = paid["paymentMetadata"]
    assert set(metadata) == {"txHash", "chainName", "paymentDate", "isManuallyPaid"}
    assert metadata["chainName"] == "matic"
    assert metadata["isManuallyPaid"] is False
    assert paid["events"][-1]["name"] == "paid"


async def test_paid_can_go_back_to_open(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("K-2"))
    await set_status(http, request["id"], "paid")
    status, _ = await set_status(http, request["id"], "open")
    assert status == 200
    _, reverted = await fetch(http, f"/invoices/{request['id']}", seller(sandbox))
    assert reverted["status"] == "open"
    assert reverted["paymentMetadata"] == {}


async def test_control_status_checks_its_input(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("K-3"))
    status, _ = await set_status(http, request["id"], "lost")
    assert status == 400
    status, _ = await set_status(http, "f" * 24, "paid")
    assert status == 404


async def test_seed_creates_on_chain_invoices(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    body = {"count": 3, "status": "open", "network": "live", "dueInSeconds": 60}
    async with http.post("/sandbox/seed", json=body) as response:
        assert response.status == 201
        seeded = (await response.json())["invoices"]
    assert len(seeded) == 3
    for invoice in seeded:
        status, fetched = await fetch(
            http, f"/invoices/{invoice['requestId']}", seller(sandbox, "live")
        )
        assert (status, fetched["status"], fetched["id"]) == (200, "open", invoice["id"])
    async with http.post("/sandbox/seed", json={"count": 0}) as response:
        assert response.status == 400


async def test_seed_invoices_helper_returns_converted_invoices(sandbox: Sandbox) -> None:
    invoices = sandbox.seed_invoices(2, status="paid")
    assert [i["status"] for i in invoices] == ["paid", "paid"]
    assert all(i["requestId"].startswith("01") and i["invoiceLinks"] for i in invoices)
    assert invoices[0]["invoiceNumber"] != invoices[1]["invoiceNumber"]


async def test_stats_count_answers_by_status(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    await fetch(http, "/invoices", seller(sandbox))
    await fetch(http, "/invoices", {})
    _, stats = await fetch(http, "/sandbox/stats", {})
    assert stats["requests"] == 2  # the stats answer itself is counted once it is sent
    assert stats["byStatus"] == {"200": 1, "401": 1}
    assert stats["rateLimited"] == 0
    assert sandbox.request_count == 3
