"""The currencies and chains the sandbox knows, with their real on-chain identities.

Hashes are the Request Network's currency hashes: an ERC20's is its lower-case
contract address; fiat and native ether hash their definition (published
values), and the Request Network also uses that hash as their "address"::

    CURRENCIES_BY_ID["USDC-matic"]["decimals"]   # 6
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHAINS", "CHAIN_IDS", "CURRENCIES", "CURRENCIES_BY_ID", "currency_routes"]


def _erc20(symbol: str, network: str, address: str, decimals: int) -> dict[str, Any]:
    return {
        "id": f"{symbol}-{network}",
        "hash": address.lower(),
        "address": address,
        "network": network,
        "decimals": decimals,
        "symbol": symbol,
        "type": "ERC20",
    }


CURRENCIES: list[dict[str, Any]] = [
    {
        "id": "USD",
        "hash": "0x775eb53d00dd0acd3ec1696472105d579b9b386b",
        "address": "0x775eb53d00dd0acd3ec1696472105d579b9b386b",
        "network": None,
        "decimals": 2,
        "symbol": "USD",
        "type": "ISO4217",
    },
    {
        "id": "EUR",
        "hash": "0x17b4158805772ced11225e77339f90beb5aae968",
        "address": "0x17b4158805772ced11225e77339f90beb5aae968",
        "network": None,
        "decimals": 2,
        "symbol": "EUR",
        "type": "ISO4217",
    },
    _erc20("USDC", "matic", "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174", 6),
    _erc20("USDT", "mainnet", "0xdAC17F958D2ee523a2206206994597C13D831ec7", 6),
    _erc20("DAI", "mainnet", "0x6B175474E89094C44Da98b954EedeAC495271d0F", 18),
    {
        "id": "ETH-mainnet",
        "hash": "0xf5af88e117747e87fc5929f2ff87221b1447652e",
        "address": "0xf5af88e117747e87fc5929f2ff87221b1447652e",
        "network": "mainnet",
        "decimals": 18,
        "symbol": "ETH",
        "type": "ETH",
    },
    # The Request Network's faucet token on Sepolia, for test invoices.
    _erc20("FAU", "sepolia", "0x370DE27fdb7D1Ff1e1BaA7D11c5820a324Cf623C", 18),
]

CURRENCIES_BY_ID: dict[str, dict[str, Any]] = {c["id"]: c for c in CURRENCIES}

CHAINS: list[dict[str, Any]] = [
    {"id": "mainnet", "name": "Ethereum", "type": "EVM", "testnet": False},
    {"id": "matic", "name": "Polygon", "type": "EVM", "testnet": False},
    {"id": "sepolia", "name": "Sepolia", "type": "EVM", "testnet": True},
]

CHAIN_IDS = frozenset(c["id"] for c in CHAINS)


def currency_routes() -> dict[str, list[dict[str, Any]]]:
    """Path → answer of the read-only currency endpoints."""
    return {
        "/currency": CURRENCIES,
        "/currency/list/invoicing": CURRENCIES,
        "/currency/chains": CHAINS,
    }
