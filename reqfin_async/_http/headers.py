"""Headers every client of the library sends."""

from __future__ import annotations

import platform

import aiohttp

from .._version import __version__

__all__ = ["user_agent"]


def user_agent(suffix: str | None = None) -> str:
    """``reqfin-async/<version> python/<version> aiohttp/<version>`` (plus ``suffix``)."""
    python = platform.python_version()
    agent = f"reqfin-async/{__version__} python/{python} aiohttp/{aiohttp.__version__}"
    return f"{agent} {suffix}" if suffix else agent
