"""Shared fixtures: real databases for every dialect the engine supports.

``device_url`` gives a fresh, empty database per test: an SQLite file, and — when
their servers answer — a new PostgreSQL and a new MariaDB database. Server URLs
come from ``SYNCENGINE_TEST_POSTGRES`` and ``SYNCENGINE_TEST_MYSQL`` (defaults:
the local servers). Outside CI a missing server skips its tests with one line; with
``CI=true`` it fails them, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

POSTGRES = os.environ.get("SYNCENGINE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL = os.environ.get("SYNCENGINE_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() == "true"

_reachable: dict[str, str | None] = {}


def _server_problem(url: str) -> str | None:
    if url not in _reachable:
        try:
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            engine.dispose()
            _reachable[url] = None
        except Exception as exc:
            _reachable[url] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return _reachable[url]


def _need_server(url: str, what: str) -> None:
    problem = _server_problem(url)
    if problem is None:
        return
    message = f"{what} server at {sa.make_url(url).render_as_string(hide_password=True)} is unreachable ({problem})"
    if IN_CI:
        pytest.fail(message + " — CI=true, so this fails instead of skipping")
    pytest.skip(message)


def _fresh_server_db(url: str, what: str) -> Iterator[str]:
    _need_server(url, what)
    name = f"se_{uuid.uuid4().hex[:12]}"
    base = sa.make_url(url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if base.get_backend_name() == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes the user's real config folder or keyring: tokens and keys go to a folder of the test's own.

    (Tests that need a folder they know set ``SYNCENGINE_CONFIG_DIR`` again; processes
    a test starts inherit it.)
    """
    monkeypatch.setenv("SYNCENGINE_CONFIG_DIR", str(tmp_path_factory.mktemp("syncengine-config")))


@pytest.fixture
def new_db(tmp_path, request) -> Iterator[Callable[[str], str]]:
    """Return a factory: ``new_db(dialect)`` gives the URL of a fresh empty database."""
    cleanups: list[Iterator[str]] = []

    def make(dialect: str) -> str:
        if dialect == "sqlite":
            return str(tmp_path / f"db_{uuid.uuid4().hex[:8]}.sqlite")
        gen = _fresh_server_db(POSTGRES if dialect == "postgresql" else MYSQL, dialect)
        url = next(gen)
        cleanups.append(gen)
        return url

    yield make
    for gen in cleanups:
        for _ in gen:
            pass


DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", id="mariadb", marks=pytest.mark.mysql),
]


@pytest.fixture(params=DIALECTS)
def dialect(request) -> str:
    """Each supported dialect in turn."""
    return str(request.param)
