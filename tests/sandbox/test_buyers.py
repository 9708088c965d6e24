"""Scripted buyers: each behaviour's steps, and reproducible runs with a seed."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import pytest

from reqfin_async.sandbox import BuyerScript, Sandbox
from reqfin_async.sandbox.state import parse_iso
from tests.specbody import invoice_body

from .conftest import create_request, seller, wait_for_status, wait_until


def quick(behaviour: str | None = None) -> BuyerScript:
    """Buyers that act within 10-30 ms; one ``behaviour``, or the default mix."""
    weights = {behaviour: 1.0} if behaviour else BuyerScript().weights
    return BuyerScript(weights=weights, min_delay_s=0.01, max_delay_s=0.03)


FINAL = {
    "pay": "paid",
    "approve_then_pay": "paid",
    "declare_then_pay": "paid",
    "pay_late": "paid",
    "reject": "rejected",
    "ignore": "open",
}


async def settled(sandbox: Sandbox) -> None:
    """Wait until every invoice reached the last status of its buyer's behaviour."""

    async def done() -> bool:
        records = list(sandbox.state.invoices("test"))
        return all(r.behaviour and r.status == FINAL[r.behaviour] for r in records)

    await wait_until(done)


@pytest.mark.parametrize(
    ("behaviour", "events"),
    [
        ("pay", ["create", "paid"]),
        ("approve_then_pay", ["create", "accept", "paid"]),
        ("declare_then_pay", ["create", "declarePaid", "paid"]),
        ("reject", ["create", "reject"]),
        ("ignore", ["create"]),
    ],
)
async def test_each_behaviour_walks_its_steps(
    make_sandbox: Callable[..., Sandbox], behaviour: str, events: list[str]
) -> None:
    script = quick(behaviour)
    async with make_sandbox(buyers=script) as sandbox:
        sandbox.seed_invoices(2)
        await settled(sandbox)
        for record in sandbox.state.invoices("test"):
            assert [e["name"] for e in record.data["events"]] == events


async def test_buyer_answers_invoices_that_open(make_sandbox: Callable[..., Sandbox]) -> None:
    script = quick("approve_then_pay")
    async with make_sandbox(buyers=script) as sandbox, aiohttp.ClientSession(sandbox.url) as http:
        request = await create_request(http, seller(sandbox), invoice_body("B-1"))
        paid = await wait_for_status(http, seller(sandbox), request["requestId"], "paid")
    assert paid["events"][1]["userId"] == sandbox.state.buyer_user.id


async def test_pay_late_waits_for_the_due_date(make_sandbox: Callable[..., Sandbox]) -> None:
    script = quick("pay_late")
    async with make_sandbox(buyers=script) as sandbox:
        (invoice,) = sandbox.seed_invoices(1, due_in_s=0.3)
        record = sandbox.state.find_invoice("test", invoice["id"])
        assert record is not None
        await settled(sandbox)
    paid_at = parse_iso(record.data["paymentMetadata"]["paymentDate"])
    due = parse_iso(invoice["paymentTerms"]["dueDate"])
    assert paid_at is not None
    assert due is not None
    assert paid_at > due


async def test_scripted_buyers_are_reproducible_with_a_seed(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    script = quick()
    runs = []
    for _ in range(2):
        async with make_sandbox(buyers=script, seed=2024) as sandbox:
            sandbox.seed_invoices(24, due_in_s=0.05)
            await settled(sandbox)
            runs.append(
                {
                    r.data["invoiceNumber"]: (r.behaviour, [e["name"] for e in r.data["events"]])
                    for r in sandbox.state.invoices("test")
                }
            )
    assert runs[0] == runs[1]
    assert len({behaviour for behaviour, _ in runs[0].values()}) > 3  # the weights mix


async def test_seller_cancel_stops_the_buyer(make_sandbox: Callable[..., Sandbox]) -> None:
    script = BuyerScript(weights={"pay": 1}, min_delay_s=0.2, max_delay_s=0.2)
    async with make_sandbox(buyers=script) as sandbox:
        (invoice,) = sandbox.seed_invoices(1)
        sandbox.set_status(invoice["id"], "canceled")
        record = sandbox.state.find_invoice("test", invoice["id"])
        assert record is not None

        async def buyer_gave_up() -> bool:
            return sandbox.background_tasks == 0

        await wait_until(buyer_gave_up)
        assert record.status == "canceled"
