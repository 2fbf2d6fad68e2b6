"""The synced tables of one device database, with what the engine needs of each.

A :class:`SyncedTable` is the reflected ``sqlalchemy.Table`` plus its trigger
decoder, its key, and a check that a received value fits a column (the reason a
received entry is quarantined when it does not).

Reflection does not give back every column as it was declared, so a few types are
corrected here: MariaDB reports a ``JSON`` column as ``LONGTEXT`` (which ones are
JSON needs a query: :func:`syncengine.capture.json_columns`) and a ``BOOLEAN`` as
``TINYINT(1)``.

Datetimes are written in the kind their column holds (:meth:`SyncedTable.own`): a
naive datetime is a UTC wall time (see :mod:`syncengine.values`), so an aware value
goes to a column without a time zone as its UTC wall time, and a naive value to a
column with one (PostgreSQL's ``timestamptz``) as that UTC instant — never as the
wall time of whatever time zone the session has. A key's text (:func:`pk_key`, what
registers and conflicts are stored under) holds its datetimes as UTC wall times, so a
row has one key text on every device, whatever its column's kind or the session's zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import sqltypes

from .. import values
from ..capture import NativeDecoder, decoder_for
from ..model import PK

Check = Callable[[Any], bool]


def pk_key(pk: Iterable[Any]) -> str:
    """Return the canonical text of a primary key, as stored in ``syncengine_rows``."""
    if type(pk) is tuple:  # text and integer keys need no encoding: the usual case
        if len(pk) == 1:
            kind = type(pk[0])
            if kind is str or kind is int:
                return orjson.dumps(pk).decode()
        elif all(type(v) is str or type(v) is int for v in pk):
            return orjson.dumps(pk).decode()
    # a datetime counts as its UTC wall time (see the module docstring): a key written by a
    # device whose column has a time zone, or by a session in another zone, is the same key;
    # a UUID counts as its text, the same key as a text column's on another database
    return orjson.dumps([values.encode(_key_form(v)) for v in pk]).decode()


def _key_form(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return values.utc_wall(value)
    return str(value) if isinstance(value, uuid.UUID) else value


def datetime_key_texts(value: Any) -> list[str]:
    """The texts an SQLite DATETIME key of this value may be stored as: with microseconds (SQLAlchemy's), milliseconds, none.

    Always three, the first repeated where a shorter one would not be the same instant.
    """
    if not isinstance(value, dt.datetime):
        return [value, value, value]
    whole = value.strftime("%Y-%m-%d %H:%M:%S")
    full = f"{whole}.{value.microsecond:06d}"
    milli = f"{whole}.{value.microsecond // 1000:03d}" if value.microsecond % 1000 == 0 else full
    return [full, milli, whole if value.microsecond == 0 else full]


def _is_mysql_bool(column_type: sa.types.TypeEngine[Any]) -> bool:
    """MySQL and MariaDB store ``BOOLEAN`` as ``TINYINT(1)``."""
    return isinstance(column_type, mysql.TINYINT) and column_type.display_width == 1


def _sub_second_step(column_type: sa.types.TypeEngine[Any]) -> int:
    """Return the microseconds a MySQL/MariaDB temporal column can tell apart (1: all of them)."""
    if isinstance(column_type, mysql.DATETIME | mysql.TIMESTAMP | mysql.TIME):
        return int(10 ** (6 - (column_type.fsp or 0)))
    return 1


def _precision(what: str, step: int) -> str:
    digits = 6 - len(str(step)) + 1
    return f"{what} with at most {digits} digits of fractional seconds" if digits else f"{what} in whole seconds"


def _as_utc_wall(value: Any) -> Any:
    """A value for a column without a time zone: an aware datetime as its UTC wall time."""
    return values.utc_wall(value) if isinstance(value, dt.datetime) else value


def _as_utc_instant(value: Any) -> Any:
    """A value for a column with a time zone: a naive datetime as the UTC instant it stands for."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _readable(value: Any) -> str:
    """A value in a sentence for a person: JSON-like, dates and times in ISO form (not Python's repr)."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, Decimal):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


class _ColumnCheck(NamedTuple):
    """What a value must be to be written to a column: a test, its name, and the types that always pass."""

    test: Check
    expects: str
    fits: tuple[type, ...] = ()  # Python types every value of which passes ``test``: checked by type alone


def _integer_bits(column_type: sa.types.TypeEngine[Any], dialect: str) -> int:
    """How many bits an integer column holds (SQLite's integers are all 64-bit, whatever was declared)."""
    if dialect == "sqlite" or isinstance(column_type, sqltypes.BigInteger):
        return 64
    if isinstance(column_type, mysql.TINYINT):
        return 8
    if isinstance(column_type, sqltypes.SmallInteger):
        return 16
    if isinstance(column_type, mysql.MEDIUMINT):
        return 24
    return 32


def _check_for(column_type: sa.types.TypeEngine[Any], dialect: str) -> _ColumnCheck | None:
    """Return what a value must be to be written to this column type (None: anything)."""
    if isinstance(column_type, sqltypes.Boolean):
        return _ColumnCheck(lambda v: isinstance(v, bool) or v in (0, 1), "a boolean", (bool,))
    if _is_mysql_bool(column_type):
        # a boolean from another database, or any small integer the column holds
        return _ColumnCheck(lambda v: isinstance(v, int), "a boolean or an integer", (int, bool))
    if isinstance(column_type, sqltypes.Integer):
        bits = _integer_bits(column_type, dialect)
        low, high = (
            (0, 2**bits - 1) if getattr(column_type, "unsigned", False) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        )
        return _ColumnCheck(
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"an integer from {low} to {high}",
            (int,),  # received values pass unchecked (the range is checked where a person types one: strict)
        )
    if isinstance(column_type, sqltypes.Numeric):  # Float is a Numeric too
        return _ColumnCheck(
            lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool),
            "a number",
            (int, float, Decimal),
        )
    # temporal values need the test itself: precision, and a datetime is a date too
    step = _sub_second_step(column_type)
    if isinstance(column_type, sqltypes.DateTime):
        if step > 1:  # MariaDB would drop the digits it cannot hold, silently: refuse instead
            return _ColumnCheck(
                lambda v: isinstance(v, dt.datetime) and v.microsecond % step == 0, _precision("a datetime", step)
            )
        return _ColumnCheck(lambda v: isinstance(v, dt.datetime), "a datetime")
    if isinstance(column_type, sqltypes.Date):
        return _ColumnCheck(lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime), "a date")
    if isinstance(column_type, sqltypes.Time):
        if step > 1:
            return _ColumnCheck(
                lambda v: isinstance(v, dt.time) and v.microsecond % step == 0, _precision("a time", step)
            )
        return _ColumnCheck(lambda v: isinstance(v, dt.time), "a time")
    if isinstance(column_type, sqltypes._Binary):
        return _ColumnCheck(lambda v: isinstance(v, bytes | bytearray | memoryview), "bytes", (bytes,))
    if isinstance(column_type, sqltypes.Uuid):
        return _ColumnCheck(lambda v: isinstance(v, uuid.UUID | str), "a UUID")
    if isinstance(column_type, sqltypes.JSON):
        return None
    if isinstance(column_type, sqltypes.String):
        length = column_type.length
        if length:  # a UUID is written as its text (36 characters)
            return _ColumnCheck(
                lambda v: len(v) <= length if isinstance(v, str) else isinstance(v, uuid.UUID) and length >= 36,
                f"text of at most {length} characters",
            )
        return _ColumnCheck(lambda v: isinstance(v, str | uuid.UUID), "text", (str,))
    return None


