"""How invoices move: pending → open, the asynchronous changes, scripted buyers.

Every status change goes through :meth:`Lifecycle.set_status`, which records
the event, drops the cached answers, sends the webhook and, when an invoice
first opens, hands it to the scripted buyers (if any)::

    lifecycle.convert(record)                       # pending, open after pending_delay_s
    lifecycle.request_change(record, "accept", user_id)
    lifecycle.set_status(record, "paid")            # the chain's part
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
from typing import Any

from .config import SandboxConfig
from .factory import chain_of, new_record, put_on_chain, seed_content
from .services import Stats
from .state import NETWORKS, STATUSES, InvoiceRecord, SandboxState, now_iso
from .tasks import TaskSet
from .webhooks import WebhookSender

__all__ = ["CHANGE_RULES", "DEFAULT_SEED_DUE_IN_S", "Lifecycle"]

DEFAULT_SEED_DUE_IN_S = 30 * 86400.0

# change type -> (who may ask, statuses it applies to, status it leads to)
CHANGE_RULES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "accept": ("buyer", ("open",), "accepted"),
    "reject": ("buyer", ("open", "accepted"), "rejected"),
    "cancel": ("seller", ("open", "accepted"), "canceled"),
}
# status reached -> name of the event appended to the invoice
_EVENTS = {
    "accepted": "accept",
    "rejected": "reject",
    "canceled": "cancel",
    "declaredPaid": "declarePaid",
    "paid": "paid",
}
# status reached -> webhook event (the API sends no webhook for declaredPaid)
_WEBHOOKS = {"accepted": "accept", "rejected": "reject", "canceled": "cancel", "paid": "paid"}
# buyer behaviour -> the statuses it leads the invoice through, one step each
_BUYER_STEPS: dict[str, tuple[str, ...]] = {
    "pay": ("paid",),
    "approve_then_pay": ("accepted", "paid"),
    "declare_then_pay": ("declaredPaid", "paid"),
    "reject": ("rejected",),
    "pay_late": ("paid",),
    "ignore": (),
}


class Lifecycle:
    """Owns the background work of a sandbox: timers, changes, buyers and webhooks."""

    def __init__(self, config: SandboxConfig, state: SandboxState, stats: Stats) -> None:
        self.config = config
        self.state = state
        self.tasks = TaskSet()
        self.webhooks = WebhookSender(config, self.tasks, stats)
        self._seed_numbers = itertools.count(1)

    # -- transitions ----------------------------------------------------------------------

    def convert(self, record: InvoiceRecord) -> None:
        """Put an off-chain invoice on chain; it opens after ``pending_delay_s``."""
        put_on_chain(self.state, record)
        self._emit(record, "create")
        self._open_later(record)

    def request_change(self, record: InvoiceRecord, change: str, user_id: str) -> None:
        """Apply an accepted change after ``change_delay_s``, as the API does."""
        self.tasks.spawn(self._apply_change(record, change, user_id), name=change)

    def set_status(
        self,
        record: InvoiceRecord,
        status: str,
        *,
        user_id: str | None = None,
        tx_hash: str | None = None,
        notify: bool = True,
    ) -> None:
        """Move ``record`` to ``status`` now, with its event, webhook and buyer script.

        ``notify=False`` skips the webhook (bulk seeding).
        """
        previous = record.status
        if status == previous:
            return
        data = record.data
        data["status"] = status
        if status == "paid":
            data["paymentMetadata"] = {
                "txHash": tx_hash or "0x" + secrets.token_hex(32),
                "chainName": chain_of(record),
                "paymentDate": now_iso(),
                "isManuallyPaid": False,
            }
        elif previous == "paid":
            data["paymentMetadata"] = {}  # the payment was reverted
        event = _EVENTS.get(status)
        if event is not None:
            entry: dict[str, Any] = {"name": event, "date": now_iso()}
            if user_id is not None:
                entry["userId"] = user_id
            data["events"] = [*data.get("events", ()), entry]
        record.changed()
        webhook = _WEBHOOKS.get(status)
        if webhook is not None and notify:
            self._emit(record, webhook)
        if status == "open" and self.config.buyers is not None and not record.scripted:
            self._start_buyer(record)

    def _emit(self, record: InvoiceRecord, event: str) -> None:
        if self.webhooks.url is not None:
            self.webhooks.emit(record.variant, event, record.encoded("seller", False))

    def _open_later(self, record: InvoiceRecord) -> None:
        self.tasks.spawn(self._open_after_delay(record), name="open")

    async def _open_after_delay(self, record: InvoiceRecord) -> None:
        await asyncio.sleep(self.config.pending_delay_s)
        if record.status == "pending":
            self.set_status(record, "open")

    async def _apply_change(self, record: InvoiceRecord, change: str, user_id: str) -> None:
        await asyncio.sleep(self.config.change_delay_s)
        _, allowed_from, target = CHANGE_RULES[change]
        # Another change may have landed meanwhile; then this one no longer applies.
        if record.status in allowed_from:
            self.set_status(record, target, user_id=user_id)

    # -- scripted buyers ------------------------------------------------------------------

    def _buyer_rng(self, record: InvoiceRecord) -> random.Random:
        if self.config.seed is None:
            return random.Random()  # noqa: S311 - a simulation, not cryptography
        # Keyed by what a rerun reproduces (not by ids, which are new every run).
        email = self.state.account_email(record.account_id)
        number = record.data["invoiceNumber"]
        return random.Random(f"{self.config.seed}:{record.network}:{email}:{number}")  # noqa: S311

    def _start_buyer(self, record: InvoiceRecord) -> None:
        script = self.config.buyers
        assert script is not None
        record.scripted = True
        rng = self._buyer_rng(record)
        names = list(script.weights)
        record.behaviour = rng.choices(names, weights=[script.weights[n] for n in names])[0]
        if _BUYER_STEPS[record.behaviour]:
            self.tasks.spawn(self._play_buyer(record, rng), name=f"buyer:{record.behaviour}")

    async def _play_buyer(self, record: InvoiceRecord, rng: random.Random) -> None:
        script = self.config.buyers
        assert script is not None
        assert record.behaviour is not None
        buyer_id = (record.data.get("buyerInfo") or {}).get("userId")
        expected = "open"
        for target in _BUYER_STEPS[record.behaviour]:
            delay = rng.uniform(script.min_delay_s, script.max_delay_s)
            if record.behaviour == "pay_late" and record.due_ts is not None:
                delay += max(0.0, record.due_ts - time.time())
            await asyncio.sleep(delay)
            if record.status != expected:
                return  # the seller canceled, or the control plane moved it: stop playing
            self.set_status(record, target, user_id=buyer_id)
            expected = target

    # -- bulk -----------------------------------------------------------------------------

    def seed(
        self,
        count: int,
        *,
        status: str = "open",
        network: str = "test",
        due_in_s: float = DEFAULT_SEED_DUE_IN_S,
        buyer_email: str | None = None,
    ) -> list[InvoiceRecord]:
        """Create ``count`` on-chain invoices of the main user at once, without webhooks."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}")
        if count < 0:
            raise ValueError("count must be >= 0")
        state = self.state
        user = state.main_user
        account_id = state.account_for(user, None)
        assert account_id is not None
        email = buyer_email or state.buyer_user.email
        records = []
        for _ in range(count):
            number = f"SEED-{next(self._seed_numbers):06d}"
            while state.number_taken(network, account_id, number):
                number = f"SEED-{next(self._seed_numbers):06d}"
            content = seed_content(number, buyer_email=email, due_in_s=due_in_s)
            record = new_record(state, content, user, account_id=account_id, network=network)
            put_on_chain(state, record, status="pending")
            records.append(record)
            if status == "pending":
                self._open_later(record)
            else:
                self.set_status(record, status, notify=False)
        return records

    async def aclose(self) -> None:
        """Cancel every background task, then close the webhook session."""
        await self.tasks.aclose()
        await self.webhooks.aclose()
