"""The lease checks of ``checks.py`` on small hand-written logs: they pass a clean
hand-over, including the overlapping calls a process makes, and catch each breach."""

from __future__ import annotations

from typing import Any

import pytest

from .checks import lease_violations

K = "inv-1"


def claim(proc: str, t1: float, until: float) -> dict[str, Any]:
    return {"kind": "claim", "proc": proc, "t0": t1 - 0.01, "t1": t1, "keys": [K], "until": until}


def get(proc: str, t0: float, t1: float) -> dict[str, Any]:
    return {"kind": "get", "proc": proc, "key": K, "t0": t0, "t1": t1, "status": 200}


def reschedule(proc: str, t0: float, *, delay: float = 0.0, lost: bool = False) -> dict[str, Any]:
    keys = [K]
    return {
        "kind": "reschedule",
        "proc": proc,
        "t0": t0,
        "t1": t0 + 0.01,
        "keys": keys,
        "delays": [delay],
        "lost": keys if lost else [],
    }


def renew(proc: str, t0: float, until: float, *, lost: bool = False) -> dict[str, Any]:
    return {
        "kind": "renew",
        "proc": proc,
        "t0": t0,
        "t1": t0 + 0.01,
        "keys": [K],
        "lost": [K] if lost else [],
        "until": until,
    }


def finish(proc: str, t0: float) -> dict[str, Any]:
    return {"kind": "finish", "proc": proc, "key": K, "t0": t0, "t1": t0 + 0.01, "fresh": True}


def drop(proc: str, t: float) -> dict[str, Any]:
    return {"kind": "drop", "proc": proc, "key": K, "t": t}


def by_process(*events: dict[str, Any]) -> list[dict[str, Any]]:
    """The logs as the tests read them: each process's lines in order, one after another."""
    return sorted(events, key=lambda e: e["proc"])  # (sorted() is stable)


def test_a_clean_hand_over_passes() -> None:
    events = by_process(
        claim("a", 1.0, until=2.0),
        get("a", 1.1, 1.2),
        reschedule("a", 1.3, delay=0.1),
        claim("b", 1.4, until=2.4),
        get("b", 1.5, 1.6),
        renew("b", 1.7, until=2.7),
        finish("b", 1.8),
        claim("a", 2.5, until=3.5),  # a takes it once more (not finished, in this log)
    )
    assert lease_violations(events)[0] == []


def test_calls_of_one_process_that_overlap_are_told_apart() -> None:
    events = by_process(
        claim("a", 1.0, until=2.0),
        get("a", 1.1, 1.2),
        # Its hand-back (sent at 1.30) and a new claim of the same watch (answered at
        # 1.31) overlap; the claim is logged first.
        claim("a", 1.31, until=2.31),
        reschedule("a", 1.30),
        get("a", 1.4, 1.5),
        # A renewal sent before the finish, logged after it.
        finish("a", 1.61),
        renew("a", 1.6, until=2.6),
    )
    assert lease_violations(events)[0] == []


@pytest.mark.parametrize(
    ("events", "breach"),
    [
        (  # b claimed it before a handed it back
            [claim("a", 1.0, 2.0), get("a", 1.1, 1.2), reschedule("a", 1.5), claim("b", 1.4, 2.4)],
            "claimed it at 1.400 while a held it until 1.500",
        ),
        (  # b claimed it before a's lease ran out (a never handed it back)
            [claim("a", 1.0, 2.0), claim("b", 1.9, 2.9)],
            "claimed it at 1.900 while a held it until 2.000",
        ),
        (  # b claimed it before it was due again
            [claim("a", 1.0, 2.0), reschedule("a", 1.2, delay=0.3), claim("b", 1.4, 2.4)],
            "claimed it at 1.400, before it was due again at 1.500",
        ),
        (  # a polled after its lease ended
            [claim("a", 1.0, 2.0), get("a", 2.1, 2.2)],
            "a sent GET inv-1 at 2.100 without a lease",
        ),
        (  # a polled after it dropped the watch
            [claim("a", 1.0, 2.0), drop("a", 1.5), get("a", 1.6, 1.7)],
            "a sent GET inv-1 at 1.600 without a lease",
        ),
        (  # a polled after a renewal told it the lease was lost
            [claim("a", 1.0, 2.0), renew("a", 1.3, 2.3, lost=True), get("a", 1.5, 1.6)],
            "a sent GET inv-1 at 1.500 without a lease",
        ),
        (  # a polled a watch it never claimed
            [get("a", 1.0, 1.1)],
            "a sent GET inv-1 at 1.000 without a lease",
        ),
        (  # a recorded an outcome after handing the watch back
            [claim("a", 1.0, 2.0), reschedule("a", 1.2), finish("a", 1.3)],
            "a recorded the outcome of inv-1 at 1.300 without a lease",
        ),
        (  # a's answer came after its hand-back (strict)
            [claim("a", 1.0, 2.0), get("a", 1.1, 1.4), reschedule("a", 1.3)],
            "outside its lease",
        ),
    ],
)
def test_each_breach_is_caught(events: list[dict[str, Any]], breach: str) -> None:
    problems, _ = lease_violations(by_process(*events))
    assert any(breach in problem for problem in problems), problems


def test_overlapping_gets_of_two_processes_are_caught() -> None:
    # Each inside a lease of its own as logged, yet polling at the same time.
    events = by_process(
        claim("a", 1.0, 2.0), get("a", 1.1, 1.5), claim("b", 2.0, 3.0), get("b", 1.2, 1.3)
    )
    problems, _ = lease_violations(events)
    assert any("GETs of a and b overlap" in p for p in problems), problems


def test_a_killed_process_may_have_handed_back_unlogged_after_its_last_poll() -> None:
    events = by_process(
        claim("a", 1.0, until=2.0),
        get("a", 1.1, 1.2),  # then killed: its reschedule may have gone out unlogged
        claim("b", 1.3, until=2.3),
    )
    assert lease_violations(events)[0] != []  # alive, a would still hold it
    assert lease_violations(events, killed={"a"})[0] == []
    # A lease it had not polled under yet, it cannot have handed back.
    events = by_process(claim("a", 1.0, until=2.0), claim("b", 1.3, until=2.3))
    assert lease_violations(events, killed={"a"})[0] != []
