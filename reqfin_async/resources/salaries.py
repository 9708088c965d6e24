"""``client.salaries``: salary invoices (``rnf_salary``) on the invoice endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..models.invoice import Invoice, NewInvoice
from ..validation import validate_new_invoice
from ._base import Resource
from ._pagination import MAX_PAGE_SIZE, InvoiceIterator
from .invoices import FilterBy, InvoicesResource, StatusFilter

__all__ = ["SalariesResource"]


class SalariesResource(Resource):
    """``client.salaries`` — salaries are invoices whose meta is ``rnf_salary`` 0.0.3.

    The employee is the seller (``sellerInfo.email`` is required), the employer
    the buyer. ::

        salary = await client.salaries.create(body)     # meta filled in when absent
        async for s in client.salaries.list(status="open"): ...
    """

    __slots__ = ()

    def _invoices(self) -> InvoicesResource:
        return self._client.invoices

    async def create(self, body: NewInvoice | Mapping[str, Any]) -> Invoice:
        """Create a salary invoice; checked as a salary, never created twice."""
        return await self._invoices()._create(validate_new_invoice(body, salary=True))

    async def get(self, id_or_request_id: str, *, with_links: bool = False) -> Invoice:
        """One salary by its id or ``requestId``."""
        return await self._invoices().get(id_or_request_id, with_links=with_links)

    def list(
        self,
        *,
        status: StatusFilter = None,
        search: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        filter_by: FilterBy | str | None = None,
        with_links: bool = False,
        take: int = MAX_PAGE_SIZE,
    ) -> InvoiceIterator:
        """Every salary that matches (``GET /invoices?variant=rnf_salary``)."""
        return self._invoices().list(
            status=status,
            search=search,
            created_from=created_from,
            created_to=created_to,
            variant="rnf_salary",
            filter_by=filter_by,
            with_links=with_links,
            take=take,
        )
