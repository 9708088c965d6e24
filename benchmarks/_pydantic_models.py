"""The invoice as most Python API clients would model it: pydantic v2, for comparison.

The same fields and nesting as ``reqfin_async.models.Invoice``, so that the
decoding figures compare like with like.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

__all__ = ["PydInvoice", "INVOICE_ADAPTER", "PAGE_ADAPTER"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PydAddress(_Model):
    street_address: str | None = None
    extended_address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None
    locality: str | None = None
    country_name: str | None = Field(default=None, alias="country-name")
    hcard_street_address: str | None = Field(default=None, alias="street-address")
    hcard_extended_address: str | None = Field(default=None, alias="extended-address")
    hcard_postal_code: str | None = Field(default=None, alias="postal-code")


class PydParty(_Model):
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    business_name: str | None = None
    phone: str | None = None
    address: PydAddress | None = None
    tax_registration: str | None = None
    company_registration: str | None = None
    user_id: str | None = None


class PydTax(_Model):
    type: str | None = None
    amount: str | None = None


class PydItem(_Model):
    currency: str
    quantity: int | Decimal
    unit_price: str
    name: str | None = None
    tax: PydTax | None = None
    discount: str | None = None


class PydTerms(_Model):
    due_date: datetime | None = None


class PydPaymentInformation(_Model):
    payment_address: str | None = None
    chain: str | None = None


class PydOptionValue(_Model):
    currencies: list[str] = []
    payment_information: PydPaymentInformation | None = None


class PydOption(_Model):
    type: str = "wallet"
    value: PydOptionValue


class PydLinks(_Model):
    pay: str | None = None
    view: str | None = None
    sign_up_and_pay: str | None = None


class PydEvent(_Model):
    name: str | None = None
    user_id: str | None = None
    date: datetime | None = None


class PydMeta(_Model):
    format: str = "rnf_invoice"
    version: str = "0.0.3"


class PydPaymentMetadata(_Model):
    tx_hash: str | None = None
    chain_name: str | None = None
    payment_date: datetime | None = None
    is_manually_paid: bool | None = None


class PydInvoice(_Model):
    id: str
    request_id: str | None = None
    status: str | None = None
    invoice_number: str | None = None
    creation_date: datetime | None = None
    invoice_items: list[PydItem] = []
    buyer_info: PydParty | None = None
    seller_info: PydParty | None = None
    payment_terms: PydTerms | None = None
    payment_options: list[PydOption] = []
    invoice_links: PydLinks | None = None
    events: list[PydEvent] = []
    tags: list[str] = []
    role: str | None = None
    type: str | None = None
    meta: PydMeta | None = None
    created_by: str | None = None
    tracked_transactions: list[Any] = []
    payment_metadata: PydPaymentMetadata | None = None


INVOICE_ADAPTER: TypeAdapter[PydInvoice] = TypeAdapter(PydInvoice)
PAGE_ADAPTER: TypeAdapter[list[PydInvoice]] = TypeAdapter(list[PydInvoice])
