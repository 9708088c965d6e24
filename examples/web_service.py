"""A small aiohttp web service: one client and one poller for its whole lifetime.

It mounts the Request Finance webhook route (pushed events go straight into
the poller) and the Invoice-Collector callback route (supplier invoices
arrive as files), and shows what it knows at ``GET /``: the invoices it
watches with their payment status, and the supplier invoices it received.

Run on its own, it starts both sandboxes in-process, points their webhooks
and callbacks at itself, issues a few invoices, lets scripted buyers pay and
a collector deliver, prints the state and stops::

    python examples/web_service.py            # a 15-second tour, then exit
    python examples/web_service.py --serve    # keep serving on http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from reqfin_async import (
    ApiKeyAuth,
    InvoiceCollectorClient,
    InvoiceDelivery,
    RequestFinanceClient,
    StatusPoller,
    WatchResult,
    collector_callback_app,
    webhook_app,
)
from reqfin_async.sandbox import BuyerScript, Sandbox, SandboxConfig
from reqfin_async.sandbox.collector import CollectorSandbox

WEBHOOK_SECRET = "example-webhook-secret"  # noqa: S105 - the sandbox's, not a real one


@dataclass
class Settings:
    """Where the service finds the API (the sandbox here; the real API in production)."""

    api_url: str
    api_key: str
    port: int = 8000


@dataclass
class Ledger:
    """What the service has seen: payment outcomes and collected supplier invoices."""

    outcomes: dict[str, WatchResult] = field(default_factory=dict)
    collected: list[InvoiceDelivery] = field(default_factory=list)


SETTINGS = web.AppKey("settings", Settings)
CLIENT = web.AppKey("client", RequestFinanceClient)
POLLER = web.AppKey("poller", StatusPoller)
LEDGER = web.AppKey("ledger", Ledger)


async def client_and_poller(app: web.Application) -> AsyncIterator[None]:
    """One client and one poller for the app's lifetime (entered and left in one task)."""
    settings, ledger = app[SETTINGS], app[LEDGER]

    def record(result: WatchResult) -> None:
        ledger.outcomes[result.key] = result

    client = RequestFinanceClient(ApiKeyAuth(settings.api_key), base_url=settings.api_url)
    async with client, StatusPoller(client, interval=5.0, on_finish=record) as poller:
        app[CLIENT], app[POLLER] = client, poller
        yield


async def show(request: web.Request) -> web.Response:
    poller, ledger = request.app[POLLER], request.app[LEDGER]
    return web.json_response(
        {
            "watching": poller.status_counts(),
            "outcomes": {key: r.reason.value for key, r in ledger.outcomes.items()},
            "collected": [
                {
                    "remote_id": d.remote_id,
                    "collector": d.collector.name,
                    "amount": d.invoice.amount,
                    "mimetype": d.invoice.mimetype,
                    "bytes": len(d.invoice.data),
                }
                for d in ledger.collected
            ],
        }
    )


def build_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[LEDGER] = ledger = Ledger()
    app.cleanup_ctx.append(client_and_poller)
    app.router.add_get("/", show)

    async def push(event: Any) -> None:  # the poller exists once the app has started
        await app[POLLER].push(event)

    def collected(delivery: InvoiceDelivery) -> None:
        ledger.collected.append(delivery)  # a real service would store the file

    app.add_subapp("/hooks/request-finance", webhook_app(push, secret=WEBHOOK_SECRET))
    app.add_subapp("/hooks/invoice-collector", collector_callback_app(collected))
    return app


async def tour(serve_forever: bool, port: int) -> None:
    config = SandboxConfig(
        pending_delay_s=0.3,
        webhook_secret=WEBHOOK_SECRET,
        buyers=BuyerScript(weights={"pay": 3, "reject": 1}, min_delay_s=1.0, max_delay_s=4.0),
        seed=1,
    )
    async with Sandbox(config) as api, CollectorSandbox() as collector:
        app = build_app(Settings(api_url=api.url, api_key=config.api_key, port=port))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        me = f"http://127.0.0.1:{port}"
        print(f"web service on {me}")
        try:
            async with aiohttp.ClientSession() as http:
                await http.post(
                    f"{api.url}/sandbox/webhooks",
                    json={"url": f"{me}/hooks/request-finance/", "secret": WEBHOOK_SECRET},
                )
                await issue_invoices(app)
                await connect_supplier(collector, f"{me}/hooks/invoice-collector/")
                if serve_forever:
                    print("serving; Ctrl+C to stop")
                    await asyncio.Event().wait()
                await asyncio.sleep(12)
                async with http.get(me) as answer:
                    print(json.dumps(await answer.json(), indent=2))
        finally:
            await runner.cleanup()


async def issue_invoices(app: web.Application) -> None:
    client, poller = app[CLIENT], app[POLLER]
    due = (datetime.now(UTC) + timedelta(seconds=10)).isoformat().replace("+00:00", "Z")
    for n in range(1, 4):
        created = await client.invoices.create(
            {
                "invoiceNumber": f"WS-{datetime.now(UTC):%H%M%S}-{n}",
                "invoiceItems": [
                    {"currency": "USD", "name": "Widget", "quantity": n, "unitPrice": "2500"}
                ],
                "buyerInfo": {"email": f"buyer{n}@example.com"},
                "paymentTerms": {"dueDate": due},
                "paymentOptions": [
                    {
                        "type": "wallet",
                        "value": {
                            "currencies": ["USDC-matic"],
                            "paymentInformation": {
                                "paymentAddress": "0x4886E85E192cdBC81d42D89256a81dAb990CDD74",
                                "chain": "matic",
                            },
                        },
                    }
                ],
            }
        )
        invoice = await client.invoices.convert_to_request(created.id)
        await poller.watch(invoice.request_id or invoice.id)
        print(f"issued {invoice.invoice_number}, watching it")


async def connect_supplier(collector: CollectorSandbox, callback: str) -> None:
    async with InvoiceCollectorClient(collector.url, bearer=collector.bearer) as ic:
        await ic.update_customer(callback=callback)
        token = await ic.create_user_token(email="ap@acme.example", locale="en", remote_id="ACME")
        ui = ic.ui_url(token)  # send the user there (it carries their short-lived token)
        print(f"collector UI ready for the user ({len(ui)} characters, token inside)")
    collector.add_collector("ACME", invoices=2)
    report = await collector.collect()
    print(f"collector delivered {report}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help="keep serving after the tour")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    asyncio.run(tour(args.serve, args.port))


if __name__ == "__main__":
    main()
