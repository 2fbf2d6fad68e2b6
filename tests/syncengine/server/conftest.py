"""Fixtures of the server tests: server processes, retry waits off, a shared-log database per dialect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from syncengine.remote import HttpSharedLog, _http

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


@pytest.fixture
def http_log() -> Iterator[Callable[..., HttpSharedLog]]:
    """Return a factory of HttpSharedLog clients that are all closed after the test."""
    made: list[HttpSharedLog] = []

    def make(url: str, token: str | None, **options: Any) -> HttpSharedLog:
        made.append(HttpSharedLog(url, token, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()
