"""The Invoice-Collector sandbox on its own, spoken to in raw HTTP: shapes, auth, tokens, files."""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from reqfin_async.collector.errors import server_message
from reqfin_async.sandbox.collector import CollectorSandbox, CollectorSandboxConfig
from reqfin_async.sandbox.collector.documents import pdf_document, png_document

from .conftest import FAST


@pytest.fixture
async def http(server: CollectorSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {server.bearer}"}
    async with aiohttp.ClientSession(server.origin, headers=headers) as session:
        yield session


async def answer(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    if response.content_type == "application/json":
        return response.status, await response.json()
    return response.status, await response.text()


async def new_user(http: aiohttp.ClientSession, remote_id: str = "A1") -> str:
    body = {"email": "ann@acme.example", "locale": "en", "remote_id": remote_id}
    async with http.post("/api/v1/user", json=body) as response:
        status, created = await answer(response)
    assert status == 200, created
    token: str = created["token"]
    return token


# -- answer shapes -------------------------------------------------------------------------
async def test_customer_endpoints_need_the_bearer(server: CollectorSandbox) -> None:
    async with aiohttp.ClientSession(server.origin) as anonymous:
        async with anonymous.get("/api/v1/customer") as response:
            assert await answer(response) == (401, {"type": "error", "message": "Missing bearer."})
        wrong = {"Authorization": "Bearer nope"}
        async with anonymous.get("/api/v1/test_callback", headers=wrong) as response:
            assert await answer(response) == (401, {"type": "error", "message": "Invalid bearer."})


async def test_an_unknown_route_or_method_gives_the_reason(http: aiohttp.ClientSession) -> None:
    expected = (404, {"type": "error", "reason": "Endpoint not found"})
    async with http.get("/api/v1/invoices") as response:
        assert await answer(response) == expected
    async with http.put("/api/v1/customer") as response:
        assert await answer(response) == expected


async def test_malformed_json_gets_the_html_error_page(http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json"}
    async with http.post("/api/v1/user", data=b'{"email": ', headers=headers) as response:
        status, page = await answer(response)
    assert status == 400
    assert response.content_type == "text/html"
    assert page.startswith("<!DOCTYPE html>")
    message = server_message(page)
    assert message is not None
    assert message.startswith("SyntaxError: ")


async def test_a_json_body_over_100_kb_is_refused(http: aiohttp.ClientSession) -> None:
    body = b'{"remote_id": "' + b"x" * (100 * 1024) + b'"}'
    async with http.delete("/api/v1/user", data=body) as response:
        status, page = await answer(response)
    assert status == 413
    assert server_message(page) == "PayloadTooLargeError: request entity too large"


async def test_an_injected_fault_is_a_bare_internal_server_error(
    server: CollectorSandbox, http: aiohttp.ClientSession
) -> None:
    server.fail_next(1)
    async with http.get("/api/v1/customer") as response:
        assert await answer(response) == (500, "Internal server error")
    async with http.get("/api/v1/customer") as response:
        assert response.status == 200


async def test_empty_successes_are_200_without_a_body(http: aiohttp.ClientSession) -> None:
    async with http.post("/api/v1/customer", json={"callback": "https://erp.example/cb"}) as r:
        assert (r.status, await r.read()) == (200, b"")
    await new_user(http)
    async with http.delete("/api/v1/user", json={"remote_id": "A1"}) as r:
        assert (r.status, await r.read()) == (200, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"locale": "en", "remote_id": "A1"}, 'Field "email" is missing.'),
        ({"email": "a@b.example", "locale": "de", "remote_id": "A1"}, 'Locale "de" not supported'),
        ({"email": "a@b.example", "locale": "en", "remote_id": "A 1"}, "must not contain spaces"),
        ({"email": "nope", "locale": "en", "remote_id": "A1"}, 'Email "nope" is not valid.'),
    ],
)
async def test_post_user_refuses_bad_fields_with_a_message(
    http: aiohttp.ClientSession, body: dict[str, str], message: str
) -> None:
    async with http.post("/api/v1/user", json=body) as response:
        status, error = await answer(response)
    assert status == 400
    assert error["type"] == "error"
    assert message in error["message"]


async def test_deleting_an_unknown_user_is_a_400(http: aiohttp.ClientSession) -> None:
    async with http.delete("/api/v1/user", json={"remote_id": "nobody"}) as response:
        status, error = await answer(response)
    assert (status, error["message"]) == (400, 'User with remote_id "nobody" not found.')


# -- user tokens and the UI ------------------------------------------------------------------
async def test_the_ui_needs_a_valid_token(
    server: CollectorSandbox, http: aiohttp.ClientSession
) -> None:
    token = await new_user(http)
    server.add_collector("A1", "free", invoices=2)
    async with http.get("/api/v1/ui", params={"token": token}) as response:
        status, page = await answer(response)
    assert status == 200
    assert "Free: 2 invoice(s)" in page
    async with http.get("/api/v1/ui") as response:
        assert (await answer(response))[0] == 401
    async with http.get("/api/v1/ui", params={"token": "f" * 128}) as response:
        assert await answer(response) == (403, {"type": "error", "message": "Token is invalid."})


async def test_a_user_token_expires_and_an_older_one_stays_valid_until_then() -> None:
    config = CollectorSandboxConfig(user_token_ttl_s=0.2, retry_delay_s=FAST.retry_delay_s)
    async with CollectorSandbox(config) as server:
        headers = {"Authorization": f"Bearer {server.bearer}"}
        async with aiohttp.ClientSession(server.origin, headers=headers) as http:
            first = await new_user(http)
            second = await new_user(http)
            for token in (first, second):
                async with http.get("/api/v1/ui", params={"token": token}) as response:
                    assert response.status == 200
            await asyncio.sleep(0.25)
            async with http.get("/api/v1/ui", params={"token": first}) as response:
                assert await answer(response) == (
                    403,
                    {"type": "error", "message": "Token is expired."},
                )


async def test_deleting_a_user_revokes_its_tokens(http: aiohttp.ClientSession) -> None:
    token = await new_user(http)
    async with http.delete("/api/v1/user", json={"remote_id": "A1"}) as response:
        assert response.status == 200
    async with http.get("/api/v1/ui", params={"token": token}) as response:
        assert response.status == 403


# -- control plane and files -------------------------------------------------------------------
async def test_the_control_plane_refuses_an_unknown_user_or_collector(
    http: aiohttp.ClientSession,
) -> None:
    async with http.post("/sandbox/users/nobody/collectors", json={}) as response:
        assert (await answer(response))[0] == 404
    await new_user(http)
    async with http.post("/sandbox/users/A1/collectors", json={"collector": "nope"}) as response:
        status, error = await answer(response)
    assert status == 400
    assert "free" in error["message"]


def test_the_pdf_has_a_correct_cross_reference_table() -> None:
    pdf = pdf_document(["Invoice FREE-00001 (test)", "Total $93.50"])
    found = re.search(rb"startxref\n(\d+)", pdf)
    assert found is not None
    start = int(found.group(1))
    assert pdf[start:].startswith(b"xref\n0 6\n")
    offsets = [int(line[:10]) for line in pdf[start:].split(b"\n")[3:8]]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert pdf.rstrip().endswith(b"%%EOF")


def test_the_png_chunks_carry_correct_crcs() -> None:
    png = png_document(seed=5)
    position = 8
    kinds = []
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        crc = int.from_bytes(png[position + 8 + length : position + 12 + length], "big")
        assert zlib.crc32(kind + data) == crc
        kinds.append(kind)
        position += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    assert png_document(seed=5) != png_document(seed=6)
