"""Typed answers of the smaller resources: currencies, chains, clients, the current user."""

from __future__ import annotations

import pytest

from reqfin_async import (
    Address,
    ApiKeyAuth,
    Chain,
    ClientContact,
    Currency,
    NewClientContact,
    NotFoundError,
    RequestFinanceClient,
    format_amount,
)
from reqfin_async.sandbox import Sandbox
from tests.specbody import BUYER_EMAIL, SELLER_EMAIL

from .conftest import make_client


async def test_currencies_come_typed_with_their_decimals(seller: RequestFinanceClient) -> None:
    currencies = await seller.currencies.all()
    assert all(isinstance(currency, Currency) for currency in currencies)
    by_id = {currency.id: currency for currency in currencies}
    usdc, eth, usd = by_id["USDC-matic"], by_id["ETH-mainnet"], by_id["USD"]
    assert (usdc.decimals, usdc.symbol, usdc.network, usdc.type) == (6, "USDC", "matic", "ERC20")
    assert usdc.address == "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"
    assert usdc.hash == usdc.address.lower()
    assert (eth.decimals, eth.symbol, eth.network, eth.type) == (18, "ETH", "mainnet", "ETH")
    assert (usd.decimals, usd.network, usd.type) == (2, None, "ISO4217")
    assert format_amount(23998, usd.decimals or 0, "USD") == "239.98 USD"

    found = await seller.currencies.find("usdc-MATIC")  # ids compare case-insensitively
    assert found == usdc
    assert await seller.currencies.find("DOGE-matic") is None
    invoicing = {currency.id for currency in await seller.currencies.invoicing()}
    assert {"USD", "EUR", "USDC-matic"} <= invoicing


async def test_chains_come_typed(seller: RequestFinanceClient) -> None:
    chains = await seller.currencies.chains()
    assert all(isinstance(chain, Chain) for chain in chains)
    by_id = {chain.id: chain for chain in chains}
    assert set(by_id) >= {"mainnet", "matic", "sepolia"}
    assert by_id["matic"].name == "Polygon"
    assert by_id["matic"].testnet is False
    assert by_id["sepolia"].testnet is True


async def test_clients_create_update_get_and_list(seller: RequestFinanceClient) -> None:
    created = await seller.clients.create(
        {
            "email": "ap@acme-wholesaler.com",
            "contactType": ["customer"],
            "businessName": "Acme Wholesaler Ltd.",
            "address": {
                "streetAddress": "4933 Oakwood Avenue",
                "city": "New York",
                "country": "US",
            },
        }
    )
    assert isinstance(created, ClientContact)
    assert created.id
    assert created.email == "ap@acme-wholesaler.com"
    assert created.contact_type == ["customer"]
    assert created.address is not None
    assert created.address.town == "New York"

    vendor = await seller.clients.create(
        NewClientContact(email="sales@supplier.example", contact_type=["vendor"])
    )

    updated = await seller.clients.update(
        created.id,
        NewClientContact(
            email="ap@acme-wholesaler.com",
            business_name="Acme Wholesale Group",
            address=Address(city="Boston", country="US"),
        ),
    )
    assert updated.id == created.id
    assert updated.business_name == "Acme Wholesale Group"
    assert updated.address is not None
    assert updated.address.city == "Boston"

    fetched = await seller.clients.get(created.id)
    assert fetched.business_name == "Acme Wholesale Group"
    assert fetched.email == created.email

    customers = await seller.clients.list()
    assert [c.id for c in customers] == [created.id]
    vendors = await seller.clients.list(type="vendor")
    assert [c.id for c in vendors] == [vendor.id]


async def test_clients_belong_to_their_account_and_network(
    sandbox: Sandbox, seller: RequestFinanceClient
) -> None:
    created = await seller.clients.create(
        {"email": "ap@acme-wholesaler.com", "contactType": ["customer"]}
    )
    async with (
        make_client(sandbox, ApiKeyAuth(sandbox.config.buyer_api_key)) as other,
        make_client(sandbox, network="live") as live,
    ):
        for client in (other, live):
            assert await client.clients.list() == []
            with pytest.raises(NotFoundError):
                await client.clients.get(created.id)


async def test_current_user_is_typed(
    seller: RequestFinanceClient, buyer: RequestFinanceClient
) -> None:
    me = await seller.organizations.current_user()
    assert me.email == SELLER_EMAIL
    assert me.firstname == "Sandra"
    assert me.lastname == "Seller"
    assert me.organization  # the organization the seller owns
    them = await buyer.organizations.current_user()
    assert them.email == BUYER_EMAIL
    assert them.id != me.id
    assert them.organization != me.organization
