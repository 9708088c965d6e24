"""Checks run on an invoice or a contact before anything is sent. Nothing here does I/O.

Both entry points take a struct or a plain mapping in the API's JSON shape and
go through one pipeline:

1. the input becomes builtins (``msgspec.to_builtins`` for a struct);
2. it is walked against the structs' wire names: unknown keys, missing
   required fields and wrong types are all recorded, each at its own path;
3. ``msgspec.convert`` builds the typed struct and the semantic checks run on it.

Every problem is reported at once, with paths in the API's JSON names::

    try:
        body = validate_new_invoice({"invoiceNumber": "13", ...})
    except InvoiceValidationError as e:
        e.errors  # [("invoiceItems[0].unitPrice", "must be ..."), ...]
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from ._countries import ISO_3166_ALPHA2
from ._rrule import recurring_rule_problems
from .errors import InvoiceValidationError
from .models import (
    SALARY_META,
    Address,
    InvoiceItem,
    Meta,
    NewClientContact,
    NewInvoice,
    PartyInfo,
    PaymentOption,
    PaymentTerms,
    Tax,
    TaxType,
)

__all__ = [
    "CONTACT_TYPES",
    "KNOWN_FORMATS",
    "is_email",
    "recurring_rule_problems",
    "validate_new_client",
    "validate_new_invoice",
]

S = TypeVar("S", bound=msgspec.Struct)

KNOWN_FORMATS: Mapping[str, frozenset[str]] = types.MappingProxyType(
    {
        "rnf_invoice": frozenset({"0.0.1", "0.0.2", "0.0.3"}),
        "rnf_salary": frozenset({"0.0.3"}),
    }
)
"""The content formats the API takes, with their versions."""

CONTACT_TYPES = frozenset({"customer", "vendor"})
"""The ``contactType`` values of a contact that this client knows."""

_INTEGER_AMOUNT = re.compile(r"-?\d+")
_NATURAL_AMOUNT = re.compile(r"\d+")
_PERCENT_AMOUNT = re.compile(r"\d*\.?\d+")
# Pragmatic on purpose: one @, no spaces, a dot in the domain.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(text: object) -> bool:
    """Whether ``text`` looks like an email address (one @, no spaces, a dot in the domain)."""
    return isinstance(text, str) and _EMAIL.fullmatch(text) is not None


_UNIT_PRICE_PROBLEM = (
    'must be a string of an integer in the smallest unit of the currency ("9999" for 99.99)'
)
_NATURAL_PROBLEM = "must be a string of a non-negative integer in the smallest unit of the currency"
_PERCENT_PROBLEM = 'must be a string of a non-negative decimal percentage ("20", "19.9")'
# A wrong JSON type at these names gets the same words as a malformed value.
_AMOUNT_TYPE_PROBLEMS = {
    "unitPrice": _UNIT_PRICE_PROBLEM,
    "discount": _NATURAL_PROBLEM,
    "lateFeesFix": _NATURAL_PROBLEM,
    "amount": "must be a string: a percentage or an integer amount in the smallest unit",
}


def validate_new_invoice(
    body: NewInvoice | Mapping[str, Any], *, salary: bool = False
) -> NewInvoice:
    """Check an invoice (or, with ``salary=True``, a salary) and return it typed, ready to encode.

    Raises ``InvoiceValidationError`` listing every problem. A salary gets the
    ``rnf_salary`` meta when it has none, and needs ``sellerInfo.email`` (the
    employee) instead of ``buyerInfo.email``::

        body = validate_new_invoice(mapping_or_struct)
        payload = encode(body)
    """
    data = _as_builtins(body, NewInvoice)
    if salary and (data.get("meta") is None or _is_default_meta(body)):
        data["meta"] = msgspec.to_builtins(SALARY_META)
    errors = _Errors()
    invoice = _typed(data, NewInvoice, errors)
    if invoice is not None:
        _check_invoice(invoice, errors, salary=salary)
    errors.raise_if_any()
    assert invoice is not None  # raise_if_any raised otherwise
    return invoice


def validate_new_client(body: NewClientContact | Mapping[str, Any]) -> NewClientContact:
    """Check a contact for ``POST /clients`` and return it typed, ready to encode.

    Example::

        body = validate_new_client({"email": "justin@acme.example", "contactType": ["customer"]})
        body.contact_type  # ["customer"]
    """
    data = _as_builtins(body, NewClientContact)
    errors = _Errors()
    contact = _typed(data, NewClientContact, errors)
    if contact is not None:
        _check_email(contact.email, "email", errors, required=True)
        if not contact.contact_type:
            errors.add("contactType", "must list at least one type, such as 'customer'")
        for i, kind in enumerate(contact.contact_type):
            if kind not in CONTACT_TYPES:
                errors.add(f"contactType[{i}]", f"must be one of {_listed(CONTACT_TYPES)}")
        _check_address(contact.address, "address", errors)
    errors.raise_if_any()
    assert contact is not None
    return contact


# --- collecting errors ---------------------------------------------------------------------


class _Errors:
    """The problems found so far, in order, one report per place."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []
        # Places whose value was missing or of the wrong type: what the checks
        # find below them comes from the stand-in, not from the caller.
        self._broken: list[str] = []

    def add(self, path: str, problem: str, *, broken: bool = False) -> None:
        if any(_is_within(path, place) for place in self._broken):
            return
        if (path, problem) not in self.found:
            self.found.append((path, problem))
        if broken:
            self._broken.append(path)

    def add_type_error(self, path: str, exc: msgspec.ValidationError) -> None:
        message, _, where = str(exc).partition(" - at `$")
        full = (path + where.rstrip("`")).lstrip(".")
        missing = _MISSING_FIELD.fullmatch(message)
        if missing:
            full, problem = _join(full, missing[1]), "required"
        elif message.startswith("Expected") and _last_name(full) in _AMOUNT_TYPE_PROBLEMS:
            problem = _AMOUNT_TYPE_PROBLEMS[_last_name(full)]
        else:
            problem = _plain_words(message)
        self.add(full, problem, broken=True)

    def raise_if_any(self) -> None:
        if self.found:
            raise InvoiceValidationError(self.found)


