"""SQLite capture triggers.

A trigger copies the row's values, as they are, into value columns of the log row
it appends: ``n0``, ``n1``, … the new values, ``o0``, ``o1``, … the old ones,
column *i* of the table in ``n{i}``/``o{i}``, and ``width`` the number of columns
it copied. The value columns are declared without a type, so SQLite keeps every
value exactly as it was stored (a real stays a real, a blob a blob) and the
trigger does no work but copying: building JSON in the trigger (with a
``CASE typeof`` per column to keep reals and blobs exact) cost a write more than
the row itself. The log gets as many value columns as the widest synced table
needs when a table is installed. Stamping reads them back with the table's column
types (:mod:`._decode`). The trigger reads ``julianday('now')`` for the write's
wall time.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..errors import SchemaError

_WALL = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
_ACTIVE = "(SELECT applying FROM syncengine_control WHERE id = 1) = 0"


def is_autoincrement(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """An ``INTEGER PRIMARY KEY`` is SQLite's rowid: it numbers rows by itself."""
    return str(column.type).upper() == "INTEGER" or bool(column.autoincrement is True)


def _q(dialect: sa.Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def new_columns(width: int) -> list[str]:
    """The log's columns that hold a captured row's new values."""
    return [f"n{i}" for i in range(width)]


def old_columns(width: int) -> list[str]:
    """The log's columns that hold a captured row's old values."""
    return [f"o{i}" for i in range(width)]


# SQLite allows 2,000 columns a table; the log has 17 of its own and two per synced column
MAX_WIDTH = 990


def prepare(conn: sa.Connection, table: sa.Table) -> None:
    """Give the log enough value columns for ``table`` (they have no type: SQLite keeps values as they are)."""
    width = len(table.columns)
    if width > MAX_WIDTH:
        raise SchemaError(
            f"table {table.name!r} has {width} columns; sync on SQLite captures tables of at most {MAX_WIDTH}",
            table=table.name,
        )
    have = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(syncengine_log)")}
    for name in ["width", *new_columns(width), *old_columns(width)]:
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE syncengine_log ADD COLUMN {name}")


def _values(table: sa.Table, dialect: sa.Dialect, row: str) -> str:
    return ", ".join(f"{row}.{_q(dialect, c.name)}" for c in table.columns)


def _trigger_names(table: sa.Table) -> list[str]:
    return [f"syncengine_{table.name}_{suffix}" for suffix in ("ins", "upd", "del")]


def drop(conn: sa.Connection, table: sa.Table) -> None:
    """Remove this table's capture triggers."""
    for name in _trigger_names(table):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(conn.dialect, name)}")


def create_statements(table: sa.Table, dialect: sa.Dialect) -> list[str]:
    """Return the statements that create this table's triggers."""
    name = _lit(table.name)
    target = _q(dialect, table.name)
    ins, upd, dele = (_q(dialect, n) for n in _trigger_names(table))
    width = len(table.columns)
    new, old = ", ".join(new_columns(width)), ", ".join(old_columns(width))
    head = "INSERT INTO syncengine_log (tbl, op, wall, width"
    return [
        f"CREATE TRIGGER {ins} AFTER INSERT ON {target} WHEN {_ACTIVE} BEGIN "
        f"{head}, {new}) VALUES ({name}, 'I', {_WALL}, {width}, {_values(table, dialect, 'NEW')}); END",
        f"CREATE TRIGGER {upd} AFTER UPDATE ON {target} WHEN {_ACTIVE} BEGIN "
        f"{head}, {new}, {old}) VALUES ({name}, 'U', {_WALL}, {width}, "
        f"{_values(table, dialect, 'NEW')}, {_values(table, dialect, 'OLD')}); END",
        f"CREATE TRIGGER {dele} AFTER DELETE ON {target} WHEN {_ACTIVE} BEGIN "
        f"{head}, {old}) VALUES ({name}, 'D', {_WALL}, {width}, {_values(table, dialect, 'OLD')}); END",
    ]


def snapshot_statement(table: sa.Table, dialect: sa.Dialect) -> str:
    """Return the statement that records every existing row as a captured insert."""
    width = len(table.columns)
    return (
        f"INSERT INTO syncengine_log (tbl, op, wall, width, {', '.join(new_columns(width))}) "
        f"SELECT {_lit(table.name)}, 'I', {_WALL}, {width}, {_values(table, dialect, 'r')} "
        f"FROM {_q(dialect, table.name)} AS r"
    )
