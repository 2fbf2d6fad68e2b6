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

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..errors import SchemaError
from . import _mysql, _postgresql, _sqlite
from ._decode import NativeDecoder, decoder_for

__all__ = [
    "NativeDecoder",
    "capture_added",
    "check_syncable",
    "computed_default",
    "decoder_for",
    "follows_new_columns",
    "install",
    "json_columns",
    "shapes",
    "snapshot",
    "snapshot_statement",
    "uninstall",
]

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


def snapshot_statement(conn: sa.Connection, table: sa.Table) -> str:
    """The statement that records every row of ``table`` as a captured insert (the rows are ``r``; add a WHERE)."""
    return str(_module(conn.dialect).snapshot_statement(table, conn.dialect))


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


def shapes(conn: sa.Connection, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What capture depends on in each table, read from the catalog: its columns and its triggers.

    A table's shape is ``{"columns": [[name, type, not null, default, key], …],
    "triggers": digest}`` in JSON types, so it can be stored and compared; the
    digest is of the engine's trigger definitions on the table ("" when it has none).
    A table the database lacks has no columns. One catalog query, whatever the
    number of tables: cheap enough for every sync.
    """
    names = [str(n) for n in names]  # reflected names are quoted_name, which orjson refuses as keys
    if not names:
        return {}
    columns: dict[str, list[list[Any]]] = {}
    triggers: dict[str, list[str]] = {}
    for kind, table, _, name, detail, notnull, default, key in conn.execute(
        _module(conn.dialect).SHAPE_QUERY, {"names": names}
    ):
        if kind == 0:
            columns.setdefault(table, []).append([name, detail, bool(notnull), default, bool(key)])
        else:
            triggers.setdefault(table, []).append(f"{name}\n{detail}")
    out = {}
    for name in names:
        found = sorted(triggers.get(name, []))
        digest = hashlib.sha1("\0".join(found).encode()).hexdigest() if found else ""
        out[name] = {"columns": columns.get(name, []), "triggers": digest}
    return out


def capture_added(conn: sa.Connection, table: sa.Table, added: Sequence[str]) -> int:
    """Record the values written to columns added since ``table``'s triggers were made; return how many rows.

    Until the triggers are made again, writes to a new column go unrecorded. Every
    value such a column holds that is not its default was written since it was
    added, so each row holding one is recorded as a captured update of those
    columns from their defaults. A column whose default is computed (``now()``, a
    sequence) is left out: its values differ from row to row and device to device
    without anyone having written them.
    """
    defaults: dict[str, str | None] = {}
    for name in added:
        default = table.c[name].server_default
        text = None if default is None else str(getattr(default, "arg", default))
        if text is not None and _computed(text):
            continue
        defaults[name] = text
    if not defaults:
        return 0
    result = conn.exec_driver_sql(_module(conn.dialect).added_statement(table, conn.dialect, defaults))
    return int(result.rowcount or 0)


def follows_new_columns(dialect: sa.Dialect) -> bool:
    """Whether the triggers capture columns added after they were made (PostgreSQL's render the whole row)."""
    return bool(getattr(_module(dialect), "FOLLOWS_NEW_COLUMNS", False))


def computed_default(table: sa.Table, name: str) -> bool:
    """Whether column ``name`` of ``table`` has a default computed when a row is made (not one constant)."""
    default = table.c[name].server_default
    return default is not None and _computed(str(getattr(default, "arg", default)))


def _computed(sql: str) -> bool:
    """Whether a default's SQL computes its value (``now()``, ``CURRENT_TIMESTAMP``) instead of naming a constant."""
    rest = re.sub(r"'(?:[^']|'')*'", "", sql)  # string literals
    rest = re.sub(r"::\s*[\w ]+(\[\])?", "", rest)  # PostgreSQL casts: 'x'::character varying
    rest = re.sub(r"[\s()+\-0-9.]", "", rest).lower()
    return rest not in ("", "e", "null", "true", "false")
