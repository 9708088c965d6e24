"""Credentials, networks and organizations, as the real API treats them."""

from __future__ import annotations

import aiohttp

from reqfin_async.sandbox import Sandbox
from tests.specbody import invoice_body

from .conftest import api_headers, buyer, create, create_request, fetch, seller


async def test_bare_api_key_authenticates(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, me = await fetch(http, "/users", seller(sandbox))
    assert status == 200
    assert me["email"] == "seller@sandbox.test"
    assert (me["firstname"], me["lastname"]) == ("Sandra", "Seller")


async def test_bearer_with_api_key_is_refused(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    headers = api_headers(f"Bearer {sandbox.config.api_key}")
    status, body = await fetch(http, "/invoices", headers)
    assert status == 401
    assert body["statusCode"] == 401
    assert body["message"]


async def test_missing_credential_gets_401_json(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, body = await fetch(http, "/invoices", {"X-Network": "test"})
    assert status == 401
    assert set(body) == {"statusCode", "message"}


async def test_wrong_api_key_gets_401(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    status, _ = await fetch(http, "/invoices", api_headers("not-a-key"))
    assert status == 401


async def test_an_api_key_without_network_header_acts_on_its_test_network(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    invoice = await create(http, seller(sandbox, "test"), invoice_body("K-1"))
    status, body = await fetch(http, "/invoices", {"Authorization": sandbox.config.api_key})
    assert status == 200
    assert [i["id"] for i in body] == [invoice["id"]]
    status, _ = await fetch(http, "/invoices", api_headers(sandbox.config.api_key, "main"))
    assert status == 400


async def test_network_header_is_mandatory_with_oauth(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret,
        "audience": "accounts",
    }
    async with http.post("/oauth/token", data=form) as response:
        token = (await response.json())["access_token"]
    status, body = await fetch(http, "/invoices", {"Authorization": f"Bearer {token}"})
    assert status == 400
    assert "X-Network" in body["message"]


async def test_live_and_test_data_are_apart(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    invoice = await create(http, seller(sandbox, "test"), invoice_body("T-1"))
    status, _ = await fetch(http, f"/invoices/{invoice['id']}", seller(sandbox, "live"))
    assert status == 404
    _, live_list = await fetch(http, "/invoices", seller(sandbox, "live"))
    assert live_list == []
    # The same number is free on the other network.
    live = await create(http, seller(sandbox, "live"), invoice_body("T-1"))
    assert live["type"] == "live"


async def test_organization_header_scopes_the_data(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    orgs = {org.display_name: org.id for org in sandbox.state.organizations.values()}
    globex = seller(sandbox) | {"X-Organization": orgs["Globex"]}
    await create(http, globex, invoice_body("G-1"))
    _, in_globex = await fetch(http, "/invoices", globex)
    _, personal = await fetch(http, "/invoices", seller(sandbox))
    assert [i["invoiceNumber"] for i in in_globex] == ["G-1"]
    assert personal == []


async def test_owned_organization_is_the_default_account(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    orgs = {org.display_name: org.id for org in sandbox.state.organizations.values()}
    await create(http, seller(sandbox), invoice_body("A-1"))
    acme = seller(sandbox) | {"X-Organization": orgs["Acme Corp"]}
    _, listed = await fetch(http, "/invoices", acme)
    assert [i["invoiceNumber"] for i in listed] == ["A-1"]
    _, me = await fetch(http, "/users", seller(sandbox))
    assert me["organization"] == orgs["Acme Corp"]


async def test_organization_of_others_is_forbidden(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    orgs = {org.display_name: org.id for org in sandbox.state.organizations.values()}
    status, body = await fetch(
        http, "/invoices", seller(sandbox) | {"X-Organization": orgs["Buyer Inc"]}
    )
    assert status == 403
    assert body["statusCode"] == 403


async def test_buyer_sees_invoices_addressed_to_him(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    draft = await create(http, seller(sandbox), invoice_body("B-0"))
    request = await create_request(http, seller(sandbox), invoice_body("B-1"))
    status, seen = await fetch(http, f"/invoices/{request['requestId']}", buyer(sandbox))
    assert status == 200
    assert seen["role"] == "buyer"
    # An off-chain invoice has not been sent yet: the buyer cannot see it.
    status, _ = await fetch(http, f"/invoices/{draft['id']}", buyer(sandbox))
    assert status == 404


async def test_currencies_answer_without_credential(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, currencies = await fetch(http, "/currency", {})
    assert status == 200
    assert {c["id"] for c in currencies} >= {"USD", "USDC-matic", "FAU-sepolia"}
    status, _ = await fetch(http, "/currency", {"Authorization": "wrong"})
    assert status == 401
