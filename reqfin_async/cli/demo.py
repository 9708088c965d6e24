"""``reqfin-async demo``: the library end to end against an embedded sandbox.

It starts the sandbox in-process (scripted buyers pay, approve, reject or pay
late), creates a handful of realistic invoices with the client, converts them
to on-chain requests, adds a few hundred more, follows every one with the
poller under a live display, and prints what became of them. No credentials,
no network, well under a minute.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

__all__ = ["add_arguments", "run", "demo_invoices"]

_BUYER_DELAYS_S = (1.0, 7.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bulk", type=int, default=300, metavar="N", help="extra invoices to follow (default 300)"
    )
    parser.add_argument("--due-in", type=float, default=20.0, metavar="S", help="due date, seconds")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="poll interval")
    parser.add_argument("--chaos", type=float, default=0.0, metavar="RATE", help="fault rate 0..1")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the scripted buyers")


def _item(
    name: str,
    quantity: float | int,
    unit_price: int,
    currency: str,
    *,
    tax: tuple[str, str] | None = None,
    discount: int | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "quantity": quantity,
        "unitPrice": str(unit_price),
        "currency": currency,
    }
    if tax is not None:
        item["tax"] = {"type": tax[0], "amount": tax[1]}
    if discount is not None:
        item["discount"] = str(discount)
    return item


def _wallet(currency: str, chain: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "wallet",
            "value": {
                "currencies": [currency],
                "paymentInformation": {
                    "paymentAddress": "0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                    "chain": chain,
                },
            },
        }
    ]


def demo_invoices(due: datetime, run_id: str) -> list[dict[str, Any]]:
    """A handful of realistic invoice bodies, the specification's example first."""
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    due_text = due.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    bodies = [
        # The specification's example: 2 TVs at $99.99 with 20 % tax = $239.98, paid in USDC.
        (
            "Acme Wholesaler Ltd.",
            "justin.walton@acme-wholesaler.com",
            "US",
            [_item("Television", 2, 9999, "USD", tax=("percentage", "20"))],
            _wallet("USDC-matic", "matic"),
        ),
        (
            "Globex Corporation",
            "ap@globex.example",
            "FR",
            [_item("Consulting (hours)", 12.5, 15000, "EUR", tax=("percentage", "20"))],
            _wallet("USDC-matic", "matic"),
        ),
        (
            "Initech",
            "billing@initech.example",
            "US",
            [_item("Annual licence", 3, 49900, "USD", tax=("fixed", "2500"), discount=10000)],
            _wallet("USDT-mainnet", "mainnet"),
        ),
        (
            "Umbrella DAO",
            "treasury@umbrella.example",
            "CH",
            [_item("Smart contract audit", 1, 1_500_000_000_000_000_000, "ETH-mainnet")],
            _wallet("ETH-mainnet", "mainnet"),
        ),
        (
            "Soylent Ltd.",
            "finance@soylent.example",
            "GB",
            [
                _item(
                    "Content writing (articles)",
                    250,
                    40 * 10**18,
                    "DAI-mainnet",
                    tax=("percentage", "19.9"),
                )
            ],
            _wallet("DAI-mainnet", "mainnet"),
        ),
        (
            "Stark Industries",
            "payables@stark.example",
            "US",
            [_item("Prototype machining", 1, 500000, "USD", tax=("percentage", "8.875"))],
            _wallet("FAU-sepolia", "sepolia"),
        ),
    ]
    out = []
    for number, (business, email, country, items, options) in enumerate(bodies, start=1):
        out.append(
            {
                "creationDate": created,
                "invoiceNumber": f"DEMO-{run_id}-{number:02d}",
                "invoiceItems": items,
                "buyerInfo": {
                    "businessName": business,
                    "email": email,
                    "address": {"country": country},
                },
                "paymentTerms": {"dueDate": due_text},
                "paymentOptions": options,
                "tags": ["demo"],
            }
        )
    return out


def run(args: argparse.Namespace) -> int:
    return anyio.run(_demo, args)


