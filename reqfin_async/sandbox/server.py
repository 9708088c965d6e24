"""Running the sandbox: in-process (:class:`Sandbox`) or until cancelled (:func:`run_sandbox`).

::

    async with Sandbox(SandboxConfig(pending_delay_s=0.1)) as sandbox:
        client = RequestFinanceClient(auth=ApiKeyAuth(sandbox.config.api_key),
                                      base_url=sandbox.url, network="test")
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import msgspec
from aiohttp import web

from .app import build_app
from .config import SandboxConfig
from .lifecycle import DEFAULT_SEED_DUE_IN_S
from .services import SERVICES, Services
from .state import SandboxState, User

__all__ = ["Sandbox", "run_sandbox"]

# In-flight answers get this long to finish when the sandbox stops (a slow chaos
# answer must not hold a test run for aiohttp's default minute).
SHUTDOWN_TIMEOUT_S = 2.0


def _copy(encoded: bytes) -> dict[str, Any]:
    # A deep copy by decoding: what callers do with it never reaches the stored invoice.
    invoice: dict[str, Any] = msgspec.json.decode(encoded)
    return invoice


class Sandbox:
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
        self.host = host
        self.port = port
        self.state = SandboxState(self.config)
        self._app = build_app(self.config, self.state)
        self._runner: web.AppRunner | None = None

    @property
    def _services(self) -> Services:
        return self._app[SERVICES]

    @property
    def url(self) -> str:
        """The base URL of the API (and of the control plane)."""
        if self._runner is None:
            raise RuntimeError("the sandbox is not running")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

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

    async def start(self) -> None:
        """Start serving (``async with`` does it for you); a sandbox runs once."""
        if self._app.frozen:
            raise RuntimeError("this sandbox has already run; create a new Sandbox")
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and end every background task the sandbox started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

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
    async with Sandbox(config, host=host, port=port) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)
        await asyncio.Event().wait()
