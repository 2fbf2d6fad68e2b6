"""MariaDB / MySQL capture: three triggers per table.

``JSON_OBJECT`` renders numbers and temporal values exactly; binary columns go
through ``HEX`` (as ``["b", HEX]``, the shape the SQLite triggers use); a
``TIMESTAMP`` column as its UTC wall time, not in the writing session's time zone.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from ._names import bounded

_WALL = "ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)"
_ACTIVE = "(SELECT applying FROM syncengine_control WHERE id = 1) = 0"


def is_autoincrement(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """An ``AUTO_INCREMENT`` column numbers rows by itself."""
    return column.autoincrement is True and isinstance(column.type, sqltypes.Integer)


def _q(dialect: sa.Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _value(column: sa.Column, dialect: sa.Dialect, row: str) -> str:  # type: ignore[type-arg]
    return _cell(column, f"{row}.{_q(dialect, column.name)}")


def _cell(column: sa.Column, ref: str) -> str:  # type: ignore[type-arg]
    if isinstance(column.type, sqltypes._Binary):
        return f"IF({ref} IS NULL, NULL, JSON_ARRAY('b', HEX({ref})))"
    if isinstance(column.type, sqltypes.TIMESTAMP):
        # the writing session's time zone renders a TIMESTAMP; its UTC wall time is the value
        # (see syncengine.values), whatever program wrote it
        return f"IF({ref} IS NULL, NULL, TIMESTAMP'1970-01-01 00:00:00' + INTERVAL UNIX_TIMESTAMP({ref}) SECOND)"
    return ref


def _object(table: sa.Table, dialect: sa.Dialect, row: str, replaced: dict[str, str | None] | None = None) -> str:
    """``JSON_OBJECT`` of a row; ``replaced`` gives SQL for some columns instead of the row's values (None: NULL)."""
    swap = replaced or {}

    def value(column: sa.Column) -> str:  # type: ignore[type-arg]
        if column.name in swap:
            return _cell(column, f"({swap[column.name] or 'NULL'})")
        return _value(column, dialect, row)

    parts = ", ".join(f"{_lit(c.name)}, {value(c)}" for c in table.columns)
    return f"JSON_OBJECT({parts})"


def _pk(table: sa.Table, dialect: sa.Dialect, row: str) -> str:
    parts = ", ".join(_value(c, dialect, row) for c in table.primary_key.columns)
    return f"JSON_ARRAY({parts})"


def _trigger_names(table: sa.Table) -> list[str]:
    return [bounded(f"syncengine_{table.name}_{suffix}", 64) for suffix in ("ins", "upd", "del")]


def drop(conn: sa.Connection, table: sa.Table) -> None:
    """Remove every capture trigger of this table, whatever an engine version named it."""
    found = conn.execute(
        sa.text(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
            "AND EVENT_OBJECT_TABLE = :table AND TRIGGER_NAME LIKE 'syncengine\\_%'"
        ),
        {"table": table.name},
    ).scalars()
    for name in list(found):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(conn.dialect, name)}")


def create_statements(table: sa.Table, dialect: sa.Dialect) -> list[str]:
    """Return the statements that create this table's triggers."""
    name = _lit(table.name)
    target = _q(dialect, table.name)
    ins, upd, dele = (_q(dialect, n) for n in _trigger_names(table))
    log = "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) VALUES"
    # compared as bytes: with a case-insensitive or PAD SPACE collation 'a' <=> 'A '
    # is true, and such an update would go unrecorded
    columns = [_q(dialect, c.name) for c in table.columns]
    changed = " OR ".join(f"NOT (CAST(NEW.{c} AS BINARY) <=> CAST(OLD.{c} AS BINARY))" for c in columns)

    def trigger(trigger_name: str, event: str, guard: str, values: str) -> str:
        return (
            f"CREATE TRIGGER {trigger_name} AFTER {event} ON {target} FOR EACH ROW BEGIN "
            f"IF {guard} THEN {log} ({values}); END IF; END"
        )

    return [
        trigger(
            ins,
            "INSERT",
            _ACTIVE,
            f"{name}, {_pk(table, dialect, 'NEW')}, 'I', {_object(table, dialect, 'NEW')}, NULL, {_WALL}",
        ),
        trigger(
            upd,
            "UPDATE",
            f"{_ACTIVE} AND ({changed})",
            f"{name}, {_pk(table, dialect, 'OLD')}, 'U', {_object(table, dialect, 'NEW')}, {_object(table, dialect, 'OLD')}, {_WALL}",
        ),
        trigger(
            dele,
            "DELETE",
            _ACTIVE,
            f"{name}, {_pk(table, dialect, 'OLD')}, 'D', NULL, {_object(table, dialect, 'OLD')}, {_WALL}",
        ),
    ]


def snapshot_statement(table: sa.Table, dialect: sa.Dialect) -> str:
    """Return the statement that records every existing row as a captured insert."""
    return (
        "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) "
        f"SELECT {_lit(table.name)}, {_pk(table, dialect, 'r')}, 'I', {_object(table, dialect, 'r')}, NULL, {_WALL} "
        f"FROM {_q(dialect, table.name)} AS r"
    )


def added_statement(table: sa.Table, dialect: sa.Dialect, defaults: dict[str, str | None]) -> str:
    """Return the statement that records rows holding a value in columns added since the triggers were made.

    ``defaults`` maps each added column to its default's SQL (None: NULL). A row
    whose added columns hold anything else is recorded as a captured update from
    the defaults to what it holds, as the update trigger would have recorded it.
    """
    # compared as bytes, as the update trigger compares
    differs = " OR ".join(
        f"NOT (CAST(r.{_q(dialect, name)} AS BINARY) <=> CAST(({default or 'NULL'}) AS BINARY))"
        for name, default in defaults.items()
    )
    return (
        "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) "
        f"SELECT {_lit(table.name)}, {_pk(table, dialect, 'r')}, 'U', {_object(table, dialect, 'r')}, "
        f"{_object(table, dialect, 'r', defaults)}, {_WALL} "
        f"FROM {_q(dialect, table.name)} AS r WHERE {differs}"
    )


SHAPE_QUERY = sa.text(
    "SELECT 0, TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE = 'NO', COLUMN_DEFAULT, "
    "COLUMN_KEY = 'PRI' FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :names "
    "UNION ALL SELECT 1, EVENT_OBJECT_TABLE, 0, TRIGGER_NAME, "
    "CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION, '\\n', ACTION_STATEMENT), NULL, NULL, NULL "
    "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN :names "
    "AND TRIGGER_NAME LIKE 'syncengine\\_%' ORDER BY 1, 2, 3"
).bindparams(sa.bindparam("names", expanding=True))
"""What capture depends on in the tables ``names``, one row per column (0) and per trigger of the engine (1).

Rows are (0 or 1, table, position, name, then for a column its type, NOT NULL,
default and whether it is in the key; for a trigger when it fires and what it does).
"""
