"""How many ``GET /invoices/{id}`` the sandbox serves per second, from another process.

The sandbox runs in a child process (so that the measuring client does not share
its event loop) and is hammered with raw aiohttp::

    rate = await measure_gets_per_second(seconds=3.0, concurrency=32)

``python -m reqfin_async.sandbox.bench --serve --port 8080`` serves a sandbox with
the benchmark settings (rate limits out of the way) until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection

import aiohttp

from .config import SandboxConfig
from .server import Sandbox, run_sandbox

__all__ = ["BENCH_CONFIG", "main", "measure_gets_per_second"]

# A benchmark must measure the server, not hit its rate limit.
BENCH_CONFIG = SandboxConfig(api_key_limit=10**12, unauthenticated_limit=10**12)
WARMUP_S = 0.5
START_TIMEOUT_S = 30.0


async def _serve_until_told(conn: Connection) -> None:
    async with Sandbox(BENCH_CONFIG) as sandbox:
        conn.send(sandbox.url)
        await asyncio.to_thread(conn.recv)  # any message means stop


def _child(conn: Connection) -> None:
    asyncio.run(_serve_until_told(conn))


def _receive_url(conn: Connection) -> str:
    if not conn.poll(START_TIMEOUT_S):
        raise RuntimeError(f"the sandbox process did not start within {START_TIMEOUT_S} s")
    url = conn.recv()
    assert isinstance(url, str)
    return url


async def _hammer(url: str, seconds: float, concurrency: int) -> float:
    headers = {"Authorization": BENCH_CONFIG.api_key, "X-Network": "test"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(f"{url}/sandbox/seed", json={"count": 1}) as response:
            response.raise_for_status()
            request_id = (await response.json())["invoices"][0]["requestId"]
        target = f"{url}/invoices/{request_id}"
        served = failed = 0
        measuring = False

        async def worker(until: float) -> None:
            nonlocal served, failed
            while time.monotonic() < until:
                async with http.get(target, headers=headers) as answer:
                    await answer.read()
                    if not measuring:
                        continue
                    if answer.status == 200:
                        served += 1
                    else:
                        failed += 1

        warm_until = time.monotonic() + WARMUP_S
        await asyncio.gather(*(worker(warm_until) for _ in range(concurrency)))
        measuring = True
        started = time.monotonic()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    if failed:
        raise RuntimeError(f"{failed} GETs failed during the benchmark")
    return served / elapsed


async def measure_gets_per_second(seconds: float = 3.0, concurrency: int = 32) -> float:
    """GETs of one invoice served per second by a sandbox in a separate process."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child,), name="sandbox-bench", daemon=True)
    process.start()
    try:
        url = await asyncio.to_thread(_receive_url, parent)
        return await _hammer(url, seconds, concurrency)
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        parent.close()
        child.close()


def main(argv: list[str] | None = None) -> None:
    """``--serve``: run a benchmark sandbox on ``--port`` until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m reqfin_async.sandbox.bench")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sandbox(BENCH_CONFIG, host=args.host, port=args.port))


if __name__ == "__main__":
    main()
