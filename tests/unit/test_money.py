"""Amounts, computed as the Request Network computes them, exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from reqfin_async.models import InvoiceItem, NewInvoice, Tax, TaxType, decode
from reqfin_async.money import (
    format_amount,
    invoice_tax_total,
    invoice_total,
    invoice_total_without_tax,
    line_total,
    line_total_without_tax,
    to_smallest_unit,
)

# The Request Network's published test vectors, copied from its repository.
VECTORS = Path(__file__).resolve().parent.parent / "fixtures" / "rnf_invoice"


def item(
    unit_price: str,
    quantity: int | Decimal | float = 1,
    *,
    percent: str | None = None,
    fixed: str | None = None,
    discount: str | None = None,
) -> InvoiceItem:
    tax = None
    if percent is not None:
        tax = Tax(type=TaxType.PERCENTAGE, amount=percent)
    elif fixed is not None:
        tax = Tax(type=TaxType.FIXED, amount=fixed)
    # A float quantity breaks the declared type on purpose: callers do pass them.
    return InvoiceItem(
        currency="USD",
        quantity=quantity,  # type: ignore[arg-type]
        unit_price=unit_price,
        tax=tax,
        discount=discount,
    )


def test_seed_example_two_televisions_at_20_percent() -> None:
    tv = item("9999", 2, percent="20")

    assert line_total(tv) == 23998
    assert line_total_without_tax(tv) == 19998
    assert invoice_tax_total([tv]) == 4000
    assert format_amount(invoice_total([tv]), 2) == "239.98"


def test_official_valid_vector_totals_1541() -> None:
    content = json.loads((VECTORS / "example-valid-0.0.3.json").read_text())
    items = [decode(json.dumps(i), InvoiceItem) for i in content["invoiceItems"]]

    # round((100 x 2 - 1) x 1.199) = 239 and round(1234 x 1.055) = 1302
    assert [line_total(i) for i in items] == [239, 1302]
    assert invoice_total(items) == 1541
    assert invoice_total_without_tax(items) == 199 + 1234
    assert invoice_tax_total(items) == 1541 - 1433


def test_fractional_quantity_rounds_half_up() -> None:
    assert line_total(item("3333", Decimal("1.5"))) == 5000  # 4999.5 -> 5000
    assert line_total(item("3", Decimal("0.5"))) == 2  # exactly 1.5 -> 2
    assert line_total(item("1", Decimal("0.49"))) == 0


def test_negative_amounts_round_half_up_like_math_round() -> None:
    # Math.round(-1.5) is -1, not -2.
    assert line_total(item("-3", Decimal("0.5"))) == -1
    assert line_total(item("-5", Decimal("0.5"))) == -2  # -2.5 -> -2
    assert line_total(item("-7", Decimal("0.5"))) == -3  # -3.5 -> -3


def test_float_quantity_is_read_as_its_shortest_decimal() -> None:
    # 0.29 as a binary float is slightly below 0.29; read as written it is exact.
    assert line_total(item("50", 0.29)) == line_total(item("50", Decimal("0.29"))) == 15
    assert line_total(item("3333", 1.5)) == 5000


def test_fixed_tax_is_added_once_per_line_not_per_unit() -> None:
    assert line_total(item("1000", 3, fixed="150")) == 3150
    assert line_total_without_tax(item("1000", 3, fixed="150")) == 3000
    assert invoice_tax_total([item("1000", 3, fixed="150")]) == 150


def test_discount_is_taken_before_tax() -> None:
    assert line_total(item("1000", 2, percent="10", discount="500")) == 1650


def test_no_tax_and_empty_invoice() -> None:
    assert line_total(item("1234", 2)) == 2468
    assert invoice_total([]) == 0


def test_tax_without_type_is_fixed_as_documented() -> None:
    untyped = InvoiceItem(currency="USD", quantity=2, unit_price="100", tax=Tax(amount="7"))

    assert line_total(untyped) == 207


def test_big_token_amounts_are_exact() -> None:
    price = "1234567890123456789012345678901234567890"
    wei = item(price, 3, percent="19.9")

    # (p x 3) x 1199 / 1000, rounded half up, in integers only.
    expected = (int(price) * 3 * 1199 * 2 + 1000) // 2000
    assert line_total(wei) == expected
    assert line_total(wei) == 4440740700774074070077407407007740740700
    # What the default 28-digit Decimal context would have produced instead:
    assert int(Decimal(price) * 3 * Decimal("1.199")) != expected
    assert line_total_without_tax(wei) == int(price) * 3


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (item("99.99"), "unitPrice"),
        (item("100", discount="1.5"), "discount"),
        (item("100", percent="twenty"), "tax.amount"),
        (item("100", fixed="1.5"), "tax.amount"),
        (item("100", Decimal("NaN")), "quantity"),
        (
            InvoiceItem(
                currency="USD",
                quantity=1,
                unit_price="1",
                tax=Tax(type=TaxType("compound"), amount="1"),
            ),
            "tax.type",
        ),
    ],
)
def test_malformed_amounts_raise_value_error_naming_the_field(bad: InvoiceItem, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        line_total(bad)


def test_new_invoice_total_matches_invoice_total() -> None:
    new = NewInvoice(
        invoice_number="1", invoice_items=[item("9999", 2, percent="20")], payment_options=[]
    )

    assert new.total() == 23998


@pytest.mark.parametrize(
    ("amount", "decimals", "currency", "text"),
    [
        (23998, 2, None, "239.98"),
        (23998, 2, "USD", "239.98 USD"),
        (1500000000000000000, 18, "ETH", "1.5 ETH"),
        (10000, 2, "EUR", "100.00 EUR"),
        (5, 2, None, "0.05"),
        (-23998, 2, None, "-239.98"),
        (-5, 2, None, "-0.05"),
        (1500000, 6, "USDC", "1.5 USDC"),
        (1, 18, "ETH", "0.000000000000000001 ETH"),
        (10**18, 18, "ETH", "1 ETH"),
        (42, 0, "JPY", "42 JPY"),
        (15, 1, None, "1.5"),
    ],
)
def test_format_amount(amount: int, decimals: int, currency: str | None, text: str) -> None:
    assert format_amount(amount, decimals, currency) == text


@pytest.mark.parametrize(
    ("text", "decimals", "amount"),
    [
        ("239.98", 2, 23998),
        ("1.5", 18, 1500000000000000000),
        (" 12 ", 2, 1200),
        ("-0.05", 2, -5),
        (".5", 1, 5),
        ("1.50", 1, 15),
        (Decimal("239.98"), 2, 23998),
        (Decimal("1E+3"), 2, 100000),
        (7, 6, 7000000),
        (
            "123456789012345678901234567890.123456789012345678",
            18,
            123456789012345678901234567890123456789012345678,
        ),
    ],
)
def test_to_smallest_unit(text: str | Decimal | int, decimals: int, amount: int) -> None:
    assert to_smallest_unit(text, decimals) == amount


@pytest.mark.parametrize(
    ("text", "decimals"),
    [("1.234", 2), ("0.5", 0), ("abc", 2), ("1e5", 2), ("", 2), ("1_000", 2), ("NaN", 2)],
)
def test_to_smallest_unit_refuses_what_it_cannot_read_exactly(text: str, decimals: int) -> None:
    with pytest.raises(ValueError):
        to_smallest_unit(text, decimals)


def test_to_smallest_unit_refuses_floats_and_infinite_decimals() -> None:
    with pytest.raises(TypeError):
        to_smallest_unit(1.5, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_smallest_unit(Decimal("Infinity"), 2)


@pytest.mark.parametrize(
    ("amount", "decimals"),
    [(23998, 2), (1500000000000000000, 18), (-5, 2), (0, 6), (10**40 + 1, 18), (42, 0)],
)
def test_format_and_parse_round_trip(amount: int, decimals: int) -> None:
    assert to_smallest_unit(format_amount(amount, decimals), decimals) == amount
