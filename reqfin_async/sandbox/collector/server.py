"""Running the Invoice-Collector sandbox in-process (:class:`CollectorSandbox`).

::

    async with CollectorSandbox(CollectorSandboxConfig(retry_delay_s=0.05)) as server:
        server.url      # "http://127.0.0.1:<port>/api/v1"
        server.bearer   # the customer's bearer
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..serving import AppServer
from .api import API_PREFIX
from .app import build_app
from .collection import CollectReport
from .config import CollectorSandboxConfig
from .delivery import DeliveryAttempt
from .documents import PDF
from .services import Services
from .state import MADE_UP, Amount, Credential, SourceInvoice, User

__all__ = ["CollectorSandbox", "run_collector_sandbox"]


class CollectorSandbox(AppServer):
    """A local emulation of a self-hosted Invoice-Collector, served while the context is open.

    ::

        async with CollectorSandbox(port=0) as server:
            credential = server.add_collector("A1", invoices=2)   # after POST /user for A1
            report = await server.collect()                       # delivered to the callback

    Leaving the context cancels and awaits every delivery still under way.
    """

    def __init__(
        self,
        config: CollectorSandboxConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config or CollectorSandboxConfig()
        self._services = Services.build(self.config)
        super().__init__(build_app(self._services), host=host, port=port)

    # -- where and who (``origin``, ``http://host:port``: the control plane) ---------------
    @property
    def url(self) -> str:
        """The API's base URL, ``http://host:port/api/v1``."""
        return self.origin + API_PREFIX

    @property
    def bearer(self) -> str:
        """The customer's bearer token (a published sandbox default unless configured)."""
        return self.config.bearer

    @property
    def callback(self) -> str | None:
        """The callback URL the customer set."""
        return self._services.state.callback

    @property
    def users(self) -> dict[str, User]:
        """The users by ``remote_id``."""
        return self._services.state.users

    @property
    def attempts(self) -> list[DeliveryAttempt]:
        """Every callback try so far, oldest first."""
        return self._services.sender.attempts

    @property
    def request_count(self) -> int:
        """How many requests the sandbox has answered."""
        return self._services.requests

    @property
    def background_tasks(self) -> int:
        """How many background deliveries are running."""
        return len(self._services.tasks)

    # -- lifecycle ---------------------------------------------------------------------

    # -- playing the users and the suppliers -------------------------------------------
    def add_collector(
        self,
        remote_id: str,
        collector: str = "free",
        *,
        invoices: int = 1,
        mimetype: str = PDF,
        amount: Amount = MADE_UP,
    ) -> Credential:
        """Connect ``collector`` for an existing user, with ``invoices`` waiting there.

        ``amount="$12.00"`` (or ``amount=None``) replaces the made-up amounts.
        """
        state = self._services.state
        user = state.users.get(remote_id)
        if user is None:
            raise KeyError(f"no user {remote_id!r}: create it with POST /user first")
        return state.add_credential(
            user, collector, count=invoices, mimetype=mimetype, amount=amount
        )

    def add_invoices(
        self,
        credential: Credential,
        count: int = 1,
        *,
        mimetype: str = PDF,
        amount: Amount = MADE_UP,
    ) -> list[SourceInvoice]:
        """New invoices at the supplier of ``credential``, found by the next collection."""
        return self._services.state.add_invoices(
            credential, count, mimetype=mimetype, amount=amount
        )

    async def collect(self) -> CollectReport:
        """Deliver every waiting invoice; returns once each delivery succeeded or gave up."""
        return await self._services.collections.collect()

    def collect_in_background(self) -> int:
        """Start a collection in a task the sandbox owns; how many invoices it delivers."""
        return self._services.collections.collect_in_background()

    async def disconnect(self, credential: Credential) -> bool:
        """Send a ``notification_disconnected`` for ``credential``; whether it was acknowledged."""
        return await self._services.collections.notify_disconnected(credential)

    def fail_next(self, count: int) -> None:
        """Make the next ``count`` API calls answer 500 ``Internal server error``."""
        self._services.state.faults_left = count

    def banner(self) -> str:
        """What to tell a developer: where the sandbox listens and its bearer."""
        return "\n".join(
            [
                f"Invoice-Collector sandbox on {self.url}",
                f"  bearer          {self.bearer}",
                f"  callback        {self.callback or '(not set: POST /customer)'}",
                "  control plane: POST /sandbox/users/{remote_id}/collectors,"
                " POST /sandbox/collect, POST /sandbox/credentials/{id}/disconnect",
            ]
        )


async def run_collector_sandbox(
    config: CollectorSandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[CollectorSandbox], Any] | None = None,
) -> None:
    """Serve the Invoice-Collector sandbox until the calling task is cancelled.

    ::

        await run_collector_sandbox(port=8080, on_ready=lambda s: log(s.banner()))
    """
    await CollectorSandbox(config, host=host, port=port).serve_forever(on_ready)
