"""The synced tables' shapes, as the sender describes them and the joiner creates or checks them.

A portable description: each column's name, SQLAlchemy generic type (with length,
precision, scale, time zone and the fractional-second digits ``fsp`` of a date-time
or time), whether it is nullable and part of the primary key, the table's unique
constraints (``unique``: column sets) and its other indexes (``indexes``). A joiner on
another database makes the same tables in its own dialect, in types that hold every
value the sender's columns hold: the sender's fractional seconds, its 64-bit integers
(SQLite's INTEGER, MariaDB's unsigned ones), text and bytes of any size. On MariaDB a
key, unique or indexed text column gets a type an index can cover (``VARCHAR``, or a
prefix for a plain index) and a binary collation, so two keys that differ in case or
accent stay two rows there as they are on the others. Unique constraints travel because
they decide which writes sync meets as constraint conflicts: a joiner without them would
accept what every other device refuses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from .._db import driver_message
from ..capture import json_columns
from ..errors import SchemaError

log = logging.getLogger("syncengine")

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
_MARIADB = ("mysql", "mariadb")
KEY_CHARS = 512
"""The longest text key a joiner on MariaDB makes room for: sync tracks no key longer than 512 characters as JSON."""
_INDEX_CHARS = 760
"""Characters of ``utf8mb4`` text one InnoDB index covers (3,072 bytes, four a character, less a margin)."""
_VARCHAR_CHARS = 16_383
"""The longest ``utf8mb4`` VARCHAR MariaDB makes; a longer String becomes LONGTEXT there."""
_DIALECT_NAMES = {"mysql": "MariaDB", "mariadb": "MariaDB", "postgresql": "PostgreSQL", "sqlite": "SQLite"}


def describe_all(conn: sa.Connection, reflected: Iterable[sa.Table]) -> dict[str, dict[str, Any]]:
    """The JSON-ready descriptions of these reflected tables, by name."""
    dialect = conn.dialect.name
    described = {}
    for table in reflected:
        for name in json_columns(conn, table):  # MariaDB's JSON reflects as LONGTEXT: the joiner must know it is JSON
            table.c[name].type = sa.JSON()
        described[table.name] = describe(table, dialect, _sqlite_unique(conn, table.name) if dialect == "sqlite" else ())
    return described


def describe(table: sa.Table, dialect: str, unique: Iterable[Sequence[str]] = ()) -> dict[str, Any]:
    """A JSON-ready description of a table reflected from a ``dialect`` database.

    ``unique`` adds unique column sets reflection misses (SQLite's column ``UNIQUE``).
    """
    columns = [_describe_column(column, dialect) for column in table.columns]
    key = sorted(str(c.name) for c in table.primary_key.columns)
    sets = [sorted(str(c.name) for c in u.columns) for u in table.constraints if isinstance(u, sa.UniqueConstraint)]
    sets += [sorted(cols) for cols in unique]
    plain: list[list[str]] = []
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        cols = _index_columns(index)
        if cols is not None:
            (sets if index.unique else plain).append(sorted(cols) if index.unique else cols)
    uniques = _distinct(s for s in sets if s != key)
    indexes = _distinct(i for i in plain if i not in uniques and i != key)
    return {"columns": columns, "unique": uniques, "indexes": indexes}


def _describe_column(column: sa.Column[Any], dialect: str) -> dict[str, Any]:
    """One column's description: its generic type, widened where the generic one would hold less."""
    try:
        generic = column.type.as_generic()
    except NotImplementedError:
        generic = sa.Text()
    kind = type(generic).__name__
    kind = kind if kind in _TYPES else "Text"
    if kind in ("Integer", "SmallInteger") and (dialect == "sqlite" or getattr(column.type, "unsigned", False)):
        kind = "BigInteger"  # SQLite's integers are 64-bit whatever the declared type; unsigned ones need a wider one
    doc: dict[str, Any] = {
        "name": column.name,
        "type": kind,
        "nullable": bool(column.nullable),
        "primary_key": bool(column.primary_key),
    }
    for attribute in ("length", "precision", "scale", "timezone"):
        value = getattr(generic, attribute, None)
        if value not in (None, False):
            doc[attribute] = value
    if kind in ("DateTime", "Time"):
        doc["fsp"] = _fraction_digits(column.type, dialect)
    elif kind == "Text":
        doc.pop("length", None)  # (a MariaDB ENUM's) a Text's length would only narrow it elsewhere
    return doc


def _fraction_digits(column_type: sa.types.TypeEngine[Any], dialect: str) -> int:
    """Digits of fractional seconds a date-time or time column keeps (MariaDB: as declared; PostgreSQL: 6 unless narrowed)."""
    if dialect in _MARIADB:
        return int(getattr(column_type, "fsp", None) or 0)
    precision = getattr(column_type, "precision", None)
    return 6 if precision is None else min(int(precision), 6)


def _index_columns(index: sa.Index) -> list[str] | None:
    """An index's column names in order; None for one on expressions or a part of the rows, which do not travel."""
    partial = any(key.endswith("_where") and value is not None for key, value in index.dialect_kwargs.items())
    if partial or len(index.expressions) != len(index.columns) or not index.columns:
        return None
    return [str(c.name) for c in index.columns]


def _sqlite_unique(conn: sa.Connection, name: str) -> list[list[str]]:
    """An SQLite table's UNIQUE constraints, written on a column too (which SQLAlchemy's reflection misses)."""
    quote = conn.dialect.identifier_preparer.quote
    sets = []
    for row in conn.exec_driver_sql(f"PRAGMA index_list({quote(name)})").mappings():
        if row["origin"] == "u" and not row["partial"]:
            info = conn.exec_driver_sql(f"PRAGMA index_info({quote(row['name'])})").mappings()
            sets.append([str(r["name"]) for r in info])
    return sets


def _distinct(sets: Iterable[list[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    for s in sets:
        if s and s not in out:
            out.append(s)
    return out


def build(name: str, doc: Mapping[str, Any], metadata: sa.MetaData) -> sa.Table:
    """The table a description describes, in ``metadata``, with its unique constraints and indexes."""
    roles = _roles(doc)
    key_chars = _key_chars(doc)
    columns = [
        sa.Column(
            c["name"],
            _column_type(c, roles.get(c["name"]), key_chars),
            nullable=c["nullable"],
            primary_key=c["primary_key"],
            autoincrement=False,  # the sender's values come as they are; sync refuses auto-incremented keys anyway
        )
        for c in doc["columns"]
    ]
    constraints = [sa.UniqueConstraint(*cols) for cols in doc.get("unique", [])]
    long_text = {c["name"] for c in doc["columns"] if _is_long_text(c)}
    indexes = [
        sa.Index(index_name(name, cols), *cols, mysql_length=_prefixes(cols, long_text))
        for cols in doc.get("indexes", [])
    ]
    return sa.Table(name, metadata, *columns, *constraints, *indexes)


def index_name(table: str, columns: Sequence[str]) -> str:
    """The name a joiner gives an index it makes (short enough for every database, one per table and columns)."""
    name = f"ix_{table}_{'_'.join(columns)}"
    if len(name) <= 60:
        return name
    digest = hashlib.sha256("\0".join([table, *columns]).encode()).hexdigest()[:12]
    return f"ix_{table[:40]}_{digest}"


def _roles(doc: Mapping[str, Any]) -> dict[str, str]:
    """What each indexed column is part of: ``key`` (the primary key), ``unique`` or ``index``."""
    roles = {c: "index" for cols in doc.get("indexes", []) for c in cols}
    roles.update({c: "unique" for cols in doc.get("unique", []) for c in cols})
    roles.update({c["name"]: "key" for c in doc["columns"] if c["primary_key"]})
    return roles


def _key_chars(doc: Mapping[str, Any]) -> int:
    """The characters each text key column gets on MariaDB, so the whole key fits one InnoDB index."""
    texts = sum(1 for c in doc["columns"] if c["primary_key"] and c["type"] in ("String", "Text", "LargeBinary"))
    return min(KEY_CHARS, _INDEX_CHARS // max(texts, 1))


def _column_type(c: Mapping[str, Any], role: str | None, key_chars: int) -> sa.types.TypeEngine[Any]:
    """A described column's type, with the variants that keep every value of it on each database."""
    kind = _TYPES.get(c["type"], sa.Text)
    if kind in (sa.DateTime, sa.Time):
        return _temporal(kind, c)
    args = {k: c[k] for k in ("length", "precision", "scale", "timezone") if k in c}
    try:
        column_type: sa.types.TypeEngine[Any] = kind(**args)
    except TypeError:
        column_type = kind()
    if kind is sa.Uuid:  # a native uuid where there is one; elsewhere its 36-character text, as the engine keeps it
        text = {**c, "type": "String", "length": 36}
        return column_type.with_variant(sa.String(36), "sqlite").with_variant(_mariadb_text(text, role, key_chars), *_MARIADB)
    if kind in (sa.String, sa.Text):
        return column_type.with_variant(_mariadb_text(c, role, key_chars), *_MARIADB)
    if kind is sa.LargeBinary:
        wide = mysql.VARBINARY(key_chars) if role == "key" else mysql.LONGBLOB()
        return column_type.with_variant(wide, *_MARIADB)
    if kind in (sa.Float, sa.Double):
        # a double holds what any float holds; MariaDB's FLOAT holds 4 bytes and wants no precision without a scale
        return column_type.with_variant(mysql.DOUBLE(asdecimal=False), *_MARIADB)
    if kind is sa.Numeric:
        return column_type.with_variant(_mariadb_decimal(c), *_MARIADB)
    return column_type


def _mariadb_decimal(c: Mapping[str, Any]) -> sa.types.TypeEngine[Any]:
    """MariaDB's DECIMAL for a NUMERIC: its own precision, else the widest (alone, DECIMAL is DECIMAL(10, 0))."""
    precision, scale = c.get("precision"), c.get("scale")
    if precision is None:
        return mysql.DECIMAL(65, 30)
    return mysql.DECIMAL(min(int(precision), 65), min(int(scale or 0), 30))


def _temporal(kind: Any, c: Mapping[str, Any]) -> sa.types.TypeEngine[Any]:
    """A date-time or time keeping the sender's fractional seconds (6 digits when it did not say)."""
    fsp, tz = int(c.get("fsp", 6)), bool(c.get("timezone"))
    if kind is sa.DateTime:
        return (
            sa.DateTime(timezone=tz)
            .with_variant(mysql.DATETIME(fsp=fsp), *_MARIADB)
            .with_variant(postgresql.TIMESTAMP(timezone=tz, precision=fsp), "postgresql")
        )
    return (
        sa.Time(timezone=tz)
        .with_variant(mysql.TIME(fsp=fsp), *_MARIADB)
        .with_variant(postgresql.TIME(timezone=tz, precision=fsp), "postgresql")
    )


def _mariadb_text(c: Mapping[str, Any], role: str | None, key_chars: int) -> sa.types.TypeEngine[Any]:
    """A text column on MariaDB: a key's fits an index; an indexed one compares as elsewhere; any other holds any size."""
    length = c.get("length") if c["type"] == "String" else None
    collation = "utf8mb4_bin" if role is not None else None
    if role == "key":
        return mysql.VARCHAR(min(length or key_chars, key_chars), charset="utf8mb4", collation="utf8mb4_bin")
    if length is not None and length <= _VARCHAR_CHARS:
        return mysql.VARCHAR(length, charset="utf8mb4", collation=collation)
    return mysql.LONGTEXT(charset="utf8mb4", collation=collation)


def _is_long_text(c: Mapping[str, Any]) -> bool:
    """Whether a (non-key) column is LONGTEXT or a long VARCHAR on MariaDB, which an index covers by a prefix only."""
    if c["primary_key"] or c["type"] not in ("String", "Text"):
        return False
    return c["type"] == "Text" or (c.get("length") or _VARCHAR_CHARS + 1) > 191


def _prefixes(columns: Sequence[str], long_text: set[str]) -> dict[str, int]:
    """The prefix MariaDB indexes of each long text column, so the index fits (a plain index only speeds reads)."""
    prefix = min(191, _INDEX_CHARS // max(len(columns), 1))
    return {c: prefix for c in columns if c in long_text}


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
    """Create the described tables this database lacks; refuse one that exists and does not fit. Returns those created.

    All or nothing: a table the database refuses to make raises SchemaError naming it
    and the database's reason, after the ones made before it are dropped again
    where the database kept them (MariaDB commits each CREATE TABLE at once).
    """
    made: list[sa.Table] = []
    current = ""
    try:
        with engine.begin() as conn:
            for table in _missing(conn, tables):
                current = table.name
                table.create(conn)
                made.append(table)
    except sa.exc.SQLAlchemyError as exc:
        discard(engine, [t.name for t in made])
        raise SchemaError(_refusal(engine, current, exc), table=current) from exc
    return [t.name for t in made]


def _missing(conn: sa.Connection, tables: Mapping[str, Mapping[str, Any]]) -> list[sa.Table]:
    """The described tables this database lacks, built; SchemaError for one it has that does not fit."""
    present = set(sa.inspect(conn).get_table_names())
    metadata = sa.MetaData()
    missing = []
    for name, doc in tables.items():
        if name in present:
            why = misfit(name, doc, sa.Table(name, sa.MetaData(), autoload_with=conn))
            if why is not None:
                raise SchemaError(f"cannot join: {why}; nothing was written", table=name)
        else:
            missing.append(build(name, doc, metadata))
    return missing


def _refusal(engine: sa.Engine, table: str, exc: sa.exc.SQLAlchemyError) -> str:
    """One sentence: which table this database would not make as the other device has it, and the database's reason."""
    what = _DIALECT_NAMES.get(engine.dialect.name, engine.dialect.name)
    reason = " ".join(driver_message(exc).split()).rstrip(".")  # (MariaDB's text without PyMySQL's code)
    return f"cannot join: this {what} database cannot make table {table!r} as the other device has it: {reason}; nothing was written"


def discard(engine: sa.Engine, names: Sequence[str]) -> None:
    """Drop the tables a join made, newest first, so a join that failed leaves the database as it was.

    Best effort: it runs while another error is on its way, which is the one to tell.
    """
    if not names:
        return
    try:
        with engine.begin() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for name in reversed(names):
                if name in present:
                    sa.Table(name, sa.MetaData()).drop(conn)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("pairing: could not drop the tables this join made (%s): %s", ", ".join(names), exc)
