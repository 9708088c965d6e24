"""The examples run as written, against the embedded sandbox."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


async def run_example(name: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REQFIN_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / name),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=EXAMPLES,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 0, text
    return text


@pytest.mark.parametrize("name", ["api_key_invoice.py", "oauth_invoice.py"])
async def test_the_invoice_examples_create_convert_and_fetch(name: str) -> None:
    out = await run_example(name)
    assert "created" in out
    assert "converted -> requestId 01" in out
    assert "fetched   status" in out
    assert "total 239.98 USD" in out
    assert "token=[redacted]" in out  # the pay link's token never printed
    if name == "oauth_invoice.py":
        assert out.count("converted ->") == 2  # client credentials, then the code flow
