"""Real server processes for the server tests: ``syncengine serve`` on a free port.

A :class:`Server` runs the command line in a subprocess, waits for ``/health``,
and can be stopped, killed with SIGKILL and started again on the same port.
Tokens come from ``syncengine token create``, so the command line is tested too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from syncengine.model import PullResult


def all_pages(log: object, device: str, limit: int) -> list[PullResult]:
    """Every page a device pulls from ``log`` (any shared log), from the start to the end."""
    pages, cursor = [], 0
    while True:
        page = log.pull(device, cursor, limit)  # type: ignore[attr-defined]
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return pages


def syncengine_command() -> list[str]:
    """The ``syncengine`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "syncengine"
    if script.exists():
        return [str(script)]
    found = shutil.which("syncengine")
    return [found] if found else [sys.executable, "-c", "from syncengine.cli import run; run()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``syncengine ARGS``; fail the test with its output when it fails and ``check``."""
    done = subprocess.run(
        [*syncengine_command(), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    if check and done.returncode != 0:
        pytest.fail(f"syncengine {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def new_token(db: str, user: str) -> str:
    """Create a token with the command line and return it (the last line of stdout)."""
    return run_cli("token", "create", "--db", db, "--user", user).stdout.strip().splitlines()[-1]


class Server:
    """One ``syncengine serve`` process on its own port."""

    def __init__(self, db: str, log_path: Path, *extra: str) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process holds it
        self.process = subprocess.Popen(
            [
                *syncengine_command(),
                "serve",
                "--db",
                self.db,
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        pytest.fail(f"the server did not answer /health within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or a power cut would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