def _last_name(path: str) -> str:
    return re.split(r"[.\[]", path)[-1]


def _is_within(path: str, place: str) -> bool:
    return path == place or path.startswith((f"{place}.", f"{place}["))


_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "decimal": "a number",
    "bool": "a boolean",
    "array": "an array",
    "object": "an object",
    "datetime": "an RFC 3339 date-time",
}
_EXPECTED = re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")


def _plain_words(message: str) -> str:
    """msgspec's ``Expected `str | null`, got `float``` in the API's JSON terms."""
    match = _EXPECTED.fullmatch(message)
    if match is None:
        if message == "Invalid RFC3339 encoded datetime":
            return "must be an RFC 3339 date-time such as 2023-01-21T23:59:59Z"
        if message == "Invalid decimal string":
            return "must be a number"
        return message[:1].lower() + message[1:]
    wanted = [_TYPE_WORDS.get(t, t) for t in match["want"].split(" | ") if t != "null"]
    got = _TYPE_WORDS.get(match["got"], match["got"])
    return f"must be {' or '.join(wanted)}, got {got}"


# --- steps 1 and 2: builtins walked against the wire names ------------------------------------


def _as_builtins(body: object, cls: type[msgspec.Struct]) -> dict[str, Any]:
    if isinstance(body, Mapping):
        body = dict(body)
    elif not isinstance(body, cls):
        raise TypeError(f"expected {cls.__name__} or a mapping, got {type(body).__name__}")
    # Datetimes and Decimals stay objects: a naive datetime must reach the checks as such.
    data = msgspec.to_builtins(body, builtin_types=(datetime, Decimal))
    assert isinstance(data, dict)
    return data


def _is_default_meta(body: object) -> bool:
    # A NewInvoice always carries a meta; the default one means "not chosen".
    return isinstance(body, NewInvoice) and body.meta == Meta()


def _typed(data: dict[str, Any], cls: type[S], errors: _Errors) -> S | None:
    repaired = _walk(data, cls, "", errors)
    try:
        return msgspec.convert(repaired, cls)
    except msgspec.ValidationError as exc:
        errors.add_type_error("", exc)
        return None


