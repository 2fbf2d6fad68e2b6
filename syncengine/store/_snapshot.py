"""Snapshot pages: a table's rows with their registers, as pairing sends them, and loading them on the joiner.

A page is one JSON document: the table, its columns, ``registers`` (per row ``[key
text, existence version, alive, explicit field versions (JSON text or null),
tombstone values (JSON text or null)]``, the sender's ``syncengine_rows`` row as it
is) and ``cells`` (the values of each live row, in the order of the live registers,
in column order, in portable form). Both lists are in the shape the drivers bind, so
a joiner binds them as they are decoded, with no Python work per row.

A joiner that knows nothing of the table yet (no register, no row) writes a page as
it comes: the cells into the table and the registers verbatim, two ``executemany``s
(:func:`load_fresh`). Otherwise it merges them as state and tombstone entries
(:func:`entries_of`), which is the same result on an empty table, by the registers'
max (see ``reconcile/_state``), only slower.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import sqlalchemy as sa

from .. import values
from .._codec import loads
from ..model import Entry
from . import _schema as s
from ._catalog import SyncedTable
from ._dialects import executemany, param_marker, strategy
from ._registers import read_rows
from ._restate import _REGISTERS, state_entry


def snapshot_page(
    conn: sa.Connection, synced: SyncedTable, after: str, limit: int
) -> tuple[bytes | None, str | None, int]:
    """Up to ``limit`` rows of a table whose key text sorts after ``after``: the page, its last key text, its row count.

    (None, None, 0) when no row is left.
    """
    columns = list(synced.columns)
    joined = strategy(conn).registers_with_rows(conn, synced, after, limit) if synced.decoder.raw else None
    if joined is not None:  # the table's cells are the values: no conversion, one query
        if not joined:
            return None, None, 0
        reals = [i for i, c in enumerate(columns) if c in synced.floats]
        payload, count = _page_of_cells(synced.name, columns, columns.index(synced.pk_columns[0]), reals, joined)
        return payload, str(joined[-1][0]), count
    select = _REGISTERS.where(s.rows.c.tbl == synced.name, s.rows.c.pk > after).order_by(s.rows.c.pk).limit(limit)
    page = conn.execute(select).all()
    if not page:
        return None, None, 0
    live = read_rows(conn, synced, [tuple(loads(r.pk)) for r in page if r.alive])
    registers: list[tuple[Any, ...]] = []
    cells: list[list[Any]] = []
    encode = values.encode
    for r in page:
        if r.alive:
            found = live.get(r.pk)
            if found is None:
                continue  # live by its registers, gone from the table: nothing to send
            portable = encode(found)
            cells.append([portable.get(c) for c in columns])
        registers.append((r.pk, r.exists_v, r.alive, r.fields, r.dead))
    document = {"table": synced.name, "columns": columns, "registers": registers, "cells": cells}
    return orjson.dumps(document), str(page[-1].pk), len(registers)


def _page_of_cells(table: str, columns: list[str], key: int, reals: list[int], joined: list[Any]) -> tuple[bytes, int]:
    """A page from registers joined to raw cells (text, integers, reals, blobs, NULL), and its row count.

    Only blobs and non-finite reals need their portable tag.
    """
    registers = [r[:5] for r in joined]
    cells: list[Any] = [r[5:] for r in joined if r[2]]
    if None in [c[key] for c in cells]:  # live by its registers, gone from the table: nothing to send
        registers = [r[:5] for r in joined if not r[2] or r[5 + key] is not None]
        cells = [c for c in cells if c[key] is not None]
    for i in reals:  # (a REAL column's cells; other columns hold no reals that JSON cannot write)
        column = [c[i] for c in cells]
        if math.inf in column or -math.inf in column:  # (SQLite holds no NaN)
            cells = [[values.encode(v) if type(v) is float and not math.isfinite(v) else v for v in c] for c in cells]
            break
    document = {"table": table, "columns": columns, "registers": registers, "cells": cells}
    return orjson.dumps(document, default=_tag), len(registers)


def _tag(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return values.encode(bytes(value))
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def read_page(payload: bytes) -> dict[str, Any]:
    """Read a page; ValueError when it is not one."""
    document = orjson.loads(payload)
    if not isinstance(document, dict):
        raise ValueError("not a snapshot page")
    registers, cells, columns = document.get("registers"), document.get("cells"), document.get("columns")
    if not (isinstance(registers, list) and isinstance(cells, list) and isinstance(columns, list)):
        raise ValueError("not a snapshot page")
    try:
        widths = set(map(len, registers)) | {5}, set(map(len, cells)) | {len(columns)}
    except TypeError:
        raise ValueError("a row is not a list") from None
    if widths != ({5}, {len(columns)}):
        raise ValueError("a row of the wrong width")
    if sum(1 for r in registers if r[2]) != len(cells):
        raise ValueError("its live rows and their values do not match")
    document["tagged"] = b'"$' in payload
    if document["tagged"]:  # tagged values (dates, decimals, bytes…): back to Python values
        document["cells"] = [[values.decode(v) for v in row] for row in cells]
    return document


def load_fresh(conn: sa.Connection, synced: SyncedTable, document: dict[str, Any]) -> int:
    """Write a page into a table sync knows nothing of: its rows, and its registers verbatim. Returns the rows."""
    names = [str(c) for c in document["columns"]]
    keep = [i for i, name in enumerate(names) if name in synced.column_set]
    columns = tuple(names[i] for i in keep)
    cells = document["cells"]
    if keep != list(range(len(names))):  # columns this device lacks (they hold NULL: see SyncedTable.problem)
        cells = [[row[i] for i in keep] for row in cells]
    if document.get("tagged"):  # datetimes from a device whose columns hold the other kind: this column's kind
        cells = synced.own_cells(columns, cells)
    if cells:
        if synced.plain:
            quote = conn.dialect.identifier_preparer.quote
            sql = (
                f"INSERT INTO {quote(synced.name)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join([param_marker(conn)] * len(columns))})"
            )
            reals = [i for i, c in enumerate(columns) if c in synced.floats] if document.get("tagged") else []
            # untagged pages hold text, integers, reals and NULL only, which every driver binds as they are
            conn.exec_driver_sql(sql, [_reals(row, reals) for row in cells] if reals else list(map(tuple, cells)))
        else:
            conn.execute(synced.table.insert(), [dict(zip(columns, row, strict=True)) for row in cells])
    registers = document["registers"]
    table = sa.literal(synced.name).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    executemany(
        conn,
        f"INSERT INTO syncengine_rows (pk, exists_v, alive, fields, dead, tbl) VALUES (?, ?, ?, ?, ?, {table})",
        list(map(tuple, registers)),
    )
    return len(registers)


def _reals(row: list[Any], reals: list[int]) -> tuple[Any, ...]:
    """A row for the driver: an integer (or a decimal) bound for a REAL column goes as a float."""
    for i in reals:
        value = row[i]
        if value is not None and type(value) is not float:
            row[i] = float(value)
    return tuple(row)


def entries_of(synced: SyncedTable, device_id: str, document: dict[str, Any]) -> list[Entry]:
    """A page as state and tombstone entries of ``device_id``, to merge into a table that holds rows already."""
    names = [str(c) for c in document["columns"]]
    cells = iter(document["cells"])
    out: list[Entry] = []
    for key, exists, alive, fields, dead in document["registers"]:
        row_values = dict(zip(names, next(cells), strict=True)) if alive else (loads(dead) or {})
        out.append(state_entry(device_id, synced.name, tuple(loads(key)), exists, bool(alive), fields, row_values))
    return out


def is_fresh(conn: sa.Connection, synced: SyncedTable) -> bool:
    """Whether sync knows nothing of this table here: no register and no row."""
    registers = sa.select(s.rows.c.pk).where(s.rows.c.tbl == synced.name).limit(1)
    return conn.execute(registers).first() is None and conn.execute(sa.select(synced.table).limit(1)).first() is None
