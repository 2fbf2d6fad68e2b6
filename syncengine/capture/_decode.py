"""Turn what a trigger wrote into Python values, with the table's column types.

SQLite: the trigger copied the values into the log's value columns, so they are
exactly what the driver would have returned (rows captured by an earlier version
hold JSON, with tags for reals and blobs, undone here), and SQLAlchemy's own
result processors finish the job (dates, booleans, JSON, UUIDs; decimals are
converted here the same way, without SQLAlchemy's warning). PostgreSQL and MariaDB print values as JSON; each
column type has a small parser here.

JSON columns are embedded in the trigger's JSON as JSON (PostgreSQL's
``row_to_json``; MariaDB's ``JSON_OBJECT`` for columns declared ``JSON``, which
MariaDB reports as ``LONGTEXT``), so their value is already parsed: it must not be
parsed again, or the JSON string ``"123"`` would become the number 123.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import processors
from sqlalchemy.sql import sqltypes

Convert = Callable[[Any], Any]


def _sqlite_untag(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2:
        tag, text = value
        if tag == "r":
            return float(text)
        if tag == "b":
            return bytes.fromhex(text)
    return value


def _floats(value: Any) -> Any:
    """Turn the Decimals that ``parse_float=Decimal`` made inside JSON documents back into floats."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _datetime(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def _date(value: Any) -> Any:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _time(value: Any) -> Any:
    return dt.time.fromisoformat(value) if isinstance(value, str) else value


def _binary(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2 and value[0] == "b":
        return bytes.fromhex(value[1])
    if isinstance(value, str) and value.startswith("\\x"):
        return bytes.fromhex(value[2:])
    return value


def _text(value: Any) -> Any:
    # MariaDB embeds a JSON column as JSON though it reports the column as text
    return value if isinstance(value, str) else _floats(value)


def _server_int(text: str) -> Any:
    """Parse a JSON integer; ``-0`` is PostgreSQL's negative zero float, kept as such."""
    return Decimal(text) if text == "-0" else int(text)


def _sqlite_converter(column_type: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Convert | None:
    if (
        isinstance(column_type, sqltypes.Numeric)
        and not isinstance(column_type, sqltypes.Float)
        and column_type.asdecimal
    ):
        # what SQLAlchemy's processor does, minus its warning that SQLite has no decimals
        # (the application sees that warning when it reads the column itself)
        scale = column_type._effective_decimal_return_scale
        to_decimal = processors.to_decimal_processor_factory(Decimal, scale)
        return lambda v: to_decimal(v) if isinstance(v, int | float) else Decimal(v)
    processor: Convert | None = column_type.dialect_impl(dialect).result_processor(dialect, None)
    return processor


def _server_converter(column_type: sa.types.TypeEngine[Any]) -> Convert | None:
    if isinstance(column_type, sqltypes.Boolean):
        return lambda v: bool(v) if v is not None else None
    if isinstance(column_type, sqltypes.DateTime):
        return _datetime
    if isinstance(column_type, sqltypes.Date):
        return _date
    if isinstance(column_type, sqltypes.Time):
        return _time
    if isinstance(column_type, sqltypes.Float):
        return lambda v: float(v) if v is not None else None
    if isinstance(column_type, sqltypes.Numeric):
        if column_type.asdecimal:
            return lambda v: Decimal(v) if isinstance(v, int) else v
        return lambda v: float(v) if v is not None else None
    if isinstance(column_type, sqltypes._Binary):
        return _binary
    if isinstance(column_type, sqltypes.JSON):
        return _floats
    if isinstance(column_type, sqltypes.Uuid):
        if column_type.as_uuid:
            return lambda v: uuid.UUID(v) if isinstance(v, str) else v
        return None
    if isinstance(column_type, sqltypes.Integer):
        return None
    if isinstance(column_type, sqltypes.String):
        return _text
    return _floats


class NativeDecoder:
    """Decodes one table's trigger JSON into dicts and key tuples of Python values."""

    def __init__(self, table: sa.Table, dialect: sa.Dialect, *, captured: Sequence[str] | None = None) -> None:
        """Decode what ``table``'s triggers write; ``captured`` names the columns they copy, when not the table's.

        With ``captured`` (the columns of triggers made before the table changed, in
        their order), rows decode by that layout and keep only the columns the table
        has now.
        """
        self.table = table
        self.pk_columns = [str(c.name) for c in table.primary_key.columns]
        self.columns = [str(c.name) for c in table.columns] if captured is None else list(captured)
        gone = set(self.columns) - {str(c.name) for c in table.columns} if captured is not None else set()
        self._gone = frozenset(gone)
        self._sqlite = dialect.name == "sqlite"
        self._converters: dict[str, Convert] = {}
        for column in table.columns:
            convert = _sqlite_converter(column.type, dialect) if self._sqlite else _server_converter(column.type)
            if convert is not None:
                self._converters[str(column.name)] = convert
        self.raw = self._sqlite and not self._converters
        """On SQLite, whether rows decode to the raw values the driver reads (no column converts them)."""

    def _load(self, text: str) -> Any:
        if self._sqlite:
            return orjson.loads(text)
        return json.loads(text, parse_float=Decimal, parse_int=_server_int)

    def row(self, text: str | None) -> dict[str, Any]:
        """Decode a ``json_object`` of one row."""
        if text is None:
            return {}
        raw: dict[str, Any] = self._load(text)
        if self._sqlite:
            for name, value in raw.items():
                if type(value) is list:  # only tagged reals and blobs are arrays
                    raw[name] = _sqlite_untag(value)
        for name, convert in self._converters.items():
            value = raw.get(name)
            if value is not None:
                raw[name] = convert(value)
        if self._gone:
            for name in self._gone:
                raw.pop(name, None)
        return raw

    def cells(self, cells: Any) -> dict[str, Any]:
        """Decode the values an SQLite trigger copied into the log's value columns (column *i* in ``cells[i]``).

        They are exactly what the driver reads from the table, so the column types'
        result processors finish the job.
        """
        row = dict(zip(self.columns, cells, strict=False))  # a trigger older than a new column copied fewer
        for name, convert in self._converters.items():
            value = row.get(name)
            if value is not None:
                row[name] = convert(value)
        if self._gone:
            for name in self._gone:
                row.pop(name, None)
        return row

    def pk(self, text: str) -> tuple[Any, ...]:
        """Decode a ``json_array`` of the primary-key values."""
        raw = self._load(text)
        out = []
        for name, value in zip(self.pk_columns, raw, strict=True):
            if self._sqlite:
                value = _sqlite_untag(value)
            convert = self._converters.get(name)
            out.append(convert(value) if convert is not None and value is not None else value)
        return tuple(out)


def decoder_for(table: sa.Table, dialect: sa.Dialect, *, captured: Sequence[str] | None = None) -> NativeDecoder:
    """Return the decoder for ``table``'s trigger output on ``dialect`` (see :class:`NativeDecoder`)."""
    return NativeDecoder(table, dialect, captured=captured)
