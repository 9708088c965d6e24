"""Creating, converting and fetching invoices: the shapes of the specification."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiohttp

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import buyer, create, create_request, fetch, seller, wait_for_status

ADDRESS_KEYS = {
    "streetAddress", "extendedAddress", "city", "postalCode", "region", "country",
    "street-address", "extended-address", "locality", "postal-code", "country-name",
}  # fmt: skip


async def test_create_answers_the_off_chain_invoice(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    invoice = await create(http, seller(sandbox), invoice_body("3"))
    assert re.fullmatch(r"[0-9a-f]{24}", invoice["id"])
    assert "requestId" not in invoice
    assert "status" not in invoice
    assert invoice["meta"] == {"format": "rnf_invoice", "version": "0.0.3"}
    assert invoice["type"] == "test"
    assert invoice["role"] == "seller"
    assert invoice["createdBy"] == sandbox.main_user.id
    assert invoice["sellerInfo"]["userId"] == sandbox.main_user.id
    assert invoice["buyerInfo"]["userId"] == sandbox.state.buyer_user.id
    assert invoice["creationDate"] == "2022-12-22T14:38:16.916Z"
    assert invoice["invoiceItems"][0]["unitPrice"] == "9999"
    assert invoice["tags"] == ["my_tag"]


async def test_creation_date_defaults_to_now(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    body = invoice_body("4")
    del body["creationDate"]
    invoice = await create(http, seller(sandbox), body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", invoice["creationDate"])


async def test_addresses_are_echoed_in_both_spellings(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    camel = await create(http, seller(sandbox), invoice_body("5"))
    assert set(camel["buyerInfo"]["address"]) == ADDRESS_KEYS
    assert camel["buyerInfo"]["address"]["locality"] == "New York"
    hcard_address = {
        "street-address": "38 avenue de l'Opera",
        "locality": "Paris",
        "postal-code": "75002",
        "country-name": "FR",
    }
    body = invoice_body("6")
    body["buyerInfo"]["address"] = hcard_address
    hcard = await create(http, seller(sandbox), body)
    address = hcard["buyerInfo"]["address"]
    assert address["city"] == "Paris"
    assert address["streetAddress"] == "38 avenue de l'Opera"
    assert address["country"] == "FR"
    assert address["postal-code"] == "75002"


async def test_validation_lists_every_offending_field(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    body = invoice_body("7")
    body["invoiceItems"][0]["unitPrice"] = 99.99
    body["invoiceItems"][0]["quantity"] = -1
    body["buyerInfo"]["email"] = "not-an-email"
    body["buyerInfo"]["address"]["country"] = "USA"
    body["paymentTerms"]["dueDate"] = "2020-01-01T00:00:00.000Z"
    async with http.post("/invoices", json=body, headers=seller(sandbox)) as response:
        answer = await response.json()
    assert response.status == 400
    assert answer["statusCode"] == 400
    assert answer["error"] == "Bad Request"
    assert answer["message"] == "Validation failed"
    assert {e["field"] for e in answer["errors"]} == {
        "invoiceItems[0].unitPrice",
        "invoiceItems[0].quantity",
        "buyerInfo.email",
        "buyerInfo.address.country",
        "paymentTerms.dueDate",
    }
    assert all(e["message"] for e in answer["errors"])


async def test_required_fields_are_reported(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.post("/invoices", json={}, headers=seller(sandbox)) as response:
        answer = await response.json()
    assert response.status == 400
    assert {e["field"] for e in answer["errors"]} == {
        "invoiceNumber",
        "invoiceItems",
        "buyerInfo.email",
        "paymentOptions",
    }


async def test_tax_type_and_amount_go_together(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    body = invoice_body("8")
    body["invoiceItems"][0]["tax"] = {"amount": "20"}
    async with http.post("/invoices", json=body, headers=seller(sandbox)) as response:
        answer = await response.json()
    assert response.status == 400
    assert [e["field"] for e in answer["errors"]] == ["invoiceItems[0].tax.type"]


async def test_reused_invoice_number_is_a_conflict(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    await create(http, seller(sandbox), invoice_body("9"))
    async with http.post("/invoices", json=invoice_body("9"), headers=seller(sandbox)) as response:
        answer = await response.json()
    assert response.status == 409
    assert answer["statusCode"] == 409
    assert answer["message"] == "Invoice number already used"
    assert answer["errors"][0]["field"] == "invoiceNumber"


async def test_convert_answers_the_on_chain_request(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("10"), wait_open=False)
    assert re.fullmatch(r"01[0-9a-f]{64}", request["requestId"])
    assert request["status"] == "pending"
    assert request["trackedTransactions"] == []
    assert request["paymentMetadata"] == {}
    assert [e["name"] for e in request["events"]] == ["create"]
    assert request["events"][0]["userId"] == sandbox.main_user.id
    links = request["invoiceLinks"]
    assert set(links) == {"pay", "view", "signUpAndPay"}
    assert all(request["requestId"] in link and "token=0x" in link for link in links.values())


async def test_converting_twice_is_refused(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("11"), wait_open=False)
    async with http.post(f"/invoices/{request['id']}", headers=seller(sandbox)) as response:
        assert response.status == 400


async def test_pending_turns_open_after_delay(make_sandbox: Callable[..., Sandbox]) -> None:
    # A delay long enough that "right after" is reliably before it, even on a slow runner.
    async with (
        make_sandbox(pending_delay_s=0.5) as sandbox,
        aiohttp.ClientSession(sandbox.url) as http,
    ):
        request = await create_request(http, seller(sandbox), invoice_body("12"), wait_open=False)
        _, right_after = await fetch(http, f"/invoices/{request['requestId']}", seller(sandbox))
        assert right_after["status"] == "pending"
        opened = await wait_for_status(http, seller(sandbox), request["requestId"], "open")
        assert opened["requestId"] == request["requestId"]


async def test_get_accepts_id_or_request_id_and_links_on_demand(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("13"))
    _, by_id = await fetch(http, f"/invoices/{request['id']}", seller(sandbox))
    _, by_request = await fetch(http, f"/invoices/{request['requestId']}", seller(sandbox))
    assert by_id == by_request
    assert "invoiceLinks" not in by_id
    _, linked = await fetch(http, f"/invoices/{request['id']}?withLinks=true", seller(sandbox))
    assert linked["invoiceLinks"] == request["invoiceLinks"]


async def test_unknown_invoice_is_404_json(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await fetch(http, "/invoices/" + "0" * 24, seller(sandbox))
    assert (status, body) == (404, {"statusCode": 404, "message": "Invoice not found"})


async def test_salary_needs_the_employee_email(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    meta = {"format": "rnf_salary", "version": "0.0.3"}
    body = invoice_body("S-1", meta=meta)
    del body["buyerInfo"]["email"]
    async with http.post("/invoices", json=body, headers=seller(sandbox)) as response:
        answer = await response.json()
    assert response.status == 400
    assert [e["field"] for e in answer["errors"]] == ["sellerInfo.email"]
    body["sellerInfo"] = {"email": "employee@example.com", "firstName": "Eve"}
    salary = await create(http, seller(sandbox), body)
    assert salary["meta"] == meta
    assert salary["sellerInfo"]["email"] == "employee@example.com"


async def test_unknown_route_is_404_json(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, body = await fetch(http, "/nowhere", seller(sandbox))
    assert status == 404
    assert body["statusCode"] == 404


async def test_buyer_cannot_convert(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    request = await create_request(http, seller(sandbox), invoice_body("14"))
    async with http.post(f"/invoices/{request['requestId']}", headers=buyer(sandbox)) as response:
        assert response.status == 403
