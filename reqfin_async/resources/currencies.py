"""``client.currencies``: the currencies and chains the API knows."""

from __future__ import annotations

from ..models.currency import Chain, Currency
from ._base import Resource

__all__ = ["CurrenciesResource"]


class CurrenciesResource(Resource):
    """``client.currencies`` — ids look like ``USDC-matic``; fiat ids are ISO 4217 codes.

    ::

        usdc = await client.currencies.find("USDC-matic")
        print(format_amount(invoice.total(), usdc.decimals or 0, usdc.symbol))
    """

    __slots__ = ()

    async def all(self) -> list[Currency]:
        """``GET /currency``: every currency."""
        return await self._fetch("/currency", list[Currency])

    async def invoicing(self) -> list[Currency]:
        """``GET /currency/list/invoicing``: the currencies an invoice can be denominated in."""
        return await self._fetch("/currency/list/invoicing", list[Currency])

    async def chains(self) -> list[Chain]:
        """``GET /currency/chains``: the supported chains."""
        return await self._fetch("/currency/chains", list[Chain])

    async def find(self, currency_id: str) -> Currency | None:
        """The currency with this id (case-insensitive), or ``None``: one ``GET /currency``."""
        wanted = currency_id.lower()
        return next((c for c in await self.all() if c.id and c.id.lower() == wanted), None)
