"""What the fleet tests check on the processes' logs: leases held one at a time, and
every GET of an invoice made inside a lease of the process that made it.

All times are ``time.time()`` of one host, and Redis runs on that host too, so the
processes and the server share one clock. A store call is logged with ``t0`` (sent)
and ``t1`` (answered): the server applied it somewhere in between.

A *holding* is one lease of one watch by one process, from its claim to its end:

- it starts when the claim is answered (``claimed_at``: the process knows it holds it);
- it ends when the process hands it back — a ``reschedule``, ``release`` or ``finish``
  sent (``ended_at`` = that call's ``t0``) — or, without a hand-back, when the lease
  runs out (``until``: the lease end of the claim or the last renewal, which the
  store translates to the local clock erring early). ``end`` is the earlier of both.

The rules, for every key:

1. *One holder at a time*: the server grants a lease only after the previous one was
   handed back or ran out, so for consecutive holdings ``h1``, ``h2`` (of any
   processes) ``h2.claimed_at >= h1.end``: the claim was answered after the hand-back
   was sent, or after the lease's end.
2. *Not before it is due*: a watch handed back due again in ``delay`` seconds is not
   claimed again (by any process) before the hand-back's ``t0 + delay``: one poll
   per interval, fleet-wide.
3. *Work only under a lease*: a process sends a GET or records an outcome
   (``finish``) only within one of its own holdings of that key, and not after it
   dropped the watch (let it go without handing it back) or learned it lost the
   lease; it reports a change (``on_change``) only after the hand-back that stored
   the new status succeeded (so a change seen by a holder that could not store it
   is reported by the next holder, once). That holds for a watch it dropped after the
   poll too: the store still applies its hand-back while no other process took it.
4. *Answers within the lease* (``strict``, for runs where the store stays reachable):
   every GET is also answered before its holding's end. With 1 and 3 this gives the
   plain statement: two different processes' GETs of one key never overlap in time,
   and a second process GETs a key only after the first handed it back or its lease
   ran out — which is checked directly on the GETs as well.

Without ``strict`` (Redis went away), a GET still under way when its process dropped
the watch may be answered after the lease's end; rule 3 then says the answer was
ignored (no outcome, no change reported from it).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Holding", "holdings", "lease_violations", "outcome_counts", "gets_by_key"]


@dataclass
class Holding:
    proc: str
    key: str
    claimed_at: float
    until: float
    ended_at: float | None = None
    how: str = "held"
    dropped_at: float | None = None
    lost_at: float | None = None  # a renewal said the lease was no longer its own
    # Its process was killed holding it: a hand-back may have gone out unlogged from
    # this time on (the answer of its last GET, after which it could reschedule).
    cut_at: float | None = None
    # Handed back due again in so many seconds: not claimed again before then.
    due_again_at: float | None = None
    gets: list[tuple[float, float]] = field(default_factory=list)

    @property
    def end(self) -> float:
        """When another process may hold the key at the earliest."""
        ended = self.ended_at if self.ended_at is not None else math.inf
        return min(ended, self.until, self.cut_at if self.cut_at is not None else math.inf)

    @property
    def let_go_at(self) -> float:
        """From when on the process must not start work on it any more."""
        return min(self.end, self.dropped_at or math.inf, self.lost_at or math.inf)

    @property
    def open(self) -> bool:
        """Never handed back (its process died holding it, or dropped it)."""
        return self.ended_at is None and self.how == "held"


def holdings(events: Iterable[dict[str, Any]]) -> tuple[list[Holding], list[str]]:
    """Every holding found in the logs, and the breaches of rule 3 seen on the way.

    ``events`` is the concatenation of the processes' logs, each in its own order (a
    process logs a store call when it returns, before it acts on the answer). Calls
    of one process overlap — a watch handed back may be claimed again by the same
    process while the hand-back's answer is on its way — so an event belongs to the
    holding of its process and key claimed last before the event's time.
    """
    found: list[Holding] = []
    problems: list[str] = []
    of: dict[tuple[str, str], list[Holding]] = defaultdict(list)  # by process and key

    def current(proc: str, key: str, at: float) -> Holding | None:
        """The holding of ``proc`` on ``key`` at ``at``: the last claimed before."""
        candidates = [h for h in of.get((proc, key), ()) if h.claimed_at <= at]
        return max(candidates, key=lambda h: h.claimed_at, default=None)

    def close(proc: str, key: str, how: str, at: float) -> None:
        holding = current(proc, key, at)
        if holding is not None and holding.ended_at is None:
            holding.how = how
            holding.ended_at = at

    def working(event: dict[str, Any], what: str, at: float) -> Holding | None:
        """The holding under which ``event`` happened; a problem if none."""
        holding = current(event["proc"], event["key"], at)
        if holding is None or at > holding.let_go_at:
            problems.append(f"{event['proc']} {what} {event['key']} at {at:.3f} without a lease")
            return None
        return holding

    for event in events:
        kind, proc = event["kind"], event["proc"]
        if kind == "claim":
            for key in event["keys"]:
                fresh = Holding(proc, key, claimed_at=event["t1"], until=event["until"])
                of[(proc, key)].append(fresh)
                found.append(fresh)
        elif kind == "reschedule":
            lost = set(event["lost"])
            for key, delay in zip(event["keys"], event["delays"], strict=True):
                handed = current(proc, key, event["t0"])
                close(proc, key, "lost" if key in lost else "rescheduled", event["t0"])
                if handed is not None and key not in lost and handed.ended_at == event["t0"]:
                    handed.due_again_at = event["t0"] + delay
        elif kind == "release":
            for key in event["keys"]:
                close(proc, key, "released", event["t0"])
        elif kind == "finish":
            working(event, "recorded the outcome of", event["t0"])
            close(proc, event["key"], "finished", event["t0"])
        elif kind == "on_change" and not event["final"]:
            # Told once the hand-back that stored the new status was answered (as a
            # final change is told after its finish): never for a lease lost.
            told = current(proc, event["key"], event["t"])
            if told is None or told.how != "rescheduled":
                problems.append(
                    f"{proc} reported a change of {event['key']} at {event['t']:.3f} "
                    "without having stored it"
                )
        elif kind == "renew":
            lost = set(event["lost"])
            for key in event["keys"]:
                renewed = current(proc, key, event["t0"])
                if renewed is None or renewed.ended_at is not None:
                    continue  # (sent while the hand-back was under way)
                if key in lost:
                    # Its own hand-back may have reached the server first (the calls
                    # overlap): the holding ends with that call, else when it runs out.
                    renewed.lost_at = event["t1"]
                else:
                    renewed.until = max(renewed.until, event["until"])
        elif kind == "drop" or (kind == "store_error" and event["method"] == "finish"):
            # Let go without a hand-back: dropped, or its outcome could not be recorded
            # (the poller forgets the watch; the lease runs out for the next holder).
            at = event["t"] if kind == "drop" else event["t1"]
            dropped = current(proc, event["key"], at)
            if dropped is not None and dropped.ended_at is None and dropped.dropped_at is None:
                dropped.dropped_at = at
        elif kind == "get":
            polled = working(event, "sent GET", event["t0"])
            if polled is not None:
                polled.gets.append((event["t0"], event["t1"]))
    return found, problems


def lease_violations(
    events: Sequence[dict[str, Any]], *, strict: bool = True, killed: Collection[str] = ()
) -> tuple[list[str], list[Holding]]:
    """Every breach of the rules above (empty when none), and the holdings checked.

    A process in ``killed`` died by SIGKILL: what it did last may be unlogged. A lease
    it held and had polled under may have been handed back after that poll's answer
    (a hand-back follows a poll), so rule 1 counts it as held until then only; one it
    had not polled under yet, it cannot have handed back: held until the lease's end.
    """
    found, problems = holdings(events)
    for holding in found:
        if holding.proc in killed and holding.open and holding.gets:
            holding.cut_at = max(t1 for _, t1 in holding.gets)
    by_key: dict[str, list[Holding]] = defaultdict(list)
    for holding in found:
        by_key[holding.key].append(holding)
        for t0, t1 in holding.gets:
            if t0 < holding.claimed_at or (strict and t1 > holding.end):
                problems.append(
                    f"{holding.proc} GET {holding.key} [{t0:.3f}, {t1:.3f}] outside its lease "
                    f"[{holding.claimed_at:.3f}, {holding.end:.3f}] ({holding.how})"
                )
    for key, chain in by_key.items():
        chain.sort(key=lambda h: h.claimed_at)
        for before, after in itertools.pairwise(chain):
            if after.claimed_at < before.end:
                problems.append(
                    f"{key}: {after.proc} claimed it at {after.claimed_at:.3f} while "
                    f"{before.proc} held it until {before.end:.3f} ({before.how})"
                )
            # (The store writes due times to the microsecond.)
            if before.due_again_at is not None and after.claimed_at < before.due_again_at - 1e-3:
                problems.append(
                    f"{key}: {after.proc} claimed it at {after.claimed_at:.3f}, before it was "
                    f"due again at {before.due_again_at:.3f} ({before.proc} polled it last)"
                )
    if strict:
        # The plain statement, checked directly on the GETs.
        for key, gets in gets_by_key(events).items():
            gets.sort()
            for i, (_, t1, proc) in enumerate(gets):
                for u0, _, other in gets[i + 1 :]:
                    if u0 >= t1:
                        break
                    if other != proc:
                        problems.append(f"{key}: GETs of {proc} and {other} overlap at {u0:.3f}")
    return problems, found


def gets_by_key(events: Iterable[dict[str, Any]]) -> dict[str, list[tuple[float, float, str]]]:
    gets: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for event in events:
        if event["kind"] == "get":
            gets[event["key"]].append((event["t0"], event["t1"], event["proc"]))
    return gets


def outcome_counts(events: Iterable[dict[str, Any]], kind: str = "on_finish") -> Counter[str]:
    """How many times each key's outcome was reported (by ``on_finish`` by default)."""
    return Counter(e["key"] for e in events if e["kind"] == kind)
