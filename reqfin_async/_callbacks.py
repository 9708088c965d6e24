"""Calling the user's callbacks, which may be plain functions or coroutine functions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["call_back"]

T = TypeVar("T")


async def call_back(fn: Callable[[T], Awaitable[object] | object], value: T) -> None:
    """``fn(value)``, awaited when it returns an awaitable::

    await call_back(on_invoice, delivery)   # def or async def, both work
    """
    outcome = fn(value)
    if inspect.isawaitable(outcome):
        await outcome
