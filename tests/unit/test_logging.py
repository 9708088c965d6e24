"""The library logs key-value events to ``reqfin_async``, configures nothing, leaks no secret."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import structlog
from aiohttp import web

from reqfin_async import (
    ApiKeyAuth,
    AuthenticationError,
    AuthorizationRequest,
    InternalServerError,
    NotFoundError,
    PkcePair,
    RefreshTokenAuth,
    RequestFinanceError,
    TokenSet,
    exchange_code,
)
from reqfin_async._log import get_logger
from tests.fakeapi import FakeAPI, client_for, drop_connection, invoice_json, reply, token_reply

LOGGER = "reqfin_async"


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeAPI]:
    async with FakeAPI() as api:
        yield api


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith(LOGGER) and getattr(r, "event_name", None) == name
    ]


# -- no configuration --------------------------------------------------------------------------
async def test_the_library_adds_no_handler_and_configures_nothing(
    fake_api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured: list[str] = []
    monkeypatch.setattr(logging, "basicConfig", lambda *a, **k: configured.append("basicConfig"))
    monkeypatch.setattr(structlog, "configure", lambda *a, **k: configured.append("configure"))
    root_handlers = list(logging.getLogger().handlers)
    structlog_configured = structlog.is_configured()
    fake_api.add("POST", "/oauth/token", token_reply("at-1"))
    fake_api.add("GET", "/invoices/{id}", reply(500), reply(invoice_json()))
    auth = RefreshTokenAuth(
        client_id="cid",
        client_secret="cs",
        refresh_token="rt",
        token_url=fake_api.url + "/oauth/token",
    )
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
    logger = logging.getLogger(LOGGER)
    assert logger.handlers == []
    assert logger.level == logging.NOTSET
    assert logger.propagate
    assert logging.getLogger().handlers == root_handlers
    assert structlog.is_configured() == structlog_configured
    assert configured == []


# -- the events ------------------------------------------------------------------------------
async def test_one_debug_event_per_attempt_and_one_info_event_per_retry(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fake_api.add(
        "GET",
        "/invoices/{id}",
        reply(500, headers={"X-Request-Id": "r1"}),
        reply(502, headers={"X-Request-Id": "r2"}),
        reply(invoice_json(), headers={"X-Request-Id": "r3"}),
    )
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
    attempts = events(caplog, "http_request")
    assert [r.levelno for r in attempts] == [logging.DEBUG] * 3
    assert [r.attempt for r in attempts] == [1, 2, 3]  # type: ignore[attr-defined]
    assert [r.status for r in attempts] == [500, 502, 200]  # type: ignore[attr-defined]
    assert [r.request_id for r in attempts] == ["r1", "r2", "r3"]  # type: ignore[attr-defined]
    for record in attempts:
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.path == "/invoices/inv-1"  # type: ignore[attr-defined]
        assert isinstance(record.elapsed_ms, float)  # type: ignore[attr-defined]
        assert record.elapsed_ms >= 0  # type: ignore[attr-defined]
    assert (
        attempts[0]
        .getMessage()
        .startswith("http_request method=GET path=/invoices/inv-1 status=500 attempt=1 elapsed_ms=")
    )
    assert attempts[0].getMessage().endswith(" request_id=r1")
    retries = events(caplog, "http_retry")
    assert [r.levelno for r in retries] == [logging.INFO] * 2
    assert [r.attempt for r in retries] == [1, 2]  # type: ignore[attr-defined]
    assert [r.status for r in retries] == [500, 502]  # type: ignore[attr-defined]
    assert {r.reason for r in retries} == {"InternalServerError"}  # type: ignore[attr-defined]
    assert all(r.delay_s >= 0 for r in retries)  # type: ignore[attr-defined]


async def test_a_failed_attempt_is_logged_with_its_failure(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fake_api.add("POST", "/clients", drop_connection())
    async with client_for(fake_api) as client:
        with pytest.raises(RequestFinanceError):
            await client.clients.create({"email": "a@acme.example"})
    (attempt,) = events(caplog, "http_request")
    assert attempt.status is None  # type: ignore[attr-defined]
    assert attempt.failure == "ServerDisconnectedError"  # type: ignore[attr-defined]
    assert events(caplog, "http_retry") == []


async def test_without_debug_there_are_retries_but_no_attempt_events(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    fake_api.add("GET", "/invoices/{id}", reply(503), reply(invoice_json()))
    async with client_for(fake_api) as client:
        await client.invoices.get("inv-1")
    assert events(caplog, "http_request") == []
    assert len(events(caplog, "http_retry")) == 1


async def test_a_token_refresh_is_one_info_event(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fake_api.add("POST", "/oauth/token", token_reply("at-1", expires_in=600, refresh_token="rt-2"))
    fake_api.add("GET", "/invoices/{id}", reply(invoice_json()))
    auth = RefreshTokenAuth(
        client_id="cid",
        client_secret="cs",
        refresh_token="rt-1",
        token_url=fake_api.url + "/oauth/token",
    )
    async with client_for(fake_api, auth) as client:
        await client.invoices.get("inv-1")
        await client.invoices.get("inv-1")
    (refreshed,) = events(caplog, "token_refreshed")
    assert refreshed.levelno == logging.INFO
    assert refreshed.grant_type == "refresh_token"  # type: ignore[attr-defined]
    assert refreshed.expires_in == 600  # type: ignore[attr-defined]
    assert refreshed.getMessage() == "token_refreshed grant_type=refresh_token expires_in=600"
    assert len(events(caplog, "refresh_token_rotated")) == 1


def test_values_logged_under_secret_names_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    get_logger(name="test").info(
        "something_happened",
        authorization="Bearer at-logged-1",
        client_secret="cs-logged-2",
        url="https://pay.example/x?token=pay-logged-3",
        note="refresh_token=rt-logged-4",
        invoice_id="inv-1",
    )
    (record,) = events(caplog, "something_happened")
    assert record.name == "reqfin_async.test"
    assert record.invoice_id == "inv-1"  # type: ignore[attr-defined]
    text = _text_of(record)
    for secret in ("at-logged-1", "cs-logged-2", "pay-logged-3", "rt-logged-4"):
        assert secret not in text
    assert record.client_secret == "[redacted]"  # type: ignore[attr-defined]


# -- secrets never show ------------------------------------------------------------------------
API_KEY = "sk-sweep-api-key-0001"
CLIENT_SECRET = "cs-sweep-client-secret-0002"
CODE = "code-sweep-0003"
ACCESS_1 = "at-sweep-first-0004"
ACCESS_2 = "at-sweep-second-0005"
REFRESH_1 = "rt-sweep-first-0006"
REFRESH_2 = "rt-sweep-second-0007"
PAY_TOKEN = "pay-sweep-token-0008"
BAD_REFRESH = "rt-sweep-revoked-0009"


def _text_of(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    parts.extend(f"{key}={value!r}" for key, value in vars(record).items())
    return "\n".join(parts)


async def test_no_secret_reaches_a_log_record_a_repr_or_an_error_message(
    fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []

    # The authorization-code flow: a PKCE verifier, a code, a client secret.
    start = AuthorizationRequest.create(client_id="cid", redirect_uri="https://app.example/cb")
    verifier = start.code_verifier
    shown += [repr(start), repr(PkcePair.from_verifier(verifier)), start.url]

    async def token_endpoint(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if form["grant_type"] == "authorization_code":
            body = {"access_token": ACCESS_1, "refresh_token": REFRESH_1, "expires_in": 86400}
            return web.json_response(body)
        if form["refresh_token"] == REFRESH_1:
            return web.json_response(
                {"access_token": ACCESS_2, "refresh_token": REFRESH_2, "expires_in": 86400}
            )
        # A refusal that echoes what it refused, in JSON.
        body = {"error": "invalid_grant", "refresh_token": form["refresh_token"]}
        return web.json_response(body, status=403)

    async def invoices(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] == f"Bearer {ACCESS_1}":
            return web.json_response({"message": "token expired"}, status=401)
        return web.json_response(
            invoice_json(
                invoiceLinks={
                    "pay": f"https://pay.request.finance/0196?token={PAY_TOKEN}",
                    "view": f"https://app.request.finance/0196?token={PAY_TOKEN}",
                }
            )
        )

    fake_api.add("POST", "/oauth/token", token_endpoint)
    fake_api.add("GET", "/invoices/{id}", reply(500), invoices)
    fake_api.add(
        "GET",
        "/pay",
        reply(
            {"message": "link expired", "access_token": ACCESS_2, "token": PAY_TOKEN}, status=404
        ),
    )
    fake_api.add("GET", "/users", reply({"message": "nope"}, status=401))
    token_url = fake_api.url + "/oauth/token"

    tokens = await exchange_code(
        CODE,
        client_id="cid",
        client_secret=CLIENT_SECRET,
        redirect_uri="https://app.example/cb",
        code_verifier=verifier,
        token_url=token_url,
    )
    handed: list[TokenSet] = []
    auth = RefreshTokenAuth.from_token_set(
        tokens,
        client_id="cid",
        client_secret=CLIENT_SECRET,
        token_url=token_url,
        on_refresh=handed.append,
    )
    shown += [repr(tokens), repr(auth)]

    errors: list[BaseException] = []
    async with client_for(fake_api, auth) as client:
        # A 500 (retry), then a 401 on the first token (refresh with rotation), then the invoice.
        invoice = await client.invoices.get("inv-1", with_links=True)
        shown += [repr(client), repr(invoice), repr(invoice.invoice_links), repr(handed)]
        with pytest.raises(NotFoundError) as not_found:
            await client.transport.request("GET", f"/pay?token={PAY_TOKEN}", options=client.options)
        errors.append(not_found.value)

    revoked = RefreshTokenAuth(
        client_id="cid", client_secret=CLIENT_SECRET, refresh_token=BAD_REFRESH, token_url=token_url
    )
    async with client_for(fake_api, revoked) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.invoices.get("inv-1")
        errors.append(refused.value)
        shown.append(repr(client))

    async with client_for(fake_api, ApiKeyAuth(API_KEY)) as client:
        with pytest.raises(AuthenticationError) as unauthorized:
            await client.organizations.current_user()
        errors.append(unauthorized.value)
        fake_api.add("GET", "/currency", reply(503))
        with pytest.raises(InternalServerError) as failed:
            await client.currencies.all()
        errors.append(failed.value)
        shown.append(repr(client))

    # The secrets really went through the client: the sweep below is not vacuous.
    sent = [r.headers.get("Authorization") for r in fake_api.requests]
    assert f"Bearer {ACCESS_2}" in sent
    assert API_KEY in sent
    assert refused.value.oauth_error == "invalid_grant"
    assert invoice.invoice_links is not None
    assert invoice.invoice_links.pay is not None
    assert PAY_TOKEN in invoice.invoice_links.pay
    assert auth.refresh_token == REFRESH_2

    records = [r for r in caplog.records if r.name.startswith(LOGGER)]
    names = {getattr(r, "event_name", None) for r in records}
    assert {"http_request", "http_retry", "token_refreshed"} <= names
    for error in errors:
        shown += [str(error), repr(error)]
        if error.__cause__ is not None:
            shown.append(str(error.__cause__))
    haystack = "\n".join([*shown, *(_text_of(r) for r in records)])
    secrets = {
        "API key": API_KEY,
        "client secret": CLIENT_SECRET,
        "authorization code": CODE,
        "PKCE verifier": verifier,
        "first access token": ACCESS_1,
        "second access token": ACCESS_2,
        "first refresh token": REFRESH_1,
        "second refresh token": REFRESH_2,
        "revoked refresh token": BAD_REFRESH,
        "pay-link token": PAY_TOKEN,
    }
    assert "token=[redacted]" in haystack  # the link and the path were there, redacted
    leaked = [name for name, secret in secrets.items() if secret in haystack]
    assert leaked == []
