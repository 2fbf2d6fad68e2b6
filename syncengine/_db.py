"""Opening databases: URLs, plain paths, and the SQLite settings the engine relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .errors import ConfigurationError

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def to_url(target: str | sa.URL) -> sa.URL:
    """Return the SQLAlchemy URL for ``target``; a plain path means an SQLite file."""
    if isinstance(target, sa.URL):
        return target
    if "://" not in target:
        return sa.URL.create("sqlite+pysqlite", database=str(Path(target).expanduser()))
    try:
        url = sa.make_url(target)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {target!r}") from exc
    if url.drivername in _DRIVERS:
        url = url.set(drivername=_DRIVERS[url.drivername])
    return url


def create_engine(target: str | sa.URL, *, busy_timeout_ms: int = 30000, **kwargs: Any) -> sa.Engine:
    """Create an engine; SQLite gets a busy timeout and ``BEGIN IMMEDIATE`` transactions.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock when a transaction starts, so two
    processes wait for each other (up to the timeout) instead of failing with
    "database is locked" when a read turns into a write.
    """
    url = to_url(target)
    try:
        engine = sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigurationError(
            f"cannot use database URL {url.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    except ImportError as exc:
        raise ConfigurationError(
            f"the driver for {url.drivername} is not installed ({exc.name}); "
            "install syncengine[postgres] or syncengine[mysql]"
        ) from exc
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            parent = Path(url.database).expanduser().parent
            if not parent.is_dir():
                raise ConfigurationError(f"folder {str(parent)!r} does not exist (for SQLite file {url.database!r})")

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")  # first: the next may wait
            # A sync touches the log, the row registers and the tables at random keys: with
            # SQLite's default 2 MiB page cache each batch rereads them from the file.
            dbapi_conn.execute("PRAGMA cache_size = -65536")

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # reads (connections marked "syncengine_read") need no write lock: they never wait for a sync
            deferred = conn.get_execution_options().get("syncengine_read", False)
            conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def describe(engine: sa.Engine) -> str:
    """Return the engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)
