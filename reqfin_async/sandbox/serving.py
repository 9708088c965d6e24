"""Serving an aiohttp application on 127.0.0.1 for as long as a context is open.

Both emulations (the Request Finance API and the Invoice-Collector) are one of
these: started once, on a free port when given port 0, and stopped with every
background task their application owns (its cleanup hooks run on stop)::

    class MySandbox(AppServer):
        def __init__(self) -> None:
            super().__init__(build_app(), host="127.0.0.1", port=0)
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

import anyio
from aiohttp import web

__all__ = ["AppServer", "SHUTDOWN_TIMEOUT_S"]

# In-flight answers get this long to finish when a sandbox stops (a slow chaos
# answer must not hold a test run for aiohttp's default minute).
SHUTDOWN_TIMEOUT_S = 2.0


class AppServer:
    """An aiohttp application served while started; ``origin`` is where."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        """``http://host:port`` (the port chosen when it was 0)."""
        if self._runner is None:
            raise RuntimeError(f"the {type(self).__name__} is not running")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start serving (``async with`` does it for you); a server runs once."""
        if self._app.frozen:
            raise RuntimeError(f"this {type(self).__name__} has already run; create a new one")
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
        """Stop serving and end every background task the application started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def serve_forever(self, on_ready: Callable[[Self], object] | None = None) -> None:
        """Start, call ``on_ready(self)``, and serve until the calling task is cancelled.

        ::

            await Sandbox(port=8080).serve_forever(lambda s: print(s.banner()))
        """
        async with self:
            if on_ready is not None:
                on_ready(self)
            await anyio.sleep_forever()

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
