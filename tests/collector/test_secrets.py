"""The bearer and the user tokens never reach a log record, a repr or an exception message."""

from __future__ import annotations

import logging

import pytest

from reqfin_async import RetryPolicy
from reqfin_async._redact import redact_url
from reqfin_async.collector import CollectorStatusError, InvoiceCollectorClient
from reqfin_async.sandbox.collector import CollectorSandbox


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and extra fields, as one text."""
    return "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


async def test_no_secret_in_logs_reprs_or_errors_at_debug(
    server: CollectorSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="reqfin_async")
    server.fail_next(1)  # a retry is logged too
    seen: list[str] = []
    async with InvoiceCollectorClient(
        server.url, server.bearer, retry=RetryPolicy(max_attempts=2, backoff_base_s=0.01)
    ) as ic:
        seen.append(repr(ic))
        await ic.get_customer()
        token = await ic.create_user_token(email="ann@acme.example", remote_id="A1")
        seen += [repr(token), str(token)]
        # Were the UI URL ever logged or put in an error, its token would be hidden.
        seen.append(redact_url(ic.ui_url(token)))
        with pytest.raises(CollectorStatusError) as refused:
            await ic.delete_user(remote_id="nobody")
        seen += [str(refused.value), repr(refused.value)]
    async with InvoiceCollectorClient(server.url, "wrong-" + server.bearer) as wrong:
        seen.append(repr(wrong))
        with pytest.raises(CollectorStatusError) as unauthorized:
            await wrong.get_customer()
        seen += [str(unauthorized.value), repr(unauthorized.value)]

    logged = everything_logged(caplog)
    assert "http_request" in logged  # the debug events were emitted
    assert "http_retry" in logged
    for text in [logged, *seen]:
        assert server.bearer not in text
        assert token.token not in text
    assert "[redacted]" in repr(ic)