async def _demo(args: argparse.Namespace) -> int:
    from .. import ApiKeyAuth, RequestFinanceClient, format_amount
    from ..poller import StatusPoller, WatchResult
    from ..sandbox import BuyerScript, ChaosConfig, Sandbox, SandboxConfig
    from .display import ProgressDisplay, table

    started = time.monotonic()
    config = SandboxConfig(
        pending_delay_s=0.5,
        change_delay_s=0.3,
        # The demo plays an hour of buyers in seconds; its rate limit is scaled alike.
        api_key_limit=100_000,
        seed=args.seed,
        buyers=BuyerScript(
            weights={
                "pay": 5,
                "approve_then_pay": 2,
                "declare_then_pay": 1,
                "reject": 1,
                "pay_late": 1,
                "ignore": 1,
            },
            min_delay_s=_BUYER_DELAYS_S[0],
            max_delay_s=_BUYER_DELAYS_S[1],
        ),
        chaos=ChaosConfig(rate=args.chaos),
    )
    due = datetime.now(UTC) + timedelta(seconds=args.due_in)
    async with Sandbox(config) as sandbox:
        print(f"Sandbox up on {sandbox.url} (an in-process emulation of the API).")
        auth = ApiKeyAuth(config.api_key)
        async with RequestFinanceClient(auth, network="test", base_url=sandbox.url) as client:
            currencies = {c.id: c for c in await client.currencies.all() if c.id}
            run_id = datetime.now(UTC).strftime("%H%M%S")
            created = []
            for body in demo_invoices(due, run_id):
                invoice = await client.invoices.create(body)
                created.append(await client.invoices.convert_to_request(invoice.id))
            print(f"Created and converted {len(created)} invoices; adding {args.bulk} more.")
            bulk = sandbox.seed_invoices(args.bulk, due_in_s=args.due_in)
            settled_at: dict[str, float] = {}

            def on_finish(result: WatchResult) -> None:
                settled_at[result.key] = time.monotonic()

            async with StatusPoller(
                client, interval=args.interval, seed=args.seed, on_finish=on_finish
            ) as poller:
                watch_started = time.monotonic()
                await poller.watch_many(
                    [inv.request_id for inv in created if inv.request_id]
                    + [row["requestId"] for row in bulk]
                )
                display = ProgressDisplay(poller)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(display.run)
                    await poller.drain()
                    tg.cancel_scope.cancel()
                display.render(final=True)
                results = {r.key: r for r in await poller.results()}
                stats = poller.stats()

            rows = []
            for invoice in created:
                key = invoice.request_id or invoice.id
                result = results.get(key)
                known = currencies.get(invoice.invoice_items[0].currency)
                amount = format_amount(
                    invoice.total(),
                    known.decimals or 0 if known else 0,
                    (known.symbol or known.id) if known else invoice.invoice_items[0].currency,
                )
                buyer = invoice.buyer_info.business_name if invoice.buyer_info else None
                took = settled_at.get(key)
                rows.append(
                    [
                        invoice.invoice_number or "?",
                        buyer or "?",
                        amount,
                        result.reason.value if result else "?",
                        result.status.value if result and result.status else "-",
                        f"{took - watch_started:.1f} s" if took else "-",
                    ]
                )
            print()
            print(table(["invoice", "buyer", "amount", "outcome", "last status", "settled"], rows))
            outcomes = Counter(r.reason.value for r in results.values())
            print()
            print(
                f"{len(results)} invoices followed: "
                + ", ".join(f"{n} {reason}" for reason, n in outcomes.most_common())
            )
            print(
                f"{stats.requests} requests ({stats.sweep_requests} in {stats.sweeps} sweeps, "
                f"{stats.confirmations} confirmations), {stats.errors} errors, "
                f"{stats.rate_limited} rate-limited; detection lag p50 "
                f"{_seconds(stats.lag_p50_s)}, p99 {_seconds(stats.lag_p99_s)}"
            )
    print(f"Done in {time.monotonic() - started:.1f} s.")
    return 0


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "-"
