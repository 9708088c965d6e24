"""Running the sandbox: in-process (:class:`Sandbox`) or until cancelled (:func:`run_sandbox`).

::

    async with Sandbox(SandboxConfig(pending_delay_s=0.1)) as sandbox:
        client = RequestFinanceClient(auth=ApiKeyAuth(sandbox.config.api_key),
                                      base_url=sandbox.url, network="test")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from .app import build_app
from .config import SandboxConfig
from .lifecycle import DEFAULT_SEED_DUE_IN_S
from .services import SERVICES, Services
from .serving import AppServer
from .state import SandboxState, User

__all__ = ["Sandbox", "run_sandbox"]


def _copy(encoded: bytes) -> dict[str, Any]:
    # A deep copy by decoding: what callers do with it never reaches the stored invoice.
    invoice: dict[str, Any] = msgspec.json.decode(encoded)
    return invoice


class Sandbox(AppServer):
    """A local emulation of the Request Finance API, served while the context is open.

    ::

        async with Sandbox(port=0) as sandbox:
            sandbox.url                         # "http://127.0.0.1:<port>"
            sandbox.set_status(request_id, "paid")
    """

    def __init__(
        self, config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SandboxConfig()
        self.state = SandboxState(self.config)
        super().__init__(build_app(self.config, self.state), host=host, port=port)

    @property
    def _services(self) -> Services:
        return self._app[SERVICES]

    @property
    def url(self) -> str:
        """The base URL of the API (and of the control plane)."""
        return self.origin

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return self.url + "/oauth/token"

    @property
    def authorize_url(self) -> str:
        """The OAuth authorization endpoint (approves at once and redirects)."""
        return self.url + "/authorize"

    @property
    def request_count(self) -> int:
        """How many answers the sandbox has served."""
        return self._services.stats.requests

    @property
    def background_tasks(self) -> int:
        """How many background tasks (timers, buyers, webhook deliveries) are running."""
        return len(self._services.lifecycle.tasks)

    @property
    def main_user(self) -> User:
        """The seller the API key and the client credentials act for."""
        return self.state.main_user

    def set_status(self, invoice_id_or_request_id: str, status: str) -> dict[str, Any]:
        """Set an invoice's status at once, as the buyer or the chain would; returns it."""
        record = self.state.find_anywhere(invoice_id_or_request_id)
        if record is None:
            raise KeyError(f"no invoice {invoice_id_or_request_id!r}")
        self._services.lifecycle.set_status(record, status)
        return _copy(record.encoded("seller", False))

    def seed_invoices(
        self,
        count: int,
        *,
        status: str = "open",
        network: str = "test",
        due_in_s: float = DEFAULT_SEED_DUE_IN_S,
        buyer_email: str | None = None,
    ) -> list[dict[str, Any]]:
        """Create ``count`` on-chain invoices of the main user at once (no HTTP).

        ::

            ids = [inv["requestId"] for inv in sandbox.seed_invoices(1000)]
        """
        records = self._services.lifecycle.seed(
            count, status=status, network=network, due_in_s=due_in_s, buyer_email=buyer_email
        )
        return [_copy(record.encoded("seller", True)) for record in records]

    def banner(self) -> str:
        """What to tell a developer: where the sandbox listens and its credentials."""
        config = self.config
        lines = [
            f"Request Finance sandbox on {self.url}",
            f"  token URL       {self.token_url}",
            f"  authorize URL   {self.authorize_url}",
            f"  API key         {config.api_key}   ({self.state.main_user.email}, seller)",
            f"  buyer API key   {config.buyer_api_key}   ({self.state.buyer_user.email})",
            f"  client id       {config.client_id}",
            f"  client secret   {config.client_secret}",
            f"  webhook secret  {config.webhook_secret}"
            + (f"   -> {config.webhook_url}" if config.webhook_url else ""),
            "  headers: Authorization: <API key> | Bearer <token>; X-Network: test | live",
            '  control plane: POST /sandbox/invoices/{id}/status {"status": "paid"},'
            " POST /sandbox/seed, POST /sandbox/webhooks, GET /sandbox/stats",
        ]
        return "\n".join(lines)


async def run_sandbox(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[Sandbox], None] | None = None,
) -> None:
    """Serve the sandbox until the calling task is cancelled.

    ::

        await run_sandbox(SandboxConfig(), port=8080, on_ready=lambda s: log(s.banner()))
    """
    await Sandbox(config, host=host, port=port).serve_forever(on_ready)
