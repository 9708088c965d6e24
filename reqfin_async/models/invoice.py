"""Invoices: what the API returns (``Invoice``) and what it takes (``NewInvoice``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from .. import money
from .._redact import redact_url
from ._base import OpenStrEnum, RequestStruct, ResponseStruct
from .party import PartyInfo

__all__ = [
    "FINAL_STATUSES",
    "Invoice",
    "InvoiceEvent",
    "InvoiceItem",
    "InvoiceLinks",
    "InvoicePage",
    "InvoiceStatus",
    "Meta",
    "NewInvoice",
    "PaymentInformation",
    "PaymentMetadata",
    "PaymentOption",
    "PaymentOptionValue",
    "PaymentTerms",
    "SALARY_META",
    "Tax",
    "TaxType",
    "TrackedTransaction",
]


class InvoiceStatus(OpenStrEnum):
    """The status of an invoice; values are the API's strings.

    An unknown value from the server decodes to a pseudo-member instead of failing::

        invoice.status is InvoiceStatus.PAID
        InvoiceStatus("declaredPaid").is_final   # False
    """

    DRAFT = "draft"
    PENDING = "pending"
    SCHEDULED = "scheduled"
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DECLARED_PAID = "declaredPaid"
    PAID = "paid"
    CANCELED = "canceled"
    OVERDUE = "overdue"

    @classmethod
    def final_statuses(cls) -> frozenset[InvoiceStatus]:
        """The statuses after which polling can stop: paid, rejected, canceled."""
        return FINAL_STATUSES

    @property
    def is_final(self) -> bool:
        """Whether this status ends the invoice's life (``declaredPaid`` does not)."""
        return self in FINAL_STATUSES


# A module constant: a frozenset in the enum body would become a member.
FINAL_STATUSES: frozenset[InvoiceStatus] = frozenset(
    {InvoiceStatus.PAID, InvoiceStatus.REJECTED, InvoiceStatus.CANCELED}
)


class Meta(msgspec.Struct, frozen=True):
    """The content format of the invoice; always sent, defaults included.

    A plain frozen struct rather than a ``ResponseStruct``: its defaults must be
    encoded, and ``SALARY_META`` is shared, so it must not change.

    Example::

        Meta()                          # rnf_invoice 0.0.3
        Meta("rnf_salary", "0.0.3")     # a salary (SALARY_META)
    """

    format: str = "rnf_invoice"
    version: str = "0.0.3"


SALARY_META = Meta("rnf_salary", "0.0.3")
"""The ``meta`` of a salary."""


class TaxType(OpenStrEnum):
    """How a tax amount reads: a percentage (``"19.9"``) or a fixed amount in the smallest unit.

    Example::

        Tax(type=TaxType.PERCENTAGE, amount="20")
        Tax(type=TaxType.FIXED, amount="150")
    """

    FIXED = "fixed"
    PERCENTAGE = "percentage"


class Tax(ResponseStruct, kw_only=True):
    """The tax of one invoice line. A fixed tax is added once per line, not per unit.

    Example::

        item = InvoiceItem(currency="USD", quantity=2, unit_price="9999",
                           tax=Tax(type=TaxType.PERCENTAGE, amount="20"))
    """

    type: TaxType | None = None
    amount: str | None = None


class InvoiceItem(ResponseStruct, kw_only=True):
    """One line of an invoice. ``unit_price`` and ``discount`` are integer strings
    in the currency's smallest unit; ``quantity`` may be fractional.

    Example::

        item = InvoiceItem(currency="USD", name="Television", quantity=2, unit_price="9999")
        item.total()   # 19998
    """

    currency: str
    quantity: int | Decimal
    unit_price: str
    name: str | None = None
    tax: Tax | None = None
    discount: str | None = None
    reference: str | None = None
    delivery_date: datetime | None = None
    delivery_period: str | None = None

    def total(self) -> int:
        """The line's amount due, tax included, in the smallest unit."""
        return money.line_total(self)


