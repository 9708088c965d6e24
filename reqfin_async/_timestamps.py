"""Unix-millisecond timestamps, as both services put them in their payloads."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["from_unix_ms"]


def from_unix_ms(value: float) -> datetime | None:
    """An aware UTC datetime, or ``None`` for a number no datetime can hold::

    from_unix_ms(1700000000000)  # 2023-11-14 22:13:20+00:00
    """
    try:
        return datetime.fromtimestamp(value / 1000.0, UTC)
    except (OverflowError, OSError, ValueError):  # NaN, ±inf, years past 9999
        return None
