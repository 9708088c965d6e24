"""Decoding a page of 100 realistic invoices: msgspec structs vs pydantic v2 vs dicts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reqfin_async import Invoice
from reqfin_async.models import decoder

from ._harness import Figure
from ._pydantic_models import PAGE_ADAPTER

__all__ = ["run", "sample_page"]

_FIXTURE = Path(__file__).parent.parent / "tests" / "fixtures" / "invoice_get.json"
PAGE_SIZE = 100


def sample_page() -> bytes:
    """100 invoices shaped like ``GET /invoices/{id}`` of the specification, all distinct."""
    base = json.loads(_FIXTURE.read_text())
    page = []
    for n in range(PAGE_SIZE):
        invoice = json.loads(json.dumps(base))
        invoice["id"] = f"{n:024x}"
        invoice["requestId"] = "01" + f"{n:064x}"
        invoice["invoiceNumber"] = f"INV-{n:05d}"
        invoice["invoiceItems"][0]["quantity"] = 1 + n % 7
        invoice["status"] = ("open", "paid", "accepted", "declaredPaid")[n % 4]
        page.append(invoice)
    return json.dumps(page).encode()


def _per_page_us(decode: Callable[[bytes], Any], body: bytes, seconds: float) -> float:
    decode(body)  # warm-up: build caches, first allocations
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        decode(body)
        count += 1
    return (time.perf_counter() - started) / count * 1e6


async def run(*, quick: bool) -> list[Figure]:
    body = sample_page()
    page_decoder = decoder(list[Invoice])
    stacks: dict[str, Callable[[bytes], Any]] = {
        "msgspec structs (reqfin-async)": page_decoder.decode,
        "pydantic v2 models": PAGE_ADAPTER.validate_json,
        "json.loads (dicts)": json.loads,
    }
    seconds = 0.2 if quick else 1.0
    rounds = 3 if quick else 7
    figures = {
        name: Figure(
            suite="decode",
            name=name,
            unit="us/page",
            note=f"{PAGE_SIZE} invoices, {len(body) // 1024} KiB",
            higher_is_better=False,
        )
        for name in stacks
    }
    for _ in range(rounds):
        for name, decode in stacks.items():
            figures[name].rounds.append(_per_page_us(decode, body, seconds))
    ours = figures["msgspec structs (reqfin-async)"].median
    pyd = figures["pydantic v2 models"].median
    figures["msgspec structs (reqfin-async)"].note += f"; {pyd / ours:.1f}x faster than pydantic"
    return list(figures.values())
