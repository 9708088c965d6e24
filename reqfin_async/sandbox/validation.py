"""Server-side checks of a new invoice, written from the API documentation and the
Request Network schema ``rnf_invoice-0.0.3.json`` (independently of the client's).

:func:`check_invoice` lists every offending field and, when there is none,
returns the content as the API stores it: absent-as-``null`` fields dropped,
dates in the API's format, the default ``meta`` and ``tax`` filled in and each
address in both its camelCase and hCard spellings::

    errors, invoice = check_invoice(body, now=datetime.now(UTC))
    errors  # [{"field": "invoiceItems[0].unitPrice", "message": "..."}]
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .._countries import ISO_3166_ALPHA2
from .catalog import CHAIN_IDS, CURRENCIES_BY_ID
from .state import format_iso, parse_iso

__all__ = ["VARIANTS", "check_invoice", "check_email", "drop_nulls"]

VARIANTS = ("rnf_invoice", "rnf_salary")
SCHEMA_VERSION = "0.0.3"

# Patterns of the rnf_invoice 0.0.3 schema.
_SIGNED_INTEGER = re.compile(r"-?\d+")
_UNSIGNED_INTEGER = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d*\.?\d+")
# What class-validator's IsEmail accepts, roughly: a local part, a domain with a TLD.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[A-Za-z]{2,}")
_EVM_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

_TOP_LEVEL = frozenset(
    {
        "meta", "creationDate", "invoiceNumber", "invoiceItems", "buyerInfo", "sellerInfo",
        "paymentTerms", "paymentOptions", "note", "terms", "purchaseOrderId", "tags",
        "recurringRule", "miscellaneous", "attachments", "categories", "clientId",
        "ccRecipients",
    }
)  # fmt: skip
_PARTY = frozenset(
    {
        "email", "firstName", "lastName", "businessName", "phone", "address",
        "taxRegistration", "companyRegistration", "miscellaneous",
    }
)  # fmt: skip
_ITEM = frozenset(
    {
        "name", "reference", "quantity", "unitPrice", "discount", "tax", "currency",
        "deliveryDate", "deliveryPeriod",
    }
)  # fmt: skip
_PAYMENT_TERMS = frozenset({"dueDate", "lateFeesPercent", "lateFeesFix", "miscellaneous"})
# camelCase key -> hCard key (the on-chain format); "region" is spelled alike.
_ADDRESS_KEYS = {
    "streetAddress": "street-address",
    "extendedAddress": "extended-address",
    "postOfficeBox": "post-office-box",
    "city": "locality",
    "postalCode": "postal-code",
    "region": "region",
    "country": "country-name",
}
_HCARD_KEYS = {hcard: camel for camel, hcard in _ADDRESS_KEYS.items()}
_PAYMENT_TYPES = ("wallet", "bank-account")


def drop_nulls(value: Any) -> Any:
    """``value`` without ``null`` members: the API treats an optional ``null`` as absent."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def check_email(value: object) -> bool:
    """Whether ``value`` is a well-formed email address."""
    return isinstance(value, str) and _EMAIL.fullmatch(value) is not None


