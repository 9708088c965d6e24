"""Recurrence rules (RFC 5545) as ``recurringRule`` takes them, checked before sending."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

__all__ = ["recurring_rule_problems"]


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(str(v) for v in values))


_FREQUENCIES = frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_WEEKDAYS = frozenset({"MO", "TU", "WE", "TH", "FR", "SA", "SU"})
_DTSTART = re.compile(r"DTSTART:(\d{8}T\d{6}Z)")
_BYDAY = re.compile(r"(?P<ordinal>[+-]?\d{1,2})?(?P<day>MO|TU|WE|TH|FR|SA|SU)")
_SIGNED_INT = re.compile(r"[+-]?\d+")
# The BYxxx parts that take numbers: (lowest, highest, may count from the end with a minus).
_NUMBER_PARTS = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_RULE_SHAPE = "must read [DTSTART:YYYYMMDDTHHMMSSZ ]RRULE:FREQ=...;KEY=VALUE..."


def recurring_rule_problems(rule: str) -> list[str]:
    """What is wrong with an iCalendar recurrence (``recurringRule``); empty when it is fine.

    Example::

        recurring_rule_problems("DTSTART:20230314T085800Z RRULE:FREQ=MONTHLY;INTERVAL=1")  # []
        recurring_rule_problems("RRULE:FREQ=MONTHLY;COUNT=2;UNTIL=20240101")  # [...both...]
    """
    problems: list[str] = []
    lines = rule.split()  # DTSTART and RRULE are separated by a space or a line break
    if lines and lines[0].startswith("DTSTART"):
        start = _DTSTART.fullmatch(lines.pop(0))
        if start is None or not _is_datetime(start[1], "%Y%m%dT%H%M%SZ"):
            problems.append("DTSTART must be a UTC date-time: DTSTART:YYYYMMDDTHHMMSSZ")
    if len(lines) != 1 or not lines[0].startswith("RRULE:"):
        return [*problems, _RULE_SHAPE]
    parts: dict[str, str] = {}
    for part in lines[0].removeprefix("RRULE:").split(";"):
        key, _, value = part.partition("=")
        if not key or not value:
            problems.append(f"{part!r} is not KEY=VALUE")
        elif key in parts:
            problems.append(f"{key} is given twice")
        else:
            parts[key] = value
            problem = _rule_part_problem(key, value)
            if problem:
                problems.append(problem)
    if "FREQ" not in parts:
        problems.append("FREQ is required")
    if "COUNT" in parts and "UNTIL" in parts:
        problems.append("COUNT and UNTIL cannot both be given")
    return problems


def _rule_part_problem(key: str, value: str) -> str | None:
    if key == "FREQ":
        ok = value in _FREQUENCIES
        expected = f"one of {_listed(_FREQUENCIES)}"
    elif key in ("INTERVAL", "COUNT"):
        ok = value.isdigit() and int(value) > 0
        expected = "a positive integer"
    elif key == "UNTIL":
        ok = _is_datetime(value, "%Y%m%dT%H%M%SZ") or _is_datetime(value, "%Y%m%d")
        expected = "a date-time YYYYMMDDTHHMMSSZ or a date YYYYMMDD"
    elif key == "WKST":
        ok = value in _WEEKDAYS
        expected = "a weekday (MO...SU)"
    elif key == "BYDAY":
        ok = all(_is_byday(v) for v in value.split(","))
        expected = "weekdays such as MO, -1FR or 2TU"
    elif key in _NUMBER_PARTS:
        low, high, signed = _NUMBER_PARTS[key]
        ok = all(_in_range(v, low, high, signed=signed) for v in value.split(","))
        expected = f"numbers from {low} to {high}" + (f" or -{high} to -{low}" if signed else "")
    else:
        return f"{key} is not an RRULE part"
    return None if ok else f"{key} must be {expected}"


def _is_byday(value: str) -> bool:
    match = _BYDAY.fullmatch(value)
    if match is None:
        return False
    ordinal = match["ordinal"]
    return ordinal is None or 1 <= abs(int(ordinal)) <= 53


def _in_range(value: str, low: int, high: int, *, signed: bool) -> bool:
    if not _SIGNED_INT.fullmatch(value):
        return False
    number = int(value)
    return low <= number <= high or (signed and -high <= number <= -low)


def _is_datetime(text: str, pattern: str) -> bool:
    try:
        datetime.strptime(text, pattern)  # only the shape matters, hence no timezone
    except ValueError:
        return False
    return True
