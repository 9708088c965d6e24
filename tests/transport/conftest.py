"""The ``fake_api`` fixture: a programmable server for every transport test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakeapi import FakeAPI


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    async with FakeAPI() as api:
        yield api