class SyncedTable:
    """One synced table: its reflected schema and the helpers built from it."""

    def __init__(
        self, table: sa.Table, dialect: sa.Dialect, *, json_columns: Iterable[str] = (), dropped: Iterable[str] = ()
    ) -> None:
        """Wrap a reflected table; ``json_columns`` names the columns that hold JSON but reflect as text.

        ``dropped`` names columns this device removed on purpose: values other devices
        still write to them are left out, not refused (see :meth:`problem`).
        """
        for name in json_columns:
            table.c[name].type = sa.JSON(none_as_null=True)
        for column in table.columns:
            if isinstance(column.type, sqltypes.Float) and column.type.asdecimal:
                # MariaDB's DOUBLE reflects as a Decimal of 10 places: 1e-300 would read as 0
                float_type = column.type.copy()
                float_type.asdecimal = False
                column.type = float_type
            if isinstance(column.type, sqltypes.Uuid) and column.type.as_uuid:
                # a UUID is its text inside the engine: the same value as a text column's on another database
                text_type = column.type.copy()
                text_type.as_uuid = False
                column.type = text_type
            if isinstance(column.type, sqltypes.JSON) and not column.type.none_as_null:
                # a received None is SQL NULL, not the JSON text 'null' (a copy keeps JSON or JSONB)
                json_type = column.type.copy()
                json_type.none_as_null = True
                column.type = json_type
        self.table = table
        # str(): reflected names are SQLAlchemy's quoted_name, which orjson refuses as keys
        self.name = str(table.name)
        self.dialect_name = dialect.name
        self.pk_columns: tuple[str, ...] = tuple(str(c.name) for c in table.primary_key.columns)
        self.columns: tuple[str, ...] = tuple(str(c.name) for c in table.columns)
        self._checks: dict[str, _ColumnCheck] = {}
        self._fits: dict[str, tuple[type, ...]] = {}
        self._required: set[str] = set()
        self.instants: dict[str, Callable[[Any], Any]] = {}
        """The datetime columns, each with what turns a datetime of either kind into the column's own."""
        for column in table.columns:
            if isinstance(column.type, sqltypes.DateTime):
                self.instants[str(column.name)] = _as_utc_instant if column.type.timezone else _as_utc_wall
            check = _check_for(column.type, dialect.name)
            if dialect.name == "sqlite" and isinstance(column.type, sqltypes.String) and not column.type.length:
                # SQLite stores a blob in a text column as it is given: the device that wrote one holds
                # it so, and so must every SQLite copy (a declared length stays a limit: see problem())
                check = _ColumnCheck(lambda v: isinstance(v, str | bytes | uuid.UUID), "text", (str, bytes))
            if check is not None:
                self._checks[str(column.name)] = check
                if check.fits:
                    self._fits[str(column.name)] = check.fits
            if not column.nullable:
                self._required.add(str(column.name))
            if _is_mysql_bool(column.type):
                # read it as the boolean it stands for, so True here equals True elsewhere
                # (1 and True are different values to conflict detection)
                column.type = sa.Boolean(create_constraint=False)
        self._uuid_texts = frozenset(
            str(c.name) for c in table.columns if isinstance(c.type, sqltypes.String | sqltypes.Uuid)
        )
        """The columns that keep a UUID as its text (a UUID object received is written as its text)."""
        self.uuid_key = any(isinstance(table.c[c].type, sqltypes.Uuid) for c in self.pk_columns)
        """Whether a key column is a native uuid (its key texts changed form once: see _drift)."""
        converts = tuple(self.instants.get(c) for c in self.pk_columns)
        self._key_instants = converts if any(converts) else ()
        self.zoned_key = _as_utc_instant in converts
        self.text_datetime_key = (
            dialect.name == "sqlite"
            and len(self.pk_columns) == 1
            and isinstance(table.c[self.pk_columns[0]].type, sqltypes.DateTime)
        )
        """SQLite keeps a DATETIME key as the text it was given: other programs write it without (all) microseconds."""
        """Whether a key column holds datetimes with a time zone (their key texts changed form once: see _drift)."""
        self.timestamps = dialect.name in ("mysql", "mariadb") and any(
            isinstance(c.type, sqltypes.TIMESTAMP) for c in table.columns
        )
        """Whether this is a MariaDB table with a ``TIMESTAMP`` column (its triggers changed form once: see _drift)."""
        self.decoder: NativeDecoder = decoder_for(table, dialect)
        self.column_set = frozenset(self.columns)
        self.dropped = frozenset(dropped) - self.column_set
        self.parents = frozenset(_referenced_table(fk) for fk in table.foreign_keys)
        """The tables this one's foreign keys point to (itself, when it holds a tree)."""
        self._required_without_default = tuple(
            name
            for name in self._required
            if table.columns[name].server_default is None and table.columns[name].default is None
        )
        # Writes can skip SQLAlchemy's per-row parameter handling when no column converts its
        # values but to float (which ``driver_value`` does the same way).
        self.floats = frozenset(str(c.name) for c in table.columns if isinstance(c.type, sqltypes.Float))
        self._float_positions: dict[tuple[str, ...], tuple[int, ...]] = {}
        key = table.c[self.pk_columns[0]]
        # a single key column that binds as it is, with text or integer values: keys can travel as JSON
        self.plain_key = (
            len(self.pk_columns) == 1
            and isinstance(key.type, sqltypes.String | sqltypes.Integer)
            and key.type.dialect_impl(dialect).bind_processor(dialect) is None
        )
        self.plain = all(
            str(c.name) in self.floats or c.type.dialect_impl(dialect).bind_processor(dialect) is None
            for c in table.columns
        )

    def problem(self, data: Mapping[str, Any], *, whole_row: bool, strict: bool = False) -> str | None:
        """Return why ``data`` cannot be written to this table, or None when it can.

        ``strict`` checks every value in full (a value a person typed), not only its type
        where the type is the column's usual one (received entries, by the thousand).
        """
        known = self.column_set
        checks = self._checks
        fits = {} if strict else self._fits
        for name, value in data.items():
            if type(value) in fits.get(name, ()):
                continue  # the usual case: a value of the column's own Python type
            if name not in known:
                if value is None or name in self.dropped:
                    continue  # nothing to lose: a column this device lacks holding NULL, or one it removed
                return f"unknown column {name!r} in table {self.name!r}"
            if value is None:
                if name in self._required:
                    return f"NULL in NOT NULL column {self.name}.{name}"
                continue
            check = checks.get(name)
            if check is not None and not check.test(value):
                return f"value {_readable(value)} does not fit column {self.name}.{name} (expects {check.expects})"
        if whole_row:
            for name in self._required_without_default:
                if name not in data:
                    return f"missing value for NOT NULL column {self.name}.{name}"
        return None

    def own(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """``values`` as this table stores them: without the columns it lacks, datetimes of each column's kind.

        Columns this table lacks hold NULL (see :meth:`problem`). A datetime of the
        other kind than its column's is converted (see the module docstring); any
        other value, and a datetime of the column's own kind, is kept as it is.
        """
        if not values.keys() <= self.column_set:
            values = {c: v for c, v in values.items() if c in self.column_set}
        if self._uuid_texts and uuid.UUID in map(type, values.values()):
            texts = self._uuid_texts
            values = {c: str(v) if type(v) is uuid.UUID and c in texts else v for c, v in values.items()}
        if not self.instants:
            return values
        converted = {}
        for name, convert in self.instants.items():
            value = values.get(name)
            if value is not None:
                kept = convert(value)
                if kept is not value:
                    converted[name] = kept
        return {**values, **converted} if converted else values

    def own_cells(self, columns: Sequence[str], cells: list[list[Any]]) -> list[list[Any]]:
        """Rows of ``columns`` (cells in that order, columns this table has), as :meth:`own` gives values: in place."""
        converts = [(i, self.instants[c]) for i, c in enumerate(columns) if c in self.instants]
        for row in cells if converts else ():
            for i, convert in converts:
                if row[i] is not None:
                    row[i] = convert(row[i])
        return cells

    def driver_row(self, row: Mapping[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
        """Return the values of ``columns`` as the driver takes them (for a ``plain`` table)."""
        values = tuple(map(row.__getitem__, columns))
        positions = self._float_positions.get(columns)
        if positions is None:
            positions = self._float_positions[columns] = tuple(i for i, c in enumerate(columns) if c in self.floats)
        for i in positions:
            if values[i] is not None and type(values[i]) is not float:
                break
        else:
            return values
        out = list(values)
        for i in positions:
            if out[i] is not None:
                out[i] = float(out[i])  # an integer (or Decimal) from elsewhere, into a REAL column
        return tuple(out)

    def own_key(self, pk: PK) -> PK:
        """``pk`` as this table stores it: datetimes of each key column's kind, UUIDs as text (as :meth:`own` converts values)."""
        if uuid.UUID in map(type, pk):
            pk = tuple(str(v) if type(v) is uuid.UUID else v for v in pk)
        if not self._key_instants:
            return pk
        return tuple(
            v if convert is None or v is None else convert(v) for v, convert in zip(pk, self._key_instants, strict=True)
        )

    def pk_of(self, row: dict[str, Any]) -> PK:
        """Return the primary key of a row given as a dict."""
        if len(self.pk_columns) == 1:
            return (row[self.pk_columns[0]],)
        return tuple(row[c] for c in self.pk_columns)


def _referenced_table(fk: sa.ForeignKey) -> str:
    """The name of the table a foreign key points to, reflected or not."""
    try:
        return str(fk.column.table.name)
    except (sa.exc.NoReferencedTableError, sa.exc.NoReferencedColumnError):
        return fk.target_fullname.rsplit(".", 2)[-2]
