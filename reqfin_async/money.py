"""Invoice amounts, computed exactly as the Request Network computes them.

Amounts are integers in the currency's smallest unit (cents, wei), strings on
the wire. A line total is::

    round_half_up((unitPrice * quantity - discount) * (100 + taxPercent) / 100 + fixedTax)

where a fixed tax is added once per line and rounding is JavaScript's
``Math.round`` (``floor(x + 1/2)``). Everything runs on ``Fraction``: wei
amounts exceed the 28 digits of the default ``Decimal`` context.

Example::

    invoice_total(invoice.invoice_items)   # 23998
    format_amount(23998, 2, "USD")         # "239.98 USD"
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

__all__ = [
    "LineLike",
    "TaxLike",
    "format_amount",
    "invoice_tax_total",
    "invoice_total",
    "invoice_total_without_tax",
    "line_total",
    "line_total_without_tax",
    "to_smallest_unit",
]

_INTEGER = re.compile(r"-?\d+")
_PERCENT = re.compile(r"-?(\d+\.?\d*|\.\d+)")
_MAJOR_UNITS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


class TaxLike(Protocol):
    """What the computation reads from a tax: ``Tax`` satisfies it.

    Example::

        tax: TaxLike = Tax(type=TaxType.FIXED, amount="150")
    """

    @property
    def type(self) -> str | None: ...

    @property
    def amount(self) -> str | None: ...


class LineLike(Protocol):
    """What the computation reads from an invoice line: ``InvoiceItem`` satisfies it.

    Example::

        line: LineLike = InvoiceItem(currency="USD", quantity=2, unit_price="9999")
    """

    @property
    def unit_price(self) -> str: ...

    @property
    def quantity(self) -> int | Decimal | float: ...

    @property
    def discount(self) -> str | None: ...

    @property
    def tax(self) -> TaxLike | None: ...


def line_total(item: LineLike) -> int:
    """The line's amount due, tax included, in the smallest unit.

    Example::

        line_total(InvoiceItem(currency="USD", quantity=2, unit_price="9999",
                               tax=Tax(type=TaxType.PERCENTAGE, amount="20")))  # 23998
    """
    percent, fixed = _tax_parts(item.tax)
    return _round_half_up(_net(item) * (100 + percent) / 100 + fixed)


def line_total_without_tax(item: LineLike) -> int:
    """The line's ``unitPrice * quantity - discount``, rounded half up.

    Example::

        line_total_without_tax(item)  # 19998 for 2 * "9999"
    """
    return _round_half_up(_net(item))


def invoice_total(items: Iterable[LineLike]) -> int:
    """The invoice's amount due: the sum of its line totals.

    Example::

        invoice_total(invoice.invoice_items)
    """
    return sum(line_total(item) for item in items)


def invoice_total_without_tax(items: Iterable[LineLike]) -> int:
    """The sum of the lines' totals before tax.

    Example::

        invoice_total_without_tax(invoice.invoice_items)
    """
    return sum(line_total_without_tax(item) for item in items)


def invoice_tax_total(items: Iterable[LineLike]) -> int:
    """The tax part of the invoice: ``invoice_total - invoice_total_without_tax``.

    Example::

        invoice_tax_total(invoice.invoice_items)  # 4000 for 2 * "9999" at 20 %
    """
    lines = list(items)
    return invoice_total(lines) - invoice_total_without_tax(lines)


def format_amount(amount: int, decimals: int, currency: str | None = None) -> str:
    """An amount in the smallest unit written in major units, exactly.

    With 2 decimals or fewer (fiat) every fraction digit is kept; with more
    (tokens) trailing zeros are dropped::

        format_amount(23998, 2, "USD")                    # "239.98 USD"
        format_amount(1500000000000000000, 18, "ETH")     # "1.5 ETH"
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    sign = "-" if amount < 0 else ""
    scale: int = 10**decimals
    whole, fraction = divmod(abs(amount), scale)
    text = f"{sign}{whole}"
    if decimals:
        digits = str(fraction).zfill(decimals)
        if decimals > 2:
            digits = digits.rstrip("0")
        if digits:
            text = f"{text}.{digits}"
    return f"{text} {currency}" if currency else text


def to_smallest_unit(text: str | Decimal | int, decimals: int) -> int:
    """Major units (``"239.98"``) to the smallest unit (``23998``), exactly, never via float.

    Raises ``ValueError`` when the value needs more fraction digits than
    ``decimals`` (trailing zeros are fine)::

        to_smallest_unit("239.98", 2)    # 23998
        to_smallest_unit("1.5", 18)      # 1500000000000000000
    """
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")
    if isinstance(text, bool) or not isinstance(text, str | Decimal | int):
        raise TypeError(f"expected str, Decimal or int, got {type(text).__name__}")
    scale: int = 10**decimals  # annotated: int ** int is not always an int to a type checker
    if isinstance(text, int):
        return text * scale
    if isinstance(text, str):
        stripped = text.strip()
        if not _MAJOR_UNITS.fullmatch(stripped):
            raise ValueError(f"not a decimal amount: {text!r}")
        value = Fraction(Decimal(stripped))
    else:
        if not text.is_finite():
            raise ValueError(f"not a finite amount: {text!r}")
        value = Fraction(text)
    scaled = value * scale
    if scaled.denominator != 1:
        raise ValueError(f"{text!r} has more than {decimals} fraction digits")
    return scaled.numerator


def _net(item: LineLike) -> Fraction:
    unit_price = _integer(item.unit_price, "unitPrice")
    discount = _integer(item.discount, "discount") if item.discount is not None else 0
    return unit_price * _quantity(item.quantity) - discount


def _tax_parts(tax: TaxLike | None) -> tuple[Fraction, int]:
    """``(percent, fixed)`` of a tax; no tax is ``(0, 0)``."""
    if tax is None or tax.amount is None:
        return Fraction(0), 0
    # The API documents "fixed" as the default type.
    kind = "fixed" if tax.type is None else tax.type
    if kind == "percentage":
        if not isinstance(tax.amount, str) or not _PERCENT.fullmatch(tax.amount):
            raise ValueError(f"tax.amount {tax.amount!r} is not a decimal percentage")
        return Fraction(Decimal(tax.amount)), 0
    if kind == "fixed":
        return Fraction(0), _integer(tax.amount, "tax.amount")
    shown = getattr(kind, "value", kind)  # an unknown TaxType pseudo-member shows its text
    raise ValueError(f"tax.type {shown!r} is neither 'percentage' nor 'fixed'")


def _integer(value: object, name: str) -> int:
    if not isinstance(value, str) or not _INTEGER.fullmatch(value):
        raise ValueError(f"{name} {value!r} is not an integer amount in the smallest unit")
    return int(value)


def _quantity(value: object) -> Fraction:
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    if isinstance(value, float):
        # A float is read as the decimal a person wrote: 0.1 means 1/10.
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and value.is_finite():
        return Fraction(value)
    raise ValueError(f"quantity {value!r} is not a finite number")


def _round_half_up(value: Fraction) -> int:
    # JavaScript's Math.round: halves go up, also for negatives (-2.5 -> -2).
    return math.floor(value + Fraction(1, 2))
