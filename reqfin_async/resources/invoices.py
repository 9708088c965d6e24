"""``client.invoices``: create, convert, fetch, list, and accept / reject / cancel."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import anyio

from .._http.retry import Safety, backoff_delay
from .._log import get_logger
from ..errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    BadRequestError,
    ChangeNotAllowedError,
    ConflictError,
    InternalServerError,
    InvoiceValidationError,
)
from ..models._codec import encode
from ..models.change import ChangeType, InvoiceChange, NewInvoiceChange
from ..models.invoice import Invoice, InvoicePage, InvoiceStatus, NewInvoice
from ..validation import validate_new_invoice
from ._base import Resource, decode_response, path_segment
from ._pagination import MAX_PAGE_SIZE, InvoiceIterator, parse_invoice_page

# GET /invoices/{id}'s answer, decoded inside the transport's coroutine (see get()).
_as_invoice = functools.partial(decode_response, tp=Invoice)

__all__ = ["InvoicesResource", "StatusFilter", "invoice_filters"]

StatusFilter = InvoiceStatus | str | Iterable[InvoiceStatus | str] | None
FilterBy = Literal["sent", "received"]
Variant = Literal["rnf_invoice", "rnf_salary"]

_log = get_logger()

# Which status each change starts from, and which side of the invoice may make it.
_CHANGE_RULES: dict[ChangeType, tuple[frozenset[str], str]] = {
    ChangeType.ACCEPT: (frozenset({"open"}), "buyer"),
    ChangeType.REJECT: (frozenset({"open", "accepted"}), "buyer"),
    ChangeType.CANCEL: (frozenset({"open", "accepted"}), "seller"),
}

_PAST_TENSE = {
    ChangeType.ACCEPT: "accepted",
    ChangeType.REJECT: "rejected",
    ChangeType.CANCEL: "canceled",
}


def _iso(value: datetime, field: str) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvoiceValidationError([(field, "must be a timezone-aware datetime")])
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def invoice_filters(
    *,
    status: StatusFilter = None,
    search: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    variant: Variant | str | None = None,
    filter_by: FilterBy | str | None = None,
    with_links: bool = False,
) -> list[tuple[str, str]]:
    """The query parameters of ``GET /invoices`` for these filters, checked."""
    params: list[tuple[str, str]] = []
    if status is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        for value in statuses:
            text = str(value.value if isinstance(value, InvoiceStatus) else value)
            if not text:
                raise InvoiceValidationError([("status", "must not contain an empty status")])
            params.append(("status[]", text))
    if search is not None:
        if not search.strip():
            raise InvoiceValidationError([("search", "must not be empty")])
        params.append(("search", search))
    if created_from is not None or created_to is not None:
        window: dict[str, str] = {}
        if created_from is not None:
            window["from"] = _iso(created_from, "created_from")
        if created_to is not None:
            window["to"] = _iso(created_to, "created_to")
        if created_from is not None and created_to is not None and created_from > created_to:
            raise InvoiceValidationError([("created_to", "must not be before created_from")])
        params.append(("creationDateRange", encode(window).decode()))
    if variant is not None:
        if variant not in ("rnf_invoice", "rnf_salary"):
            raise InvoiceValidationError([("variant", "must be 'rnf_invoice' or 'rnf_salary'")])
        params.append(("variant", variant))
    if filter_by is not None:
        if filter_by not in ("sent", "received"):
            raise InvoiceValidationError([("filter_by", "must be 'sent' or 'received'")])
        params.append(("filterBy", filter_by))
    if with_links:
        params.append(("withLinks", "true"))
    return params


def _check_take(take: int) -> None:
    if not 1 <= take <= MAX_PAGE_SIZE:
        raise InvoiceValidationError([("take", f"must be between 1 and {MAX_PAGE_SIZE}")])


def _ambiguous(exc: APIError) -> bool:
    """A failure after which the server may or may not have acted on a POST."""
    if isinstance(exc, APIConnectionError):
        return not exc.refused
    return isinstance(exc, InternalServerError)


def _may_have_landed(exc: APIStatusError) -> bool:
    """A refusal that an earlier, lost attempt may explain ("number used", "already converted")."""
    return isinstance(exc, ConflictError | BadRequestError)


class InvoicesResource(Resource):
    """``client.invoices`` — the invoice endpoints.

    ::

        invoice = await client.invoices.create(body)
        invoice = await client.invoices.convert_to_request(invoice.id)
        async for inv in client.invoices.list(status=["open", "accepted"]): ...
    """

    __slots__ = ()

    # -- create and convert --------------------------------------------------
    async def create(self, body: NewInvoice | Mapping[str, Any]) -> Invoice:
        """Create an off-chain invoice (``POST /invoices``); never creates it twice.

        ``body`` is a ``NewInvoice`` or a mapping in the API's JSON shape; it is
        checked first and nothing is sent when it is invalid. When the answer is
        lost (timeout, dropped connection, 5xx), the invoice number — unique per
        account — is looked up before sending again, and a found invoice is returned.
        """
        return await self._create(validate_new_invoice(body))

    async def _create(self, new: NewInvoice) -> Invoice:
        payload = encode(new)  # the same bytes on every attempt
        number = new.invoice_number

        async def lookup() -> Invoice | None:
            return await self.find_by_number(number)

        async def send() -> Invoice:
            response = await self._send("POST", "/invoices", body=payload, safety=Safety.UNSAFE)
            return decode_response(response, Invoice)

        return await self._post_once(send, lookup, what=f"invoice number {number!r}")

    async def convert_to_request(self, invoice_id: str) -> Invoice:
        """Turn an off-chain invoice into an on-chain request (``POST /invoices/{id}``).

        The answer carries the ``request_id`` and links; the status is ``pending``
        until the request is persisted on chain, then ``open``. A lost answer is
        followed by a look at the invoice before converting again.
        """
        path = f"/invoices/{path_segment(invoice_id, 'invoice_id')}"

        async def lookup() -> Invoice | None:
            invoice = await self.get(invoice_id)
            return invoice if invoice.request_id else None

        async def send() -> Invoice:
            return decode_response(await self._send("POST", path, safety=Safety.UNSAFE), Invoice)

        return await self._post_once(send, lookup, what=f"conversion of {invoice_id!r}")

    async def _post_once(
        self,
        send: Callable[[], Awaitable[Invoice]],
        lookup: Callable[[], Awaitable[Invoice | None]],
        *,
        what: str,
    ) -> Invoice:
        """Send a POST that must take effect once: after an ambiguous failure, look first."""
        policy = self._client.options.retry
        attempt = 0
        uncertain = False  # an earlier attempt may have reached the server
        while True:
            attempt += 1
            try:
                return await send()
            except APIError as exc:
                if uncertain and isinstance(exc, APIStatusError) and _may_have_landed(exc):
                    # An earlier attempt may have landed after all, and the server
                    # refuses the copy: what the lookup finds settles it.
                    found = await lookup()
                    if found is not None:
                        return found
                    raise
                if not _ambiguous(exc):
                    raise
                failure = exc
            uncertain = True
            try:
                found = await lookup()
            except APIError as lookup_error:
                # Without knowing, sending again could duplicate: report the first failure.
                _log.warning("post_lookup_failed", what=what, error=type(lookup_error).__name__)
                raise failure from lookup_error
            if found is not None:
                _log.info("post_recovered", what=what, attempt=attempt)
                return found
            if attempt >= policy.max_attempts:
                raise failure
            delay = backoff_delay(policy, attempt, self._client.transport.rng)
            _log.info("post_resend", what=what, attempt=attempt, delay_s=round(delay, 3))
            await anyio.sleep(delay)

    async def find_by_number(self, invoice_number: str) -> Invoice | None:
        """The invoice with exactly this ``invoiceNumber``, or ``None``.

        Uses ``GET /invoices?search=``, which also matches other fields, then
        compares the number exactly.
        """
        async for invoice in self.list(search=invoice_number):
            if invoice.invoice_number == invoice_number:
                return invoice
        return None

    # -- read ------------------------------------------------------------------
    def get(
        self, id_or_request_id: str, *, with_links: bool = False
    ) -> Coroutine[Any, Any, Invoice]:
        """One invoice by its id or its ``requestId`` (``GET /invoices/{id}``).

        ::

            invoice = await client.invoices.get(request_id)
            print(invoice.status, invoice.total())

        Every poll comes through here, so this is not a coroutine of its own: it
        checks the id (a bad one raises at once) and returns the transport's
        coroutine, which decodes the answer, one frame less for each of the
        call's suspensions to pass through.
        """
        path = f"/invoices/{path_segment(id_or_request_id, 'id_or_request_id')}"
        params = (("withLinks", "true"),) if with_links else None
        client = self._client
        return client.transport.request(
            "GET", path, options=client.options, params=params, into=_as_invoice
        )

    def list(
        self,
        *,
        status: StatusFilter = None,
        search: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        variant: Variant | str | None = None,
        filter_by: FilterBy | str | None = None,
        with_links: bool = False,
        take: int = MAX_PAGE_SIZE,
        skip: int = 0,
    ) -> InvoiceIterator:
        """Every invoice that matches, as an async iterator over all pages (``GET /invoices``).

        ::

            async for invoice in client.invoices.list(status="open", filter_by="sent"):
                ...
        """
        _check_take(take)
        filters = invoice_filters(
            status=status,
            search=search,
            created_from=created_from,
            created_to=created_to,
            variant=variant,
            filter_by=filter_by,
            with_links=with_links,
        )

        async def fetch(skip_: int, take_: int) -> list[Invoice]:
            params = [*filters, ("take", str(take_)), ("skip", str(skip_))]
            return await self._fetch("/invoices", list[Invoice], params=params)

        return InvoiceIterator(fetch, take=take, skip=skip, path="/invoices")

    async def page(
        self,
        *,
        take: int = 25,
        skip: int = 0,
        status: StatusFilter = None,
        search: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        variant: Variant | str | None = None,
        filter_by: FilterBy | str | None = None,
        with_links: bool = False,
    ) -> InvoicePage:
        """One page with the totals of ``format=paginated`` (all, filtered, per status).

        ::

            page = await client.invoices.page(take=1, status="open")
            print(page.total_filtered, page.status_counts)
        """
        _check_take(take)
        params = invoice_filters(
            status=status,
            search=search,
            created_from=created_from,
            created_to=created_to,
            variant=variant,
            filter_by=filter_by,
            with_links=with_links,
        )
        params += [("take", str(take)), ("skip", str(skip)), ("format", "paginated")]
        response = await self._send("GET", "/invoices", params=params)
        try:
            return parse_invoice_page(response.content)
        except ValueError as exc:  # msgspec's errors are ValueErrors
            raise APIResponseValidationError(
                method="GET", path="/invoices", problem=str(exc), request_id=response.request_id
            ) from None

    # -- changes ---------------------------------------------------------------
    async def accept(self, invoice: Invoice | str) -> InvoiceChange:
        """Approve an invoice as its buyer (only from ``open``).

        Given an ``Invoice``, its known status and role are checked before sending.
        """
        return await self._change(invoice, ChangeType.ACCEPT, None)

    async def reject(self, invoice: Invoice | str, note: str) -> InvoiceChange:
        """Reject an invoice as its buyer, with a reason (from ``open`` or ``accepted``)."""
        if not isinstance(note, str) or not note.strip():
            raise InvoiceValidationError([("input.note", "a rejection needs a non-empty note")])
        return await self._change(invoice, ChangeType.REJECT, note)

    async def cancel(self, invoice: Invoice | str) -> InvoiceChange:
        """Cancel an invoice as its seller (from ``open`` or ``accepted``)."""
        return await self._change(invoice, ChangeType.CANCEL, None)

    async def _change(
        self, invoice: Invoice | str, change: ChangeType, note: str | None
    ) -> InvoiceChange:
        if isinstance(invoice, Invoice):
            _check_change_allowed(invoice, change)
            target = invoice.request_id or invoice.id
        else:
            target = invoice
        path = f"/invoices/{path_segment(target, 'id')}/changes"
        body = encode(NewInvoiceChange(type=change, input={"note": note} if note else {}))
        response = await self._send("POST", path, body=body, safety=Safety.UNSAFE)
        return decode_response(response, InvoiceChange)


def _check_change_allowed(invoice: Invoice, change: ChangeType) -> None:
    starts, side = _CHANGE_RULES[change]
    status = invoice.status.value if invoice.status is not None else None
    label = f"invoice {invoice.invoice_number or invoice.id!r}"
    if status is not None and status not in starts:
        allowed = " or ".join(sorted(starts))
        raise ChangeNotAllowedError(
            f"cannot {change.value} {label}: its status is {status!r}, "
            f"and only {allowed} invoices can be {_PAST_TENSE[change]}"
        )
    if invoice.role is not None and invoice.role != side:
        raise ChangeNotAllowedError(
            f"cannot {change.value} {label}: only the {side} can, and this account is the "
            f"{invoice.role}"
        )
