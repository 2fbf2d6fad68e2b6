"""The synced tables' shapes, as the sender describes them and the joiner creates or checks them.

A portable description: each column's name, SQLAlchemy generic type (with length,
precision, scale or time zone), whether it is nullable and part of the primary key,
and the table's unique constraints. A joiner on another database makes the same
tables in its own dialect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ..errors import SchemaError

_TYPES: dict[str, Any] = {
    "String": sa.String,
    "Text": sa.Text,
    "Integer": sa.Integer,
    "BigInteger": sa.BigInteger,
    "SmallInteger": sa.SmallInteger,
    "Float": sa.Float,
    "Double": sa.Double,
    "Numeric": sa.Numeric,
    "Boolean": sa.Boolean,
    "Date": sa.Date,
    "DateTime": sa.DateTime,
    "Time": sa.Time,
    "Interval": sa.Interval,
    "LargeBinary": sa.LargeBinary,
    "JSON": sa.JSON,
    "Uuid": sa.Uuid,
}


def describe(table: sa.Table) -> dict[str, Any]:
    """A JSON-ready description of a reflected table."""
    columns = []
    for column in table.columns:
        try:
            generic = column.type.as_generic()
        except NotImplementedError:
            generic = sa.Text()
        kind = type(generic).__name__
        column_doc: dict[str, Any] = {
            "name": column.name,
            "type": kind if kind in _TYPES else "Text",
            "nullable": bool(column.nullable),
            "primary_key": bool(column.primary_key),
        }
        for attribute in ("length", "precision", "scale", "timezone"):
            value = getattr(generic, attribute, None)
            if value not in (None, False):
                column_doc[attribute] = value
        columns.append(column_doc)
    unique = [
        sorted(str(c.name) for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, sa.UniqueConstraint)
    ]
    return {"columns": columns, "unique": unique}


def build(name: str, doc: Mapping[str, Any], metadata: sa.MetaData) -> sa.Table:
    """The table a description describes, in ``metadata``."""
    columns = []
    for c in doc["columns"]:
        kind = _TYPES.get(c["type"], sa.Text)
        args = {k: c[k] for k in ("length", "precision", "scale", "timezone") if k in c}
        try:
            column_type = kind(**args)
        except TypeError:
            column_type = kind()
        if kind is sa.Float and "precision" not in args:
            # a float of unstated precision is a double everywhere but in MariaDB's FLOAT, which holds 4 bytes
            column_type = column_type.with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")
        columns.append(sa.Column(c["name"], column_type, nullable=c["nullable"], primary_key=c["primary_key"]))
    constraints = [sa.UniqueConstraint(*cols) for cols in doc.get("unique", [])]
    return sa.Table(name, metadata, *columns, *constraints)


def misfit(name: str, doc: Mapping[str, Any], existing: sa.Table) -> str | None:
    """Why an existing table cannot receive the described one's rows, or None when it can."""
    theirs = {c["name"]: c for c in doc["columns"]}
    mine = {c.name: c for c in existing.columns}
    missing = [n for n in theirs if n not in mine]
    if missing:
        return f"table {name!r} here lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    their_key = [c["name"] for c in doc["columns"] if c["primary_key"]]
    my_key = [c.name for c in existing.primary_key.columns]
    if sorted(their_key) != sorted(my_key):
        return f"table {name!r} here has the primary key {my_key}, the other device's has {their_key}"
    required = [n for n, c in mine.items() if n not in theirs and not c.nullable and c.server_default is None]
    if required:
        return f"table {name!r} here has NOT NULL column{'s' if len(required) > 1 else ''} the other device lacks: {', '.join(required)}"
    return None


def check_or_create(engine: sa.Engine, tables: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Create the described tables this database lacks; refuse one that exists and does not fit. Returns those created."""
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        present = set(inspector.get_table_names())
        metadata = sa.MetaData()
        made = []
        for name, doc in tables.items():
            if name in present:
                why = misfit(name, doc, sa.Table(name, sa.MetaData(), autoload_with=conn))
                if why is not None:
                    raise SchemaError(f"cannot join: {why}; nothing was written", table=name)
            else:
                build(name, doc, metadata)
                made.append(name)
        metadata.create_all(conn)
    return made
