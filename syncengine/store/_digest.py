"""Computing a device's digest (see :mod:`syncengine.core._digest`) from its synced tables.

Rows are read in pages of :data:`_PAGE` as Python values and written in their
portable JSON form, so memory stays bounded on tables of millions of rows. In that
form an aware datetime is its UTC wall time, naive (see :mod:`syncengine.values`):
a ``timestamptz`` device and an SQLite or MariaDB device holding the same instants
agree, whatever time zone a session shows them in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from .. import values
from ..core import TableDigest, bucket_of
from ..model import PK
from ._catalog import SyncedTable, pk_key

_PAGE = 5000


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS


def _portable(value: Any) -> Any:
    """The portable form of a value orjson does not write as :mod:`syncengine.values` would (dates, decimals, bytes)."""
    if isinstance(value, dt.datetime):
        value = values.utc_wall(value)
    return values.encode(value)


def _key_text(synced: SyncedTable) -> Callable[[PK], str]:
    """How a row's key counts in the digest: its key text, datetimes in it as UTC wall times."""
    timed = [i for i, c in enumerate(synced.pk_columns) if c in synced.instants]
    if not timed:
        return pk_key

    def text(pk: PK) -> str:
        return pk_key(tuple(_portable_key(v) if i in timed else v for i, v in enumerate(pk)))

    return text


def _portable_key(value: Any) -> Any:
    return values.utc_wall(value) if isinstance(value, dt.datetime) else value


def row_text(present: Mapping[str, Any]) -> bytes:
    """A row's values (its non-NULL columns) as the sorted portable JSON its hash is made of."""
    return orjson.dumps(present, default=_portable, option=_OPTIONS)


def digest(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> dict[str, TableDigest]:
    """The digest of every synced table, as the tables hold their rows now.

    A NULL counts as no value, so a device that lacks a column everyone leaves
    empty holds the same rows as one that has it.
    """
    out: dict[str, TableDigest] = {}
    for name, synced in catalog.items():
        table = out[name] = TableDigest()
        names = sorted(synced.columns)
        keyed = [names.index(c) for c in synced.pk_columns]
        key_text = _key_text(synced)
        columns = [synced.table.c[c] for c in names]
        result = conn.execute(sa.select(*columns), execution_options={"yield_per": _PAGE})
        text, add = row_text, table.add
        for part in result.partitions():
            for row in part:
                key = key_text(tuple(row[i] for i in keyed))
                add(key, text({n: v for n, v in zip(names, row, strict=True) if v is not None}))
    return out


def keys_in(conn: sa.Connection, synced: SyncedTable, buckets: set[int]) -> list[PK]:
    """The keys of the table's rows that fall in ``buckets``, in key order."""
    columns = [synced.table.c[c] for c in synced.pk_columns]
    found: list[PK] = []
    key_text = _key_text(synced)
    result = conn.execute(sa.select(*columns).order_by(*columns), execution_options={"yield_per": _PAGE})
    for part in result.partitions():
        found += [tuple(row) for row in part if bucket_of(key_text(tuple(row))) in buckets]
    return found
