"""SQLite capture triggers.

SQLite's JSON prints reals with 15 digits and refuses blobs, so every column goes
through ``CASE typeof(...)``: reals become ``["r", "%!.17g text"]`` (exact), blobs
``["b", "HEX"]``. A plain column value is never a JSON array, so the tags are safe. The trigger reads ``julianday('now')`` for the write's wall time.
"""

from __future__ import annotations

import sqlalchemy as sa

_WALL = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
_ACTIVE = "(SELECT applying FROM syncengine_control WHERE id = 1) = 0"


def is_autoincrement(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """An ``INTEGER PRIMARY KEY`` is SQLite's rowid: it numbers rows by itself."""
    return str(column.type).upper() == "INTEGER" or bool(column.autoincrement is True)


def _q(dialect: sa.Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_affinity(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """SQLite's rule: a declared type containing CHAR, CLOB or TEXT stores reals as text."""
    declared = str(column.type).upper()
    return any(word in declared for word in ("CHAR", "CLOB", "TEXT")) and "INT" not in declared


def _value(row: str, column: sa.Column, dialect: sa.Dialect) -> str:  # type: ignore[type-arg]
    ref = f"{row}.{_q(dialect, column.name)}"
    blob = f"json_array('b', hex({ref}))"
    if _text_affinity(column):  # no real can be stored here; a blob still can
        return f"CASE WHEN typeof({ref}) = 'blob' THEN {blob} ELSE {ref} END"
    return (
        f"CASE typeof({ref}) WHEN 'real' THEN json_array('r', printf('%!.17g', {ref})) "
        f"WHEN 'blob' THEN {blob} ELSE {ref} END"
    )


def _object(table: sa.Table, dialect: sa.Dialect, row: str) -> str:
    parts = ", ".join(f"{_lit(c.name)}, {_value(row, c, dialect)}" for c in table.columns)
    return f"json_object({parts})"


def _pk(table: sa.Table, dialect: sa.Dialect, row: str) -> str:
    parts = ", ".join(_value(row, c, dialect) for c in table.primary_key.columns)
    return f"json_array({parts})"


def _trigger_names(table: sa.Table) -> list[str]:
    return [f"syncengine_{table.name}_{suffix}" for suffix in ("ins", "upd", "del")]


def drop_statements(table: sa.Table, dialect: sa.Dialect) -> list[str]:
    """Return the statements that remove this table's triggers."""
    return [f"DROP TRIGGER IF EXISTS {_q(dialect, name)}" for name in _trigger_names(table)]


def create_statements(table: sa.Table, dialect: sa.Dialect) -> list[str]:
    """Return the statements that create this table's triggers."""
    name = _lit(table.name)
    target = _q(dialect, table.name)
    ins, upd, dele = (_q(dialect, n) for n in _trigger_names(table))
    log = "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall)"
    return [
        f"CREATE TRIGGER {ins} AFTER INSERT ON {target} WHEN {_ACTIVE} BEGIN "
        f"{log} VALUES ({name}, {_pk(table, dialect, 'NEW')}, 'I', {_object(table, dialect, 'NEW')}, NULL, {_WALL}); END",
        f"CREATE TRIGGER {upd} AFTER UPDATE ON {target} WHEN {_ACTIVE} BEGIN "
        f"{log} VALUES ({name}, {_pk(table, dialect, 'OLD')}, 'U', {_object(table, dialect, 'NEW')}, "
        f"{_object(table, dialect, 'OLD')}, {_WALL}); END",
        f"CREATE TRIGGER {dele} AFTER DELETE ON {target} WHEN {_ACTIVE} BEGIN "
        f"{log} VALUES ({name}, {_pk(table, dialect, 'OLD')}, 'D', NULL, {_object(table, dialect, 'OLD')}, {_WALL}); END",
    ]


def snapshot_statement(table: sa.Table, dialect: sa.Dialect) -> str:
    """Return the statement that records every existing row as a captured insert."""
    return (
        "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) "
        f"SELECT {_lit(table.name)}, {_pk(table, dialect, 'r')}, 'I', {_object(table, dialect, 'r')}, NULL, {_WALL} "
        f"FROM {_q(dialect, table.name)} AS r"
    )