class _Checker:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append({"field": path, "message": message})

    def unknown_keys(self, obj: dict[str, Any], allowed: frozenset[str], path: str) -> None:
        prefix = f"{path}." if path else ""
        for key in obj:
            if key not in allowed:
                self.fail(f"{prefix}{key}", f"property {key} should not exist")

    def string(self, obj: dict[str, Any], key: str, path: str, *, required: bool = False) -> bool:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(path, "is required")
            return False
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return False
        if required and not value.strip():
            self.fail(path, "must not be empty")
            return False
        return True

    def obj(self, value: object, path: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return None
        return value

    def date(self, obj: dict[str, Any], key: str, path: str) -> datetime | None:
        value = obj.get(key)
        if value is None:
            return None
        moment = parse_iso(value)
        if moment is None:
            self.fail(path, "must be an ISO-8601 date-time with a time zone")
            return None
        obj[key] = format_iso(moment)
        return moment

    def email(self, obj: dict[str, Any], path: str, *, required: bool) -> None:
        if self.string(obj, "email", path, required=required) and not check_email(obj["email"]):
            self.fail(path, "must be a valid email address")

    # -- parts ----------------------------------------------------------------------------

    def meta(self, body: dict[str, Any]) -> str:
        meta = self.obj(body.get("meta"), "meta")
        if meta is None:
            body["meta"] = {"format": "rnf_invoice", "version": SCHEMA_VERSION}
            return "rnf_invoice"
        self.unknown_keys(meta, frozenset({"format", "version"}), "meta")
        variant = meta.get("format")
        if variant not in VARIANTS:
            self.fail("meta.format", f"must be one of {', '.join(VARIANTS)}")
            variant = "rnf_invoice"
        if meta.get("version") != SCHEMA_VERSION:
            self.fail("meta.version", f"must be {SCHEMA_VERSION}")
        return str(variant)

    def party(self, body: dict[str, Any], key: str, *, email_required: bool) -> None:
        party = self.obj(body.get(key), key)
        if party is None:
            if email_required:
                self.fail(f"{key}.email", "is required")
            return
        self.unknown_keys(party, _PARTY, key)
        self.email(party, f"{key}.email", required=email_required)
        for name in ("firstName", "lastName", "businessName", "phone", "taxRegistration"):
            self.string(party, name, f"{key}.{name}")
        self.string(party, "companyRegistration", f"{key}.companyRegistration")
        self.obj(party.get("miscellaneous"), f"{key}.miscellaneous")
        address = self.obj(party.get("address"), f"{key}.address")
        if address is not None:
            party["address"] = self.address(address, f"{key}.address")

    def address(self, address: dict[str, Any], path: str) -> dict[str, Any]:
        merged: dict[str, str] = {}
        for key, value in address.items():
            camel = _HCARD_KEYS.get(key, key if key in _ADDRESS_KEYS else None)
            if camel is None:
                self.fail(f"{path}.{key}", f"property {key} should not exist")
            elif not isinstance(value, str):
                self.fail(f"{path}.{key}", "must be a string")
            elif camel in merged and merged[camel] != value:
                self.fail(f"{path}.{key}", f"disagrees with {camel}")
            else:
                merged[camel] = value
        country = merged.get("country")
        if country is not None and country not in ISO_3166_ALPHA2:
            if "country" in address:
                self.fail(f"{path}.country", "must be an ISO 3166-1 alpha-2 country code")
            else:
                # The schema's hCard "country-name" is free text ("France"); only a
                # code can also be echoed as the API's two-letter "country".
                del merged["country"]
        for dependent in ("extendedAddress", "postOfficeBox"):
            if dependent in merged and "streetAddress" not in merged:
                self.fail(f"{path}.streetAddress", f"is required with {dependent}")
        # Echo both spellings, camelCase first, as the API does.
        echoed: dict[str, str] = dict(merged)
        echoed.update({_ADDRESS_KEYS[k]: v for k, v in merged.items() if k != "region"})
        if "country" not in merged and "country-name" in address:
            echoed["country-name"] = address["country-name"]
        return echoed

    def items(self, body: dict[str, Any]) -> None:
        items = body.get("invoiceItems")
        if items is None:
            self.fail("invoiceItems", "is required")
            return
        if not isinstance(items, list) or not items:
            self.fail("invoiceItems", "must be a non-empty array")
            return
        for index, item in enumerate(items):
            path = f"invoiceItems[{index}]"
            if self.obj(item, path) is None:
                if item is None:
                    self.fail(path, "must be an object")
                continue
            self.item(item, path)

    def item(self, item: dict[str, Any], path: str) -> None:
        self.unknown_keys(item, _ITEM, path)
        if self.string(item, "currency", f"{path}.currency", required=True) and (
            len(item["currency"]) < 2
        ):
            self.fail(f"{path}.currency", "must have at least 2 characters")
        quantity = item.get("quantity")
        if quantity is None:
            self.fail(f"{path}.quantity", "is required")
        elif isinstance(quantity, bool) or not isinstance(quantity, int | float):
            self.fail(f"{path}.quantity", "must be a number")
        elif quantity < 0:
            self.fail(f"{path}.quantity", "must be >= 0")
        unit_price = item.get("unitPrice")
        if unit_price is None:
            self.fail(f"{path}.unitPrice", "is required")
        elif not isinstance(unit_price, str) or _SIGNED_INTEGER.fullmatch(unit_price) is None:
            self.fail(
                f"{path}.unitPrice",
                "must be a string of an integer in the currency's smallest unit",
            )
        if self.string(item, "discount", f"{path}.discount") and (
            _UNSIGNED_INTEGER.fullmatch(item["discount"]) is None
        ):
            self.fail(f"{path}.discount", "must be a string of a non-negative integer")
        for name in ("name", "reference", "deliveryPeriod"):
            self.string(item, name, f"{path}.{name}")
        self.date(item, "deliveryDate", f"{path}.deliveryDate")
        self.tax(item, path)

    def tax(self, item: dict[str, Any], path: str) -> None:
        tax = self.obj(item.get("tax"), f"{path}.tax")
        if tax is None:
            if "tax" not in item:
                item["tax"] = {"type": "fixed", "amount": "0"}
            return
        self.unknown_keys(tax, frozenset({"type", "amount"}), f"{path}.tax")
        kind, amount = tax.get("type"), tax.get("amount")
        if kind is None and amount is None:
            tax.update(type="fixed", amount="0")
            return
        if kind is None:
            self.fail(f"{path}.tax.type", "is required when tax.amount is sent")
        elif kind not in ("percentage", "fixed"):
            self.fail(f"{path}.tax.type", 'must be "percentage" or "fixed"')
        if amount is None:
            self.fail(f"{path}.tax.amount", "is required when tax.type is sent")
        elif not isinstance(amount, str):
            self.fail(f"{path}.tax.amount", "must be a string")
        elif kind == "percentage" and _DECIMAL.fullmatch(amount) is None:
            self.fail(f"{path}.tax.amount", "must be a decimal string for a percentage tax")
        elif kind == "fixed" and _UNSIGNED_INTEGER.fullmatch(amount) is None:
            self.fail(f"{path}.tax.amount", "must be a string of an integer for a fixed tax")

    def payment_terms(self, body: dict[str, Any], created: datetime | None) -> None:
        terms = self.obj(body.get("paymentTerms"), "paymentTerms")
        if terms is None:
            return
        self.unknown_keys(terms, _PAYMENT_TERMS, "paymentTerms")
        due = self.date(terms, "dueDate", "paymentTerms.dueDate")
        if due is not None and created is not None and due < created:
            self.fail("paymentTerms.dueDate", "must not be before creationDate")
        late_percent = terms.get("lateFeesPercent")
        if late_percent is not None and (
            isinstance(late_percent, bool) or not isinstance(late_percent, int | float)
        ):
            self.fail("paymentTerms.lateFeesPercent", "must be a number")
        if self.string(terms, "lateFeesFix", "paymentTerms.lateFeesFix") and (
            _UNSIGNED_INTEGER.fullmatch(terms["lateFeesFix"]) is None
        ):
            self.fail("paymentTerms.lateFeesFix", "must be a string of an integer")

    def payment_options(self, body: dict[str, Any]) -> None:
        options = body.get("paymentOptions")
        if options is None:
            self.fail("paymentOptions", "is required")
            return
        if not isinstance(options, list) or not options:
            self.fail("paymentOptions", "must be a non-empty array")
            return
        for index, option in enumerate(options):
            path = f"paymentOptions[{index}]"
            if not isinstance(option, dict):
                self.fail(path, "must be an object")
                continue
            kind = option.get("type")
            if kind not in _PAYMENT_TYPES:
                self.fail(f"{path}.type", f"must be one of {', '.join(_PAYMENT_TYPES)}")
            value = self.obj(option.get("value"), f"{path}.value")
            if value is None:
                self.fail(f"{path}.value", "is required")
                continue
            networks = self.currencies(value, f"{path}.value.currencies")
            if kind == "wallet":
                self.wallet(value, f"{path}.value.paymentInformation", networks)

    def currencies(self, value: dict[str, Any], path: str) -> set[str | None]:
        currencies = value.get("currencies")
        if not isinstance(currencies, list) or not currencies:
            self.fail(path, "must be a non-empty array of currency ids")
            return set()
        networks: set[str | None] = set()
        for index, currency in enumerate(currencies):
            known = CURRENCIES_BY_ID.get(currency) if isinstance(currency, str) else None
            if known is None:
                self.fail(f"{path}[{index}]", "unknown currency (see GET /currency)")
            else:
                networks.add(known["network"])
        return networks

    def wallet(self, value: dict[str, Any], path: str, networks: set[str | None]) -> None:
        info = self.obj(value.get("paymentInformation"), path)
        if info is None:
            self.fail(path, "is required")
            return
        address = info.get("paymentAddress")
        if not isinstance(address, str) or _EVM_ADDRESS.fullmatch(address) is None:
            self.fail(f"{path}.paymentAddress", "must be an EVM address (0x and 40 hex digits)")
        chain = info.get("chain")
        if chain not in CHAIN_IDS:
            self.fail(f"{path}.chain", f"must be one of {', '.join(sorted(CHAIN_IDS))}")
        elif any(n is not None and n != chain for n in networks):
            self.fail(f"{path}.chain", "does not match the network of the currencies")

    def extras(self, body: dict[str, Any]) -> None:
        for name in ("note", "terms", "purchaseOrderId", "recurringRule", "clientId"):
            self.string(body, name, name)
        self.obj(body.get("miscellaneous"), "miscellaneous")
        for name in ("tags", "categories", "attachments", "ccRecipients"):
            value = body.get(name)
            if value is not None and not isinstance(value, list):
                self.fail(name, "must be an array")
        if isinstance(body.get("tags"), list):
            for index, tag in enumerate(body["tags"]):
                if not isinstance(tag, str):
                    self.fail(f"tags[{index}]", "must be a string")
        if isinstance(body.get("ccRecipients"), list):
            for index, email in enumerate(body["ccRecipients"]):
                if not check_email(email):
                    self.fail(f"ccRecipients[{index}]", "must be a valid email address")


def check_invoice(
    raw: dict[str, Any], *, now: datetime
) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """Every error of a ``POST /invoices`` body, and the content as stored.

    The content is meaningful only when the error list is empty.
    """
    body: dict[str, Any] = drop_nulls(raw)
    checker = _Checker()
    checker.unknown_keys(body, _TOP_LEVEL, "")
    variant = checker.meta(body)
    if body.get("invoiceNumber") is not None and not isinstance(body["invoiceNumber"], str):
        checker.fail("invoiceNumber", "must be a string")
    else:
        checker.string(body, "invoiceNumber", "invoiceNumber", required=True)
    if "creationDate" in body:
        created = checker.date(body, "creationDate", "creationDate")
    else:
        created = now
        body["creationDate"] = format_iso(now)
    checker.items(body)
    # An invoice is sent to its buyer; a salary is owed to its employee (the seller).
    checker.party(body, "buyerInfo", email_required=variant == "rnf_invoice")
    checker.party(body, "sellerInfo", email_required=variant == "rnf_salary")
    checker.payment_terms(body, created)
    checker.payment_options(body)
    checker.extras(body)
    return checker.errors, body
