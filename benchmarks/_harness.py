"""Rounds, medians and spreads, and the table every suite prints."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Figure", "measure_rounds", "render_table", "verdict"]


@dataclass
class Figure:
    """One measured figure: its rounds, reported as median ± spread (min..max)."""

    suite: str
    name: str
    unit: str
    rounds: list[float] = field(default_factory=list)
    note: str = ""
    higher_is_better: bool = True
    # What a plot needs to place the figure (``{"plot": "memory", "stack": ..., "watches": ...}``).
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def spread(self) -> float:
        return (max(self.rounds) - min(self.rounds)) / 2 if len(self.rounds) > 1 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = self.median
        data["spread"] = self.spread
        return data


async def measure_rounds(
    run_once: Callable[[], Awaitable[float]], *, rounds: int, warmup: int = 1
) -> list[float]:
    """Run ``warmup`` discarded rounds, then ``rounds`` kept ones."""
    for _ in range(warmup):
        await run_once()
    return [await run_once() for _ in range(rounds)]


def verdict(value: float, target: float, unit: str, *, at_most: bool = True) -> str:
    """``"target <= 20 us: met"`` or ``"target >= 95 %: missed by 0.5 %"``, for a figure's note."""
    sign = "<=" if at_most else ">="
    met = value <= target if at_most else value >= target
    outcome = "met" if met else f"missed by {_number(abs(value - target))} {unit}"
    return f"target {sign} {target:g} {unit}: {outcome}"


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render_table(figures: list[Figure]) -> str:
    """The figures as an aligned text table."""
    rows = [["suite", "figure", "median", "± spread", "unit", "note"]]
    rows += [
        [f.suite, f.name, _number(f.median), _number(f.spread), f.unit, f.note] for f in figures
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
