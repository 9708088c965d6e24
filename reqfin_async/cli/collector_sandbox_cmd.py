"""``reqfin-async collector-sandbox``: serve the local Invoice-Collector emulation."""

from __future__ import annotations

import argparse

from .serving import given, print_banner, serve_until_interrupted

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
    from ..sandbox.collector import CollectorSandboxConfig, run_collector_sandbox

    config = CollectorSandboxConfig(
        **given(  # type: ignore[arg-type]
            bearer=args.bearer, callback=args.callback, retry_delay_s=args.retry_delay
        )
    )
    return serve_until_interrupted(
        lambda: run_collector_sandbox(
            config, host=args.host, port=args.port, on_ready=print_banner
        ),
        stopped="collector sandbox stopped",
    )