class PaymentTerms(ResponseStruct, kw_only=True):
    """When and on what terms the buyer pays.

    Example::

        PaymentTerms(due_date=datetime(2023, 1, 21, 23, 59, tzinfo=UTC))
        invoice.payment_terms.due_date
    """

    due_date: datetime | None = None
    late_fees_percent: int | Decimal | None = None
    late_fees_fix: str | None = None
    miscellaneous: dict[str, Any] | None = None


class PaymentInformation(ResponseStruct, kw_only=True):
    """Where a wallet payment goes.

    Example::

        PaymentInformation(payment_address="0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                           chain="matic")
    """

    payment_address: str | None = None
    chain: str | None = None


class PaymentOptionValue(ResponseStruct, kw_only=True):
    """The details of a payment option: accepted currencies and the payee's wallet.

    Example::

        PaymentOptionValue(currencies=["USDC-matic"],
                           payment_information=PaymentInformation(payment_address="0x..."))
    """

    currencies: list[str] = msgspec.field(default_factory=list)
    payment_information: PaymentInformation | None = None


class PaymentOption(ResponseStruct, kw_only=True, omit_defaults=False):
    """One way the invoice can be paid; ``type`` is always sent, even the default ``"wallet"``.

    Other types (bank accounts...) decode without error, their unknown fields skipped::

        PaymentOption(value=PaymentOptionValue(currencies=["USDC-matic"], payment_information=info))
        invoice.payment_options[0].value.currencies
    """

    type: str = "wallet"
    value: PaymentOptionValue


class InvoiceLinks(ResponseStruct, kw_only=True):
    """The payment and share links of an on-chain invoice; their ``token=`` grants access.

    The repr hides the token::

        invoice.invoice_links.pay   # the full URL, to give to the buyer
        repr(invoice.invoice_links) # token=[redacted]
    """

    pay: str | None = None
    view: str | None = None
    sign_up_and_pay: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"InvoiceLinks({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        links = {"pay": self.pay, "view": self.view, "sign_up_and_pay": self.sign_up_and_pay}
        return [(name, redact_url(url) if url else url) for name, url in links.items()]


class InvoiceEvent(ResponseStruct, kw_only=True):
    """Something that happened to an invoice (``create``, ``paid``...).

    Example::

        for event in invoice.events:
            log.info("invoice_event", name=event.name, at=event.date)
    """

    name: str | None = None
    user_id: str | None = None
    date: datetime | None = None
    data: dict[str, Any] | None = None


class TrackedTransaction(ResponseStruct, kw_only=True):
    """A blockchain transaction the API linked to the invoice.

    Example::

        hashes = [tx.tx_hash for tx in invoice.tracked_transactions]
    """

    tx_hash: str | None = None
    chain_name: str | None = None
    amount: str | int | float | None = None
    currency: str | None = None
    date: datetime | None = None


class PaymentMetadata(ResponseStruct, kw_only=True):
    """How the invoice was paid, once it is.

    Example::

        if invoice.payment_metadata and invoice.payment_metadata.is_manually_paid: ...
        invoice.payment_metadata.tx_hash
    """

    tx_hash: str | None = None
    chain_name: str | None = None
    payment_date: datetime | None = None
    is_manually_paid: bool | None = None


