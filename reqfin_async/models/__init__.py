"""The API's objects as msgspec structs: ``Invoice`` and friends, decoded and encoded.

Attributes are the snake_case of the JSON names::

    invoice = decode(body, Invoice)
    invoice.payment_terms.due_date
"""

from ._base import OpenStrEnum, RequestStruct, ResponseStruct
from ._codec import ENCODER, decode, decoder, encode
from .change import ChangeType, InvoiceChange, NewInvoiceChange
from .contact import ClientContact, NewClientContact
from .currency import Chain, Currency
from .invoice import (
    FINAL_STATUSES,
    SALARY_META,
    Invoice,
    InvoiceEvent,
    InvoiceItem,
    InvoiceLinks,
    InvoicePage,
    InvoiceStatus,
    Meta,
    NewInvoice,
    PaymentInformation,
    PaymentMetadata,
    PaymentOption,
    PaymentOptionValue,
    PaymentTerms,
    Tax,
    TaxType,
    TrackedTransaction,
)
from .organization import Organization, OrganizationOwner, User
from .party import Address, PartyInfo
from .token import OAuthErrorBody, TokenSet

__all__ = [
    # invoices
    "Invoice",
    "InvoiceStatus",
    "FINAL_STATUSES",
    "InvoiceItem",
    "Tax",
    "TaxType",
    "PaymentTerms",
    "PaymentOption",
    "PaymentOptionValue",
    "PaymentInformation",
    "InvoiceLinks",
    "InvoiceEvent",
    "TrackedTransaction",
    "PaymentMetadata",
    "Meta",
    "SALARY_META",
    "NewInvoice",
    "InvoicePage",
    # parties
    "PartyInfo",
    "Address",
    # changes
    "ChangeType",
    "InvoiceChange",
    "NewInvoiceChange",
    # accounts, contacts, currencies
    "Organization",
    "OrganizationOwner",
    "User",
    "ClientContact",
    "NewClientContact",
    "Currency",
    "Chain",
    # OAuth
    "TokenSet",
    "OAuthErrorBody",
    # bases and codec
    "ResponseStruct",
    "RequestStruct",
    "OpenStrEnum",
    "ENCODER",
    "decoder",
    "decode",
    "encode",
]
