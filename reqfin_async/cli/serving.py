"""What the serving commands share: options given on the command line, and running
a server until Ctrl+C."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

__all__ = ["given", "print_banner", "serve_until_interrupted"]


class _Banner(Protocol):
    def banner(self) -> str: ...


def given(**options: object) -> dict[str, object]:
    """The options the user gave (``None`` means "left to the config's default")."""
    return {name: value for name, value in options.items() if value is not None}


def print_banner(server: _Banner) -> None:
    print(server.banner(), flush=True)
    print("Press Ctrl+C to stop.", flush=True)


def serve_until_interrupted(serve: Callable[[], Coroutine[Any, Any, None]], *, stopped: str) -> int:
    """Run ``serve()`` until Ctrl+C, then say ``stopped``; the exit status."""
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print(f"\n{stopped}")
    return 0
