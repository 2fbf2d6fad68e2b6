"""Column values as JSON, without losing their type.

Entries carry Python values (what SQLAlchemy reads and writes). On their way to the
shared log they become JSON, and JSON has no bytes, decimals, dates or non-finite
floats. Those travel as one-key objects tagged with ``$``::

    bytes            {"$b": "<base64>"}
    Decimal          {"$n": "12.340"}
    datetime         {"$dt": "2024-05-01T10:00:00.123456+02:00"}
    date             {"$d": "2024-05-01"}
    time             {"$t": "10:00:00"}
    timedelta        {"$td": [days, seconds, microseconds]}
    UUID             {"$u": "…"}
    float nan/inf    {"$f": "nan" | "inf" | "-inf"}
    a dict whose only key starts with "$"  {"$esc": {...}}

Everything else (str, int of any size, finite float, bool, None, lists and dicts of
those) is plain JSON. ``encode`` and ``decode`` are exact inverses.

A datetime travels as its device holds it: naive from a column without a time zone
(SQLite, MariaDB, PostgreSQL's ``timestamp``), aware from PostgreSQL's ``timestamptz``.
Where the two kinds meet, **a naive datetime is a UTC wall time**: an aware value
written to a naive column is stored as its UTC wall time, a naive value written to
an aware column is taken as UTC (``syncengine.store`` converts as it writes), and a
naive value and the aware value of the same UTC instant are the same value to
conflict detection and to digests (:func:`utc_wall`). Devices whose columns agree
store what they receive unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from decimal import Decimal
from typing import Any

_PLAIN = (str, int, bool, type(None))
_PYTHON = (float, Decimal, dt.date, dt.time, dt.timedelta, uuid.UUID, bytes)


def encode(value: Any) -> Any:
    """Return a JSON-ready form of ``value`` (see the module docstring)."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool:
        return value
    if kind is dict:  # the common case, a row: plain values pass without a call each
        out = {}
        for key, item in value.items():
            t = type(item)
            if t is str or t is int or item is None or t is bool or (t is float and math.isfinite(item)):
                out[key if type(key) is str else str(key)] = item
            else:
                out[str(key)] = encode(item)
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$esc": out}
        return out
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, dict):
        out = {str(k): encode(v) for k, v in value.items()}
        if len(out) == 1 and next(iter(out)).startswith("$"):
            return {"$esc": out}
        return out
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


_TAGS: dict[str, Any] = {
    "$b": lambda v: base64.b64decode(v),
    "$n": Decimal,
    "$dt": dt.datetime.fromisoformat,
    "$d": dt.date.fromisoformat,
    "$t": dt.time.fromisoformat,
    "$td": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "$u": uuid.UUID,
    "$f": float,
}


def decode(value: Any) -> Any:
    """Invert :func:`encode`; raise ``ValueError`` on a malformed tag."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool or kind is float:
        return value
    if kind is dict and len(value) != 1:  # a row: only nested values need a call
        out = {}
        for key, item in value.items():
            t = type(item)
            out[key] = item if (t is str or t is int or item is None or t is float or t is bool) else decode(item)
        return out
    if isinstance(value, (*_PLAIN, float)):
        return value
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$esc":
                return {k: decode(v) for k, v in inner.items()}
            if key in _TAGS:
                try:
                    return _TAGS[key](inner)
                except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
                    raise ValueError(f"malformed {key} value: {inner!r}") from exc
        return {k: decode(v) for k, v in value.items()}
    raise ValueError(f"not a JSON value: {value!r}")


def accept(value: Any) -> Any:
    """Return a value given in either form as its Python value: JSON forms decoded, Python values kept.

    A person (or a program) may give a value as JSON, as the command line does
    (``{"$n": "23.00"}``, an ISO string for a date), or in its Python form, as
    ``Device.resolve(value=Decimal("23.00"))`` does. Tagged objects are decoded as
    :func:`decode` does; the Python types :func:`encode` knows pass as they are
    (``bytearray`` and ``memoryview`` become ``bytes``); lists and dicts are walked.
    Raise ``ValueError`` on a malformed tag or a value of a type no column holds.
    """
    if value is None or isinstance(value, (*_PLAIN, *_PYTHON)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [accept(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$esc" and isinstance(inner, dict):
                return {k: accept(v) for k, v in inner.items()}
            if key in _TAGS:
                return decode(value)
        return {k: accept(v) for k, v in value.items()}
    raise ValueError(f"a value of type {type(value).__name__} cannot be stored in a column")


def utc_wall(value: dt.datetime) -> dt.datetime:
    """Return the UTC wall time of an aware datetime as a naive datetime; a naive one as it is.

    A naive datetime stands for a UTC wall time (see the module docstring).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)
