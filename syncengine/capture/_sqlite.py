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


def added_statement(table: sa.Table, dialect: sa.Dialect, defaults: dict[str, str | None]) -> str:
    """Return the statement that records rows holding a value in columns added since the triggers were made.

    ``defaults`` maps each added column to its default's SQL (None: NULL). A row
    whose added columns hold anything else is recorded as a captured update from
    the defaults to what it holds, as the update trigger would have recorded it.
    """
    width = len(table.columns)
    olds = ", ".join(
        f"({defaults[c.name] or 'NULL'})" if c.name in defaults else f"r.{_q(dialect, c.name)}" for c in table.columns
    )
    differs = " OR ".join(f"r.{_q(dialect, name)} IS NOT ({default or 'NULL'})" for name, default in defaults.items())
    return (
        f"INSERT INTO syncengine_log (tbl, op, wall, width, {', '.join(new_columns(width))}, "
        f"{', '.join(old_columns(width))}) "
        f"SELECT {_lit(table.name)}, 'U', {_WALL}, {width}, {_values(table, dialect, 'r')}, {olds} "
        f"FROM {_q(dialect, table.name)} AS r WHERE {differs}"
    )


SHAPE_QUERY = sa.text(
    'SELECT 0, m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk '
    "FROM sqlite_master AS m, pragma_table_info(m.name) AS p WHERE m.type = 'table' AND m.name IN :names "
    "UNION ALL SELECT 1, tbl_name, 0, name, sql, NULL, NULL, NULL FROM sqlite_master WHERE type = 'trigger' "
    "AND name LIKE 'syncengine\\_%' ESCAPE '\\' AND tbl_name IN :names ORDER BY 1, 2, 3"
).bindparams(sa.bindparam("names", expanding=True))
"""What capture depends on in the tables ``names``, one row per column (0) and per trigger of the engine (1).

Rows are (0 or 1, table, position, name, then for a column its declared type,
NOT NULL, default and whether it is in the key; for a trigger its definition).
"""
