"""Accept, reject and cancel: who may, from which status, and when it applies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import buyer, create, create_request, fetch, seller, wait_for_status


async def change(
    http: aiohttp.ClientSession, headers: dict[str, str], key: str, body: dict[str, Any]
) -> tuple[int, Any]:
    async with http.post(f"/invoices/{key}/changes", json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_accept_answers_a_pending_change_record(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-1"))
    status, record = await change(http, buyer(sandbox), request["requestId"], {"type": "accept"})
    assert status == 201
    assert set(record) == {
        "id", "requestId", "actionType", "input", "networkType", "chainName", "userId",
        "timestamp", "status", "sendNotification",
    }  # fmt: skip
    assert record["actionType"] == "accept"
    assert record["input"] == {}
    assert record["status"] == "pending"
    assert record["sendNotification"] is False
    assert record["networkType"] == "test"
    assert record["chainName"] == "matic"
    assert record["userId"] == sandbox.state.buyer_user.id


async def test_change_is_applied_after_the_delay_with_an_event(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    async with (
        make_sandbox(change_delay_s=0.5) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        request = await create_request(http, seller(sandbox), invoice_body("C-2"))
        await change(http, buyer(sandbox), request["requestId"], {"type": "accept"})
        _, right_after = await fetch(http, f"/invoices/{request['requestId']}", seller(sandbox))
        assert right_after["status"] == "open"
        accepted = await wait_for_status(http, seller(sandbox), request["requestId"], "accepted")
    assert accepted["events"][-1]["name"] == "accept"
    assert accepted["events"][-1]["userId"] == sandbox.state.buyer_user.id


async def test_reject_needs_a_note(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-3"))
    status, body = await change(http, buyer(sandbox), request["requestId"], {"type": "reject"})
    assert (status, body["statusCode"]) == (400, 400)
    reject = {"type": "reject", "input": {"note": "Duplicate"}}
    status, record = await change(http, buyer(sandbox), request["requestId"], reject)
    assert status == 201
    assert record["input"] == {"note": "Duplicate"}
    await wait_for_status(http, seller(sandbox), request["requestId"], "rejected")


async def test_accept_by_seller_is_forbidden(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-4"))
    status, body = await change(http, seller(sandbox), request["requestId"], {"type": "accept"})
    assert (status, body["statusCode"]) == (403, 403)


async def test_cancel_by_buyer_is_forbidden(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-5"))
    status, _ = await change(http, buyer(sandbox), request["requestId"], {"type": "cancel"})
    assert status == 403


async def test_accept_only_from_open(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-6"))
    await change(http, buyer(sandbox), request["requestId"], {"type": "accept"})
    await wait_for_status(http, seller(sandbox), request["requestId"], "accepted")
    status, _ = await change(http, buyer(sandbox), request["requestId"], {"type": "accept"})
    assert status == 400


async def test_cancel_works_from_accepted(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-7"))
    await change(http, buyer(sandbox), request["requestId"], {"type": "accept"})
    await wait_for_status(http, seller(sandbox), request["requestId"], "accepted")
    status, _ = await change(http, seller(sandbox), request["requestId"], {"type": "cancel"})
    assert status == 201
    canceled = await wait_for_status(http, seller(sandbox), request["requestId"], "canceled")
    assert canceled["events"][-1]["name"] == "cancel"


async def test_final_statuses_take_no_change(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-8"))
    sandbox.set_status(request["requestId"], "paid")
    status, _ = await change(http, seller(sandbox), request["requestId"], {"type": "cancel"})
    assert status == 400


async def test_off_chain_invoice_takes_no_change(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    invoice = await create(http, seller(sandbox), invoice_body("C-9"))
    status, _ = await change(http, seller(sandbox), invoice["id"], {"type": "cancel"})
    assert status == 400


async def test_unknown_change_type_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("C-10"))
    status, _ = await change(http, seller(sandbox), request["requestId"], {"type": "delete"})
    assert status == 400
