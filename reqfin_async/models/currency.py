"""Currencies an invoice can be denominated or paid in, and the chains they live on."""

from __future__ import annotations

from ._base import ResponseStruct

__all__ = ["Chain", "Currency"]


class Currency(ResponseStruct, kw_only=True):
    """A currency from ``GET /currency``. Ids are ``SYMBOL-network`` (``"USDC-matic"``)
    for tokens and bare ISO 4217 codes (``"USD"``) for fiat.

    Example::

        usdc = next(c for c in currencies if c.id == "USDC-matic")
        format_amount(1500000, usdc.decimals or 0, usdc.symbol)  # "1.5 USDC"
    """

    id: str
    hash: str | None = None
    address: str | None = None
    network: str | None = None
    decimals: int | None = None
    symbol: str | None = None
    type: str | None = None
    """``"ERC20"``, ``"ETH"``, ``"ISO4217"``..."""


class Chain(ResponseStruct, kw_only=True):
    """A chain from ``GET /currency/chains``.

    Example::

        mainnets = [chain.name for chain in chains if not chain.testnet]
        chain.type  # "evm", ...
    """

    # Some listings number chains, others name them.
    id: str | int | None = None
    name: str | None = None
    type: str | None = None
    testnet: bool | None = None
