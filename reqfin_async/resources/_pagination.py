"""Offset pagination over ``GET /invoices``, and the ``format=paginated`` page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Self

import msgspec

from ..errors import PaginationError
from ..models._codec import decoder
from ..models.invoice import Invoice, InvoicePage

__all__ = ["InvoiceIterator", "parse_invoice_page", "MAX_PAGE_SIZE"]

MAX_PAGE_SIZE = 100
# A page equal to the one before happens when exactly `take` invoices were created
# in between; the same page again and again means a server that ignores `skip`.
MAX_REPEATS = 3

FetchPage = Callable[[int, int], Awaitable[list[Invoice]]]


class InvoiceIterator:
    """Every invoice matching a filter, page after page (``take`` per request).

    ::

        async for invoice in client.invoices.list(status="open"):
            ...

    Stops on a short page. Offsets shift when invoices are created meanwhile, so
    an invoice already yielded is not yielded again (and a page may repeat the
    previous one once or twice); a page repeated ``MAX_REPEATS`` times in a row
    (a server ignoring ``skip``) raises ``PaginationError`` rather than looping
    for ever. No request is made until iteration starts.
    """

    __slots__ = (
        "_before_page",
        "_buffer",
        "_done",
        "_fetch",
        "_last_ids",
        "_path",
        "_repeats",
        "_seen",
        "_skip",
        "_take",
    )

    def __init__(self, fetch: FetchPage, *, take: int, skip: int, path: str) -> None:
        self._fetch = fetch
        self._take = take
        self._skip = skip
        self._path = path
        self._buffer: list[Invoice] = []
        self._done = False
        self._seen: set[str] = set()
        self._last_ids: list[str] | None = None
        self._repeats = 0
        self._before_page: Callable[[], Awaitable[None]] | None = None

    def __aiter__(self) -> Self:
        return self

    def before_each_page(self, hook: Callable[[], Awaitable[None]]) -> Self:
        """Await ``hook()`` before each page request (to pace or count them); returns self.

        ::

            async for invoice in client.invoices.list().before_each_page(limiter_token):
                ...
        """
        self._before_page = hook
        return self

    async def __anext__(self) -> Invoice:
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            await self._next_page()
        return self._buffer.pop()

    async def _next_page(self) -> None:
        if self._before_page is not None:
            await self._before_page()
        page = await self._fetch(self._skip, self._take)
        ids = [invoice.id for invoice in page]
        self._repeats = self._repeats + 1 if page and ids == self._last_ids else 0
        if self._repeats >= MAX_REPEATS:
            raise PaginationError(
                f"GET {self._path}: skip={self._skip} returned the same page "
                f"{self._repeats + 1} times in a row",
                method="GET",
                path=self._path,
            )
        self._last_ids = ids
        self._skip += len(page)
        if len(page) < self._take:
            self._done = True
        fresh = [invoice for invoice in page if invoice.id not in self._seen]
        self._seen.update(ids)
        fresh.reverse()  # popped from the end, so the server's order is kept
        self._buffer = fresh

    async def collect(self, limit: int | None = None) -> list[Invoice]:
        """All the (remaining) invoices as a list, at most ``limit`` of them."""
        out: list[Invoice] = []
        async for invoice in self:
            out.append(invoice)
            if limit is not None and len(out) >= limit:
                break
        return out


# The keys of the paginated answer are not published: accept the usual spellings.
_ITEM_KEYS = ("invoices", "data", "items", "results", "docs")
_TOTAL_KEYS = ("total", "totalCount", "count", "totalWithoutFilters", "totalInvoices")
_FILTERED_KEYS = ("filteredTotal", "totalFiltered", "totalWithFilters", "filteredCount")
_COUNT_KEYS = ("statusCounts", "countByStatus", "statuses", "countsByStatus")


def _first(data: dict[str, msgspec.Raw], keys: tuple[str, ...]) -> msgspec.Raw | None:
    for key in keys:
        if key in data:
            return data[key]
    return None


def _as_int(raw: msgspec.Raw | None) -> int | None:
    if raw is None:
        return None
    value: Any = msgspec.json.decode(raw)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_invoice_page(content: bytes) -> InvoicePage:
    """An ``InvoicePage`` from a ``format=paginated`` answer (or a bare array)."""
    if content.lstrip()[:1] == b"[":
        items = decoder(list[Invoice]).decode(content)
        return InvoicePage(items=items, total=None, total_filtered=None, status_counts={})
    data = decoder(dict[str, msgspec.Raw]).decode(content)
    raw_items = _first(data, _ITEM_KEYS)
    items = decoder(list[Invoice]).decode(raw_items) if raw_items is not None else []
    return InvoicePage(
        items=items,
        total=_as_int(_first(data, _TOTAL_KEYS)),
        total_filtered=_as_int(_first(data, _FILTERED_KEYS)),
        status_counts=_status_counts(_first(data, _COUNT_KEYS)),
    )


def _status_counts(raw: msgspec.Raw | None) -> dict[str, int]:
    # Either {"open": 3, ...} or [{"status": "open", "count": 3}, ...].
    if raw is None:
        return {}
    value: Any = msgspec.json.decode(raw)
    counts: dict[str, int] = {}
    if isinstance(value, dict):
        counts = {str(k): v for k, v in value.items() if isinstance(v, int)}
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, dict):
                status, count = entry.get("status") or entry.get("_id"), entry.get("count")
                if isinstance(status, str) and isinstance(count, int):
                    counts[status] = count
    return counts
