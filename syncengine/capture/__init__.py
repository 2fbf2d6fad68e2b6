"""Change capture with database triggers, one dialect per module.

Each synced table gets triggers that append one row to ``syncengine_log`` for every
insert, update and delete, in the writer's own transaction. Triggers are plain SQL:
they call no function registered on a connection, so writes from the ``sqlite3``
shell, ``psql`` or another program are captured like the engine's own. While the
engine applies remote changes it sets ``syncengine_control.applying`` inside its
transaction, and the triggers skip those writes; other transactions never see
that flag set.

Triggers record values as the database holds them: on SQLite copied into value
columns of the log row, on PostgreSQL and MariaDB in the database's own JSON
form. :mod:`._decode` turns them into Python values with the column types, later,
when entries are stamped.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..errors import SchemaError
from . import _mysql, _postgresql, _sqlite
from ._decode import NativeDecoder, decoder_for

__all__ = ["NativeDecoder", "check_syncable", "decoder_for", "install", "json_columns", "snapshot", "uninstall"]

_DIALECTS = {"sqlite": _sqlite, "postgresql": _postgresql, "mysql": _mysql, "mariadb": _mysql}


def _module(dialect: sa.Dialect):  # type: ignore[no-untyped-def]
    try:
        return _DIALECTS[dialect.name]
    except KeyError:
        raise SchemaError(
            f"the {dialect.name} database is not supported (use SQLite, PostgreSQL or MariaDB/MySQL)"
        ) from None


def check_syncable(table: sa.Table, dialect: sa.Dialect) -> None:
    """Raise :class:`SchemaError` when ``table`` cannot be synced safely."""
    pk = list(table.primary_key.columns)
    if not pk:
        raise SchemaError(
            f"table {table.name!r} has no primary key; add one (a UUID text column is best) before syncing it",
            table=table.name,
        )
    if len(pk) == 1 and _module(dialect).is_autoincrement(pk[0]):
        raise SchemaError(
            f"table {table.name!r} has an auto-incremented integer key {pk[0].name!r}: two devices would "
            "create the same ids; use a random UUID key (syncengine.uuid_pk()) or a composite key instead",
            table=table.name,
        )


def install(conn: sa.Connection, table: sa.Table) -> None:
    """Create (or re-create) the capture triggers of ``table``."""
    module = _module(conn.dialect)
    if hasattr(module, "prepare"):
        module.prepare(conn, table)
    module.drop(conn, table)
    for statement in module.create_statements(table, conn.dialect):
        conn.exec_driver_sql(statement)


def snapshot(conn: sa.Connection, table: sa.Table) -> int:
    """Record every row ``table`` holds now as a captured insert; return how many."""
    result = conn.exec_driver_sql(_module(conn.dialect).snapshot_statement(table, conn.dialect))
    return int(result.rowcount or 0)


def uninstall(conn: sa.Connection, table: sa.Table) -> None:
    """Drop the capture triggers of ``table``; its rows are untouched."""
    _module(conn.dialect).drop(conn, table)


def json_columns(conn: sa.Connection, table: sa.Table) -> list[str]:
    """Return the columns of ``table`` declared ``JSON`` that reflect as plain text.

    MariaDB makes ``JSON`` a ``LONGTEXT`` with a ``CHECK (json_valid(...))``, which
    SQLAlchemy does not reflect; other databases reflect their JSON types.
    """
    if not getattr(conn.dialect, "is_mariadb", False):
        return []
    rows = conn.execute(
        sa.text(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
            "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :table"
        ),
        {"table": table.name},
    ).all()
    found = []
    for column in table.columns:
        quoted = conn.dialect.identifier_preparer.quote_identifier(column.name)
        if any(check.replace(" ", "").lower() == f"json_valid({quoted})".lower() for _, check in rows):
            found.append(str(column.name))
    return found
