"""``reqfin-async collector-sandbox``: serve the local Invoice-Collector emulation."""

from __future__ import annotations

import argparse
import asyncio

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (0 picks a free one)")
    parser.add_argument("--bearer", help="the customer's bearer token")
    parser.add_argument("--callback", help="where invoices are delivered (POST /customer sets it)")
    parser.add_argument(
        "--retry-delay", type=float, metavar="S", help="seconds between delivery tries (10)"
    )


def run(args: argparse.Namespace) -> int:
    from ..sandbox.collector import (
        CollectorSandbox,
        CollectorSandboxConfig,
        run_collector_sandbox,
    )

    overrides: dict[str, object] = {
        name: value
        for name, value in {
            "bearer": args.bearer,
            "callback": args.callback,
            "retry_delay_s": args.retry_delay,
        }.items()
        if value is not None
    }
    config = CollectorSandboxConfig(**overrides)  # type: ignore[arg-type]

    def ready(sandbox: CollectorSandbox) -> None:
        print(sandbox.banner(), flush=True)
        print("Press Ctrl+C to stop.", flush=True)

    try:
        asyncio.run(run_collector_sandbox(config, host=args.host, port=args.port, on_ready=ready))
    except KeyboardInterrupt:
        print("\ncollector sandbox stopped")
    return 0
