"""The sandbox's webhook sender logs its failed attempts without the URL's token."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest

from reqfin_async.sandbox import Sandbox
from tests.fakeapi import garbage_port, refused_port
from tests.specbody import invoice_body

from .conftest import create_request, seller, wait_until

HOOK_TOKEN = "HOOK-SECRET-4242"


def webhook_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "reqfin_async.sandbox" and "webhook attempt" in r.getMessage()
    ]


@pytest.mark.parametrize(
    "hook_port",
    [
        pytest.param(refused_port, id="refused"),
        # The error's repr names the whole URL too, query and all.
        pytest.param(garbage_port, id="not-http"),
    ],
)
async def test_a_failed_webhook_attempt_is_logged_without_the_urls_token(
    make_sandbox: Callable[..., Sandbox],
    caplog: pytest.LogCaptureFixture,
    hook_port: Callable[[], AbstractAsyncContextManager[int]],
) -> None:
    caplog.set_level(logging.WARNING, logger="reqfin_async.sandbox")

    async def warned() -> bool:
        return bool(webhook_warnings(caplog))

    async with hook_port() as port:
        url = f"http://127.0.0.1:{port}/hook?token={HOOK_TOKEN}"
        async with (
            make_sandbox(webhook_url=url) as sandbox,
            aiohttp.ClientSession(sandbox.url) as http,
        ):
            await create_request(http, seller(sandbox), invoice_body("LOG-1"), wait_open=False)
            await wait_until(warned)
    [first, *_] = webhook_warnings(caplog)
    assert f"127.0.0.1:{port}/hook?token=[redacted]" in first
    for record in caplog.records:
        assert HOOK_TOKEN not in record.getMessage()
        assert HOOK_TOKEN not in str(record.args)
