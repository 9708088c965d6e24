"""Follow thousands of invoices with one poller, durably, until each is settled.

Runs against the embedded sandbox (scripted buyers pay, approve, reject or
ignore): 2,000 invoices are watched from an SQLite file, so that a restart of
this script picks up where it left off — and never reports an outcome twice::

    python examples/bulk_watcher.py
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

from reqfin_async import ApiKeyAuth, RequestFinanceClient, SQLiteWatchStore, StatusPoller
from reqfin_async.sandbox import BuyerScript, Sandbox, SandboxConfig

INVOICES = 2000


async def main() -> None:
    config = SandboxConfig(
        buyers=BuyerScript(
            weights={"pay": 6, "approve_then_pay": 2, "reject": 1, "ignore": 1},
            min_delay_s=0.5,
            max_delay_s=6.0,
        ),
        api_key_limit=100_000,  # time runs fast here: the hourly budget is scaled alike
        seed=3,
    )
    with TemporaryDirectory() as tmp:
        store = SQLiteWatchStore(Path(tmp) / "watches.sqlite3")
        async with Sandbox(config) as sandbox:
            ids = [row["requestId"] for row in sandbox.seed_invoices(INVOICES, due_in_s=10)]
            client = RequestFinanceClient(ApiKeyAuth(config.api_key), base_url=sandbox.url)
            async with client, StatusPoller(client, interval=2.0, store=store) as poller:
                started = time.monotonic()
                await poller.watch_many(ids)
                print(f"watching {len(ids)} invoices (returned at once)")
                outcomes: Counter[str] = Counter()
                async for result in poller.outcomes(stop_when_idle=True):
                    outcomes[result.reason.value] += 1
                    if sum(outcomes.values()) % 500 == 0:
                        print(f"  {sum(outcomes.values())} settled so far: {dict(outcomes)}")
                stats = poller.stats()
            print(f"all settled in {time.monotonic() - started:.1f} s: {dict(outcomes)}")
            print(
                f"{stats.requests} requests for {stats.changes} changes "
                f"({stats.sweeps} sweeps); detection lag p99 {stats.lag_p99_s or 0:.2f} s"
            )


if __name__ == "__main__":
    asyncio.run(main())
