"""Computing a device's digest (see :mod:`syncengine.core._digest`) from its synced tables.

Rows are read in pages of :data:`_PAGE` as Python values and written in their
portable JSON form, so memory stays bounded on tables of millions of rows.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    return values.encode(value)


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
        columns = [synced.table.c[c] for c in names]
        result = conn.execute(sa.select(*columns), execution_options={"yield_per": _PAGE})
        dumps, add = orjson.dumps, table.add
        for part in result.partitions():
            for row in part:
                key = pk_key(tuple(row[i] for i in keyed))
                present = {n: v for n, v in zip(names, row, strict=True) if v is not None}
                add(key, dumps(present, default=_portable, option=_OPTIONS))
    return out


def keys_in(conn: sa.Connection, synced: SyncedTable, buckets: set[int]) -> list[PK]:
    """The keys of the table's rows that fall in ``buckets``, in key order."""
    columns = [synced.table.c[c] for c in synced.pk_columns]
    found: list[PK] = []
    result = conn.execute(sa.select(*columns).order_by(*columns), execution_options={"yield_per": _PAGE})
    for part in result.partitions():
        found += [tuple(row) for row in part if bucket_of(pk_key(tuple(row))) in buckets]
    return found
