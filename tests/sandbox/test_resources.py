"""Users, clients and currencies."""

from __future__ import annotations

import aiohttp

from reqfin_async.sandbox import Sandbox

from .conftest import buyer, fetch, seller


async def test_user_shows_the_acting_organization(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    orgs = {org.display_name: org.id for org in sandbox.state.organizations.values()}
    _, me = await fetch(http, "/users", seller(sandbox))
    assert set(me) == {"id", "email", "firstname", "lastname", "organization"}
    globex = seller(sandbox) | {"X-Organization": orgs["Globex"]}
    _, in_globex = await fetch(http, "/users", globex)
    assert in_globex["organization"] == orgs["Globex"]
    _, the_buyer = await fetch(http, "/users", buyer(sandbox))
    assert the_buyer["organization"] == orgs["Buyer Inc"]


async def test_clients_need_email_and_contact_type(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    for body in ({"email": "a@example.com"}, {"contactType": ["customer"]},
                 {"email": "a@example.com", "contactType": ["friend"]}):  # fmt: skip
        async with http.post("/clients", json=body, headers=seller(sandbox)) as response:
            assert response.status == 400, body


async def test_clients_round_trip(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    body = {"email": "a@example.com", "contactType": ["customer"], "businessName": "A"}
    async with http.post("/clients", json=body, headers=seller(sandbox)) as response:
        assert response.status == 201
        created = await response.json()
    update = {"businessName": "A Ltd"}
    path = f"/clients/{created['id']}"
    async with http.put(path, json=update, headers=seller(sandbox)) as response:
        assert response.status == 200
        assert (await response.json())["businessName"] == "A Ltd"
    _, fetched = await fetch(http, path, seller(sandbox))
    assert fetched["businessName"] == "A Ltd"
    _, customers = await fetch(http, "/clients?type=customer", seller(sandbox))
    _, vendors = await fetch(http, "/clients?type=vendor", seller(sandbox))
    assert ([c["id"] for c in customers], vendors) == ([created["id"]], [])
    status, _ = await fetch(http, path, seller(sandbox, "live"))
    assert status == 404
    status, _ = await fetch(http, path, buyer(sandbox))
    assert status == 404


async def test_currencies_have_their_real_identities(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    _, currencies = await fetch(http, "/currency", seller(sandbox))
    by_id = {c["id"]: c for c in currencies}
    assert set(by_id) == {
        "USD", "EUR", "USDC-matic", "USDT-mainnet", "DAI-mainnet", "ETH-mainnet", "FAU-sepolia",
    }  # fmt: skip
    assert all(set(c) == {"id", "hash", "address", "network", "decimals", "symbol", "type"}
               for c in currencies)  # fmt: skip
    assert (by_id["USD"]["type"], by_id["USD"]["decimals"]) == ("ISO4217", 2)
    assert by_id["USDC-matic"]["address"] == "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"
    assert by_id["USDC-matic"]["decimals"] == 6
    assert by_id["ETH-mainnet"]["type"] == "ETH"
    assert by_id["FAU-sepolia"]["network"] == "sepolia"
    _, invoicing = await fetch(http, "/currency/list/invoicing", seller(sandbox))
    assert invoicing == currencies


async def test_chains_are_listed(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    _, chains = await fetch(http, "/currency/chains", {})
    assert {"id": "mainnet", "name": "Ethereum", "type": "EVM", "testnet": False} in chains
    assert {c["id"]: c["testnet"] for c in chains} == {
        "mainnet": False,
        "matic": False,
        "sepolia": True,
    }
