"""``python -m benchmarks [--quick] [--only SUITE ...]``: run, print, save JSON."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ._harness import Figure, render_table
from ._plots import write_plots

RESULTS = Path(__file__).parent / "results"
SUITES = [
    "sandbox_server",
    "client_throughput",
    "decode",
    "poller_scale",
    "poller_live",
    "budget_lag",
    "fleet",
]


async def _main(args: argparse.Namespace) -> int:
    figures: list[Figure] = []
    started = time.monotonic()
    for name in args.only or SUITES:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        suite_started = time.monotonic()
        figures += await module.run(quick=args.quick)
        print(f"  {name}: {time.monotonic() - suite_started:.1f} s", file=sys.stderr)
    print(render_table(figures))
    RESULTS.mkdir(exist_ok=True)
    # A run of some suites only never replaces the figures of a whole run.
    partial = bool(args.only) and set(args.only) != set(SUITES)
    stem = "results-quick" if args.quick else "results"
    out = RESULTS / (f"{stem}-partial.json" if partial else f"{stem}.json")
    out.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "seconds": round(time.monotonic() - started, 1),
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
    )
    print(f"raw results in {out}", file=sys.stderr)
    if partial:
        return 0  # the plots belong to whole runs
    for plot in write_plots(figures, RESULTS, quick=args.quick):
        print(f"plot in {plot}", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short rounds (under a minute)")
    parser.add_argument("--only", nargs="*", choices=SUITES, help="run only these suites")
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