def _walk(value: Any, tp: Any, path: str, errors: _Errors) -> Any:
    """``value`` checked against ``tp``; what is wrong is recorded and replaced by a stand-in,
    so that the semantic checks can still look at everything else."""
    if value is None and _accepts_none(tp):
        return None
    tp = _without_none(tp)
    if _is_struct(tp) and isinstance(value, dict):
        return _walk_struct(value, tp, path, errors)
    if typing.get_origin(tp) is list and isinstance(value, list):
        (item_tp,) = typing.get_args(tp)
        return [_walk(v, item_tp, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    if type(value) is float:
        value = Decimal(repr(value))  # the decimal the float was written as: 0.1 is 1/10
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        errors.add_type_error(path, exc)
        return _stand_in(tp)
    return value


def _walk_struct(
    data: dict[str, Any], cls: type[msgspec.Struct], path: str, errors: _Errors
) -> dict[str, Any]:
    fields = _wire_fields(cls)
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            errors.add(_join(path, key), "unknown field", broken=True)
        elif value is None and not field.required and not _accepts_none(field.type):
            continue  # null for a field with a default (meta, contactType) means "the default"
        else:
            out[key] = _walk(value, field.type, _join(path, key), errors)
    for key, field in fields.items():
        if field.required and key not in data:
            errors.add(_join(path, key), "required", broken=True)
            out[key] = _stand_in(field.type)
    return out


@functools.cache
def _wire_fields(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


def _stand_in(tp: Any) -> Any:
    """A neutral value of type ``tp`` to put where the caller's was wrong or missing."""
    if _accepts_none(tp):
        return None
    if _is_struct(tp):
        fields = _wire_fields(tp).items()
        return {key: _stand_in(field.type) for key, field in fields if field.required}
    candidates: tuple[Any, ...] = ("", 0, [], {})
    for candidate in candidates:
        try:
            msgspec.convert(candidate, tp)
        except msgspec.ValidationError:
            continue
        return candidate
    return None  # no neutral value: the final convert fails, at a place already reported


def _accepts_none(tp: Any) -> bool:
    return tp is None or (isinstance(tp, types.UnionType) and type(None) in typing.get_args(tp))


def _without_none(tp: Any) -> Any:
    if isinstance(tp, types.UnionType):
        rest = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --- step 3: semantic checks on the typed result ----------------------------------------------


def _check_invoice(invoice: NewInvoice, errors: _Errors, *, salary: bool) -> None:
    salary = salary or invoice.meta.format == SALARY_META.format
    _check_meta(invoice.meta, errors, salary=salary)
    if not invoice.invoice_number.strip():
        errors.add("invoiceNumber", "must not be empty")
    _check_aware(invoice.creation_date, "creationDate", errors)
    if not invoice.invoice_items:
        errors.add("invoiceItems", "must list at least one item")
    for i, item in enumerate(invoice.invoice_items):
        _check_item(item, f"invoiceItems[{i}]", errors)
    # A salary is sent by the employee (the seller); an invoice to a buyer.
    needs_email = "sellerInfo" if salary else "buyerInfo"
    for name, party in (("buyerInfo", invoice.buyer_info), ("sellerInfo", invoice.seller_info)):
        _check_party(party, name, errors, email_required=name == needs_email)
    _check_terms(invoice.payment_terms, invoice.creation_date, errors)
    if not invoice.payment_options:
        errors.add("paymentOptions", "must list at least one way to pay")
    for i, option in enumerate(invoice.payment_options):
        _check_payment_option(option, f"paymentOptions[{i}]", errors)
    if invoice.recurring_rule is not None:
        for problem in recurring_rule_problems(invoice.recurring_rule):
            errors.add("recurringRule", problem)
    for i, email in enumerate(invoice.cc_recipients or []):
        _check_email(email, f"ccRecipients[{i}]", errors, required=True)


def _check_meta(meta: Meta, errors: _Errors, *, salary: bool) -> None:
    versions = KNOWN_FORMATS.get(meta.format)
    if versions is None:
        errors.add("meta.format", f"must be one of {_listed(KNOWN_FORMATS)}")
    elif meta.version not in versions:
        errors.add("meta.version", f"must be one of {_listed(versions)} for {meta.format}")
    if salary and meta.format != SALARY_META.format:
        errors.add("meta.format", f"must be {SALARY_META.format} for a salary")


def _check_item(item: InvoiceItem, path: str, errors: _Errors) -> None:
    if len(item.currency.strip()) < 2:
        errors.add(f"{path}.currency", 'must be a currency code of 2 characters or more ("USD")')
    quantity = item.quantity
    if isinstance(quantity, Decimal) and not quantity.is_finite():
        errors.add(f"{path}.quantity", "must be a finite number")
    elif quantity < 0:
        errors.add(f"{path}.quantity", "must not be negative")
    if not _INTEGER_AMOUNT.fullmatch(item.unit_price):
        errors.add(f"{path}.unitPrice", _UNIT_PRICE_PROBLEM)
    if item.discount is not None and not _NATURAL_AMOUNT.fullmatch(item.discount):
        errors.add(f"{path}.discount", _NATURAL_PROBLEM)
    if item.tax is not None:
        _check_tax(item.tax, f"{path}.tax", errors)
    _check_aware(item.delivery_date, f"{path}.deliveryDate", errors)


def _check_tax(tax: Tax, path: str, errors: _Errors) -> None:
    # The API documents each of type and amount as required when the other is sent.
    if tax.type is None:
        errors.add(f"{path}.type", "required when a tax is given")
    elif not tax.type.is_known:
        errors.add(f"{path}.type", f"must be one of {_listed(TaxType)}")
    if tax.amount is None:
        errors.add(f"{path}.amount", "required when a tax is given")
    elif tax.type is TaxType.PERCENTAGE:
        if not _PERCENT_AMOUNT.fullmatch(tax.amount):
            errors.add(f"{path}.amount", _PERCENT_PROBLEM)
    elif tax.type is TaxType.FIXED and not _NATURAL_AMOUNT.fullmatch(tax.amount):
        errors.add(f"{path}.amount", _NATURAL_PROBLEM)


def _check_party(
    party: PartyInfo | None, path: str, errors: _Errors, *, email_required: bool
) -> None:
    if party is None:
        if email_required:
            errors.add(f"{path}.email", "required")
        return
    _check_email(party.email, f"{path}.email", errors, required=email_required)
    _check_address(party.address, f"{path}.address", errors)


def _check_email(email: str | None, path: str, errors: _Errors, *, required: bool) -> None:
    if email is None or not email.strip():
        # An empty optional email is taken as absent, as the API's own examples send "".
        if required:
            errors.add(path, "required")
    elif not _EMAIL.fullmatch(email):
        errors.add(path, "must be an email address such as name@example.com")


def _check_address(address: Address | None, path: str, errors: _Errors) -> None:
    # Only `country` is a code; `country-name` is free text.
    if address is None or address.country is None or address.country in ISO_3166_ALPHA2:
        return
    if address.country.upper() in ISO_3166_ALPHA2:
        problem = f"must be upper case: {address.country.upper()!r}"
    else:
        problem = "must be an ISO 3166-1 alpha-2 country code such as 'US' or 'FR'"
    errors.add(f"{path}.country", problem)


def _check_terms(terms: PaymentTerms | None, created: datetime | None, errors: _Errors) -> None:
    if terms is None:
        return
    due = terms.due_date
    due_aware = _check_aware(due, "paymentTerms.dueDate", errors)
    if due_aware and due and created and _is_aware(created) and due < created:
        errors.add("paymentTerms.dueDate", "must not be before creationDate")
    if terms.late_fees_fix is not None and not _NATURAL_AMOUNT.fullmatch(terms.late_fees_fix):
        errors.add("paymentTerms.lateFeesFix", _NATURAL_PROBLEM)
    percent = terms.late_fees_percent
    if isinstance(percent, Decimal) and not percent.is_finite():
        errors.add("paymentTerms.lateFeesPercent", "must be a finite number")
    elif percent is not None and percent < 0:
        errors.add("paymentTerms.lateFeesPercent", "must not be negative")


def _check_payment_option(option: PaymentOption, path: str, errors: _Errors) -> None:
    # Other option types (bank accounts...) have shapes this client does not check.
    if option.type != "wallet":
        return
    info = option.value.payment_information
    address = info.payment_address if info is not None else None
    if address is None or not address.strip():
        where = f"{path}.value.paymentInformation.paymentAddress"
        errors.add(
            where, "required for a wallet, such as 0x4886E85E192cdBC81d42D89256a81dAb990CDD74"
        )
    if not option.value.currencies:
        errors.add(
            f"{path}.value.currencies", "must list at least one currency, such as USDC-matic"
        )


def _check_aware(moment: datetime | None, path: str, errors: _Errors) -> bool:
    """Whether ``moment`` is absent or aware; a naive one is reported."""
    if moment is None or _is_aware(moment):
        return True
    errors.add(path, "must carry a timezone offset, such as 2023-01-21T23:59:59Z")
    return False


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def _listed(values: typing.Iterable[str]) -> str:
    return ", ".join(sorted(str(v) for v in values))
