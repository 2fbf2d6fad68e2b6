"""Fixtures of the server tests: server processes, retry waits off, a shared-log database per dialect, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncengine.remote import HttpSharedLog, _http

from .clients import BlockingAsyncLog, open_client
from .servers import Server


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Server]]:
    """Return a factory: ``start_server(db, *extra_args)`` starts a server and returns it."""
    servers: list[Server] = []

    def start(db: str, *extra: str) -> Server:
        server = Server(db, tmp_path / f"server{len(servers)}.log", *extra)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        # the server must never have answered 500 or crashed on a request
        assert "Traceback" not in server.log(), server.log()


@pytest.fixture(autouse=True)
def _no_retry_waits() -> Iterator[None]:
    """Retries happen, up to three tries, without their waits."""
    _http.set_testing(True, attempts=3)
    yield
    _http.set_testing(False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def log_db(request, new_db) -> str:
    """A fresh shared-log database: an SQLite file, then PostgreSQL."""
    return str(new_db(request.param))


@pytest.fixture(params=["sync", "async"])
def runner(request) -> str:
    """Which runner drives the HTTP client: the sync one, then the async one."""
    return str(request.param)


@pytest.fixture
def http_log(runner) -> Iterator[Callable[..., HttpSharedLog | BlockingAsyncLog]]:
    """Return a factory of HTTP clients on ``runner`` (see :func:`.clients.open_client`), all closed after the test."""
    made: list[HttpSharedLog | BlockingAsyncLog] = []

    def make(url: str, token: str | None, **options: Any) -> HttpSharedLog | BlockingAsyncLog:
        made.append(open_client(runner, url, token, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()
