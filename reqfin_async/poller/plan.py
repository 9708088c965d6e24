"""How the poller shares its request budget between sweeps and single polls.

Given a rate ``R`` (requests per second left once confirmations and due-date
checks are served), ``V`` invoices visible to sweeps of ``P`` pages, and ``U``
invoices that need a GET each, visiting the sweepable ones every ``T_s`` and
the others every ``T_u`` costs ``P / T_s + U / T_u`` requests per second. The
mean time to notice a change is about half the revisit interval, so the plan
minimizes ``V·T_s + U·T_u`` under that cost; the optimum (Lagrange) is

    S = √(P·V) + U,   T_s = √(P/V) · S / R,   T_u = S / R

that is, sweeps get the share ``√(P·V) / S`` of the rate and single polls the
share ``U / S`` — never more than the configured interval asks for. With 10,000
visible invoices (100 pages) at 5,000 calls an hour, every invoice is looked at
about every 72 seconds, against two hours for one GET each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .budget import RequestKind

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What the poller spends, how often it revisits each invoice, and the lag it expects.

    ``rate_per_hour`` is ``None`` when the poller is not metered (no budget
    known or given): it then polls at its configured intervals.
    """

    rate_per_hour: float | None
    sweepable: int
    singles: int
    pages_per_sweep: int | None
    sweep_revisit_s: float | None
    single_revisit_s: float | None
    expected_lag_s: float | None
    weights: dict[str, float]


def make_plan(
    *,
    rate: float | None,
    reserved_rate: float,
    sweeping: bool,
    sweepable: int,
    singles: int,
    pages: int | None,
    interval_s: float,
) -> Plan:
    """The plan for this moment; ``weights`` go to the budget gate."""
    if rate is None:
        revisit = interval_s
        return Plan(
            rate_per_hour=None,
            sweepable=sweepable if sweeping else 0,
            singles=singles + (0 if sweeping else sweepable),
            pages_per_sweep=pages if sweeping else None,
            sweep_revisit_s=interval_s if sweeping else None,
            single_revisit_s=revisit,
            expected_lag_s=revisit / 2 if sweepable + singles else None,
            weights={RequestKind.SWEEP.value: 1.0, RequestKind.POLL.value: 1.0},
        )
    usable = max(rate - reserved_rate, rate * 0.1)
    if not sweeping or not pages or not sweepable:
        polled = singles + sweepable
        single_revisit = max(interval_s, polled / usable) if polled else None
        return Plan(
            rate_per_hour=rate * 3600,
            sweepable=0,
            singles=polled,
            pages_per_sweep=None,
            sweep_revisit_s=None,
            single_revisit_s=single_revisit,
            expected_lag_s=single_revisit / 2 if single_revisit else None,
            # Until sweeps prove worthwhile, their probes get an equal share.
            weights={RequestKind.SWEEP.value: 1.0, RequestKind.POLL.value: 1.0},
        )
    spread = math.sqrt(pages * sweepable) + singles
    poll_rate = usable * singles / spread
    if singles:
        poll_rate = min(poll_rate, singles / interval_s)  # no faster than asked
    sweep_rate = usable - poll_rate
    sweep_revisit = max(interval_s, pages / sweep_rate)  # a sweep starts at most per interval
    single_revisit = singles / poll_rate if singles and poll_rate > 0 else None
    lag_sum = sweepable * sweep_revisit + (singles * single_revisit if single_revisit else 0.0)
    return Plan(
        rate_per_hour=rate * 3600,
        sweepable=sweepable,
        singles=singles,
        pages_per_sweep=pages,
        sweep_revisit_s=sweep_revisit,
        single_revisit_s=single_revisit,
        expected_lag_s=lag_sum / (sweepable + singles) / 2,
        weights={RequestKind.SWEEP.value: sweep_rate, RequestKind.POLL.value: max(poll_rate, 1e-6)},
    )