class Invoice(ResponseStruct, kw_only=True):
    """An invoice as the API returns it; unknown fields and statuses are tolerated.

    Example::

        invoice = await client.invoices.get(request_id)
        invoice.status, invoice.total(), invoice.due_date
    """

    id: str
    request_id: str | None = None
    status: InvoiceStatus | None = None
    invoice_number: str | None = None
    creation_date: datetime | None = None
    invoice_items: list[InvoiceItem] = msgspec.field(default_factory=list)
    buyer_info: PartyInfo | None = None
    seller_info: PartyInfo | None = None
    payment_terms: PaymentTerms | None = None
    payment_options: list[PaymentOption] = msgspec.field(default_factory=list)
    invoice_links: InvoiceLinks | None = None
    events: list[InvoiceEvent] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    role: str | None = None
    """``"seller"`` or ``"buyer"``: the account's side of the invoice."""
    type: str | None = None
    """``"live"`` or ``"test"``."""
    meta: Meta | None = None
    variant: str | None = None
    created_by: str | None = None
    note: str | None = None
    terms: str | None = None
    purchase_order_id: str | None = None
    tracked_transactions: list[TrackedTransaction] = msgspec.field(default_factory=list)
    payment_metadata: PaymentMetadata | None = None
    client_id: str | None = None
    recurring_rule: str | None = None
    next_occurrence: datetime | None = None
    miscellaneous: dict[str, Any] | None = None
    # Seen in the wild, shape not published: kept as decoded JSON.
    attachments: list[Any] = msgspec.field(default_factory=list)
    categories: list[Any] = msgspec.field(default_factory=list)
    cc_recipients: list[Any] = msgspec.field(default_factory=list)
    draft: Any = None

    @property
    def due_date(self) -> datetime | None:
        """``paymentTerms.dueDate``, or ``None``."""
        return self.payment_terms.due_date if self.payment_terms else None

    @property
    def is_final(self) -> bool:
        """Whether the status is paid, rejected or canceled."""
        return self.status is not None and self.status.is_final

    def total(self) -> int:
        """The amount due, tax included, in the smallest unit of the currency."""
        return money.invoice_total(self.invoice_items)

    def total_without_tax(self) -> int:
        """The sum of the lines before tax, in the smallest unit."""
        return money.invoice_total_without_tax(self.invoice_items)

    def tax_total(self) -> int:
        """The tax part of the total, in the smallest unit."""
        return money.invoice_tax_total(self.invoice_items)

    def __repr__(self) -> str:
        # Short on purpose: the full struct holds links whose tokens grant access.
        shown = ", ".join(f"{name}={value!r}" for name, value in self.__rich_repr__())
        return f"Invoice({shown})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [
            ("id", self.id),
            ("request_id", self.request_id),
            ("invoice_number", self.invoice_number),
            ("status", self.status.value if self.status is not None else None),
        ]


class NewInvoice(RequestStruct, kw_only=True):
    """The body of ``POST /invoices``; unknown fields are refused.

    Check it with ``validate_new_invoice`` (the resource does) before sending::

        body = NewInvoice(invoice_number="13", invoice_items=[item], payment_options=[option],
                          buyer_info=PartyInfo(email="justin@acme.example"))
    """

    invoice_number: str
    invoice_items: list[InvoiceItem]
    payment_options: list[PaymentOption]
    buyer_info: PartyInfo | None = None
    seller_info: PartyInfo | None = None
    payment_terms: PaymentTerms | None = None
    creation_date: datetime | None = None
    meta: Meta = msgspec.field(default_factory=Meta)
    note: str | None = None
    terms: str | None = None
    purchase_order_id: str | None = None
    tags: list[str] | None = None
    recurring_rule: str | None = None
    """An iCalendar rule: ``"DTSTART:20230314T085800Z RRULE:FREQ=MONTHLY;INTERVAL=1"``."""
    miscellaneous: dict[str, Any] | None = None
    client_id: str | None = None
    cc_recipients: list[str] | None = None

    def total(self) -> int:
        """The amount due, tax included, in the smallest unit of the currency."""
        return money.invoice_total(self.invoice_items)


class InvoicePage(msgspec.Struct, kw_only=True):
    """One page of ``GET /invoices?format=paginated``, built by the resource layer.

    Not a wire model: the API does not publish the keys of that answer, so the
    resource reads them and fills this in::

        page.items, page.total_filtered
        page.status_counts.get("open", 0)
    """

    items: list[Invoice] = msgspec.field(default_factory=list)
    total: int | None = None
    """How many invoices the account has, no filter applied."""
    total_filtered: int | None = None
    """How many invoices match the filters."""
    status_counts: dict[str, int] = msgspec.field(default_factory=dict)
