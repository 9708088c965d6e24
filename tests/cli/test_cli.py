"""The command line: parsing, ``watch`` against a sandbox, and the demo end to end."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reqfin_async import __version__
from reqfin_async.cli import main
from reqfin_async.cli.watch import parse_store, read_ids
from reqfin_async.poller import SQLiteWatchStore
from reqfin_async.sandbox import Sandbox, SandboxConfig


def test_version_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"reqfin-async {__version__}"


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_watch_without_ids_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch"]) == 2
    assert "give invoice ids" in capsys.readouterr().err


def test_watch_with_a_bad_store_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "abc", "--store", "redis:x"]) == 2
    assert "sqlite:PATH" in capsys.readouterr().err


def test_ids_come_from_arguments_and_file_without_repeats(tmp_path: Path) -> None:
    listing = tmp_path / "ids.txt"
    listing.write_text("b  # second\n\n# a comment\nc\na\n")
    assert read_ids(["a", "b"], listing) == ["a", "b", "c"]


def test_the_store_option_names_an_sqlite_file(tmp_path: Path) -> None:
    store = parse_store(f"sqlite:{tmp_path / 'w.sqlite3'}")
    assert isinstance(store, SQLiteWatchStore)
    assert parse_store(None) is None


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxConfig(pending_delay_s=0.05)) as running:
        yield running


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reqfin_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_watch_exits_zero_when_every_invoice_is_paid(sandbox: Sandbox) -> None:
    ids = [row["requestId"] for row in sandbox.seed_invoices(3, due_in_s=600)]
    env = {"REQFIN_API_KEY": sandbox.config.api_key, "REQFIN_BASE_URL": sandbox.url}
    watcher = asyncio.ensure_future(_run("watch", *ids, "--interval", "0.2", env=env))
    await asyncio.sleep(1.0)
    for request_id in ids:
        sandbox.set_status(request_id, "paid")
    code, out = await watcher
    assert code == 0, out
    assert out.count(" paid ") >= 3


async def test_watch_exits_one_when_an_invoice_is_not_paid(sandbox: Sandbox) -> None:
    paid, rejected = (row["requestId"] for row in sandbox.seed_invoices(2, due_in_s=600))
    env = {"REQFIN_API_KEY": sandbox.config.api_key, "REQFIN_BASE_URL": sandbox.url}
    watcher = asyncio.ensure_future(_run("watch", paid, rejected, "--interval", "0.2", env=env))
    await asyncio.sleep(1.0)
    sandbox.set_status(paid, "paid")
    sandbox.set_status(rejected, "rejected")
    code, out = await watcher
    assert code == 1, out
    assert "rejected" in out


async def test_watch_without_credentials_says_what_to_set() -> None:
    env = {"REQFIN_API_KEY": "", "REQFIN_CLIENT_ID": "", "REQFIN_CLIENT_SECRET": ""}
    code, out = await _run("watch", "abc", env=env)
    assert code == 2
    assert "REQFIN_API_KEY" in out


async def test_the_demo_runs_end_to_end_without_credentials() -> None:
    code, out = await _run("demo", "--bulk", "20", "--due-in", "6", "--interval", "0.5")
    assert code == 0, out
    assert "Acme Wholesaler Ltd." in out
    assert "239.98 USD" in out  # the specification's example, in major units
    assert "26 invoices followed" in out
    assert "Done in" in out
