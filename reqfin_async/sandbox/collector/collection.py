"""Collections: every invoice not yet acknowledged is delivered, in parallel.

An invoice whose delivery failed (no 200 after every try) stays waiting and
is sent again at the next collection, which is why receivers deduplicate. An
invoice whose delivery is still under way is not sent twice at once::

    report = await collections.collect()              # in the caller's task
    collections.collect_in_background()               # in a task the sandbox owns
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..tasks import TaskSet
from .delivery import CallbackSender, disconnected_payload, invoice_payload
from .state import CollectorState, Credential, SourceInvoice

__all__ = ["CollectReport", "Collections"]


@dataclass(frozen=True, slots=True)
class CollectReport:
    """What one collection did: invoices acknowledged, and invoices still waiting."""

    delivered: int
    failed: int


class Collections:
    """Runs collections and disconnection notices for one sandbox."""

    def __init__(self, state: CollectorState, sender: CallbackSender, tasks: TaskSet) -> None:
        self._state = state
        self._sender = sender
        self._tasks = tasks
        self._in_flight: set[tuple[str, str]] = set()

    def _due(self) -> list[tuple[Credential, SourceInvoice]]:
        return [
            (credential, invoice)
            for credential, invoice in self._state.waiting()
            if (credential.id, invoice.id) not in self._in_flight
        ]

    async def collect(self) -> CollectReport:
        """Deliver every waiting invoice; returns once each delivery succeeded or gave up."""
        return await self._run(self._due())

    def collect_in_background(self) -> int:
        """Start a collection in a task the sandbox owns; how many invoices it delivers."""
        due = self._due()
        # Marked now, so that a second collection started at once skips them.
        self._in_flight.update((c.id, i.id) for c, i in due)
        self._tasks.spawn(self._quietly(due), name="collect")
        return len(due)

    async def _quietly(self, due: list[tuple[Credential, SourceInvoice]]) -> None:
        await self._run(due)

    async def _run(self, due: list[tuple[Credential, SourceInvoice]]) -> CollectReport:
        self._in_flight.update((c.id, i.id) for c, i in due)
        async with asyncio.TaskGroup() as group:
            runs = [group.create_task(self._deliver(c, i)) for c, i in due]
        delivered = sum(run.result() for run in runs)
        return CollectReport(delivered=delivered, failed=len(runs) - delivered)

    async def _deliver(self, credential: Credential, invoice: SourceInvoice) -> bool:
        try:
            body = invoice_payload(credential, invoice)
            ok = await self._sender.deliver(body, kind="invoice", invoice_id=invoice.id)
            invoice.delivered = invoice.delivered or ok
            return ok
        finally:
            self._in_flight.discard((credential.id, invoice.id))

    async def notify_disconnected(self, credential: Credential) -> bool:
        """Tell the callback that ``credential`` stopped working; whether it acknowledged."""
        return await self._sender.deliver(
            disconnected_payload(credential), kind="notification_disconnected"
        )

    def notify_disconnected_in_background(self, credential: Credential) -> None:
        """The same, in a task the sandbox owns."""
        self._tasks.spawn(self._notify_quietly(credential), name="notification_disconnected")

    async def _notify_quietly(self, credential: Credential) -> None:
        await self.notify_disconnected(credential)
