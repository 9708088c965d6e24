"""``reqfin-async sandbox``: serve the local emulation of the API until interrupted."""

from __future__ import annotations

import argparse

from .serving import given, print_banner, serve_until_interrupted

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--api-key", help="the main (seller) account's API key")
    parser.add_argument("--buyer-api-key", help="the buyer account's API key")
    parser.add_argument("--client-id", help="the OAuth app's client id")
    parser.add_argument("--client-secret", help="the OAuth app's client secret")
    parser.add_argument("--webhook-url", help="POST signed webhook events to this URL")
    parser.add_argument("--webhook-secret", help="the secret that signs webhook events")
    parser.add_argument(
        "--chaos", type=float, default=0.0, metavar="RATE", help="fault rate, 0..1 (default 0)"
    )
    parser.add_argument(
        "--buyers", action="store_true", help="scripted buyers pay, approve, reject or pay late"
    )
    parser.add_argument("--pending-delay", type=float, metavar="S", help="pending -> open delay")
    parser.add_argument("--rate-limit", type=int, metavar="N", help="calls per window per key")
    parser.add_argument("--rate-window", type=float, metavar="S", help="rate-limit window")
    parser.add_argument("--seed", type=int, help="random seed (reproducible buyers and chaos)")


def run(args: argparse.Namespace) -> int:
    from ..sandbox import BuyerScript, ChaosConfig, SandboxConfig, run_sandbox

    overrides = given(
        api_key=args.api_key,
        buyer_api_key=args.buyer_api_key,
        client_id=args.client_id,
        client_secret=args.client_secret,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        pending_delay_s=args.pending_delay,
        api_key_limit=args.rate_limit,
        oauth_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        seed=args.seed,
    )
    if args.chaos:
        overrides["chaos"] = ChaosConfig(rate=args.chaos)
    if args.buyers:
        overrides["buyers"] = BuyerScript()
    config = SandboxConfig(**overrides)  # type: ignore[arg-type]
    return serve_until_interrupted(
        lambda: run_sandbox(config, host=args.host, port=args.port, on_ready=print_banner),
        stopped="sandbox stopped",
    )
