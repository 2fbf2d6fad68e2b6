"""Restating rows: each synced row's registers as a state or tombstone entry, ready to share.

Used when a device meets a shared log it has not shared with: what it shared before
is not there, so it shares its whole state, each row with the versions it already
has (see :mod:`syncengine.core._meet`). A device that holds a newer write keeps it,
one that lacks the row takes it, and nothing becomes a conflict (see
:mod:`syncengine.reconcile._state`).

Functions take a connection inside the caller's transaction (see :class:`._device.Tx`),
which must have stamped every captured write first: then the registers describe
every value the tables hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .. import capture
from .._codec import loads
from ..model import PK, ROW, Entry, Op
from . import _schema as s
from ._catalog import SyncedTable, pk_key
from ._client import add_locals
from ._dialects import param_marker
from ._registers import load_registers, read_rows

_PAGE = 2000  # rows restated per round trip: memory stays bounded on tables of millions of rows


def restate(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    keys: Mapping[str, Sequence[PK]] | None = None,
) -> int:
    """Add a state entry for every live synced row and a tombstone entry for every deleted one; return how many.

    With ``keys``, only those rows (by table). A row the registers call live but the
    table no longer holds (removed while its writes were not captured) is left out:
    there is no value to restate.
    """
    total = 0
    for name, synced in catalog.items():
        if keys is not None and name not in keys:
            continue
        if keys is not None:
            wanted = sorted({pk_key(pk) for pk in keys[name]})
            for start in range(0, len(wanted), _PAGE):
                part = wanted[start : start + _PAGE]
                select = _REGISTERS.where(s.rows.c.tbl == name, s.rows.c.pk.in_(part))
                entries = _entries(conn, synced, device_id, conn.execute(select).all())
                add_locals(conn, entries)
                total += len(entries)
            continue
        after = ""
        while True:
            entries, last = state_page(conn, synced, device_id, after, _PAGE)
            if last is None:
                break
            add_locals(conn, entries)
            total += len(entries)
            after = last
    return total


_REGISTERS = sa.select(s.rows.c.pk, s.rows.c.exists_v, s.rows.c.alive, s.rows.c.fields, s.rows.c.dead)


def state_page(
    conn: sa.Connection, synced: SyncedTable, device_id: str, after: str, limit: int
) -> tuple[list[Entry], str | None]:
    """The state or tombstone entries of up to ``limit`` rows of a table whose key text sorts after ``after``.

    Returns them and the last key text read (None when no row is left), from which
    the next page starts: a transfer can stop and resume between pages.
    """
    select = _REGISTERS.where(s.rows.c.tbl == synced.name, s.rows.c.pk > after).order_by(s.rows.c.pk).limit(limit)
    page = conn.execute(select).all()
    if not page:
        return [], None
    return _entries(conn, synced, device_id, page), str(page[-1].pk)


def registers_count(conn: sa.Connection, table: str) -> int:
    """How many rows of a table sync knows (live or deleted): the entries a full state of it takes."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(s.rows).where(s.rows.c.tbl == table)).scalar_one())


def _entries(conn: sa.Connection, synced: SyncedTable, device_id: str, page: Sequence[Any]) -> list[Entry]:
    by_text: dict[str, PK] = {row.pk: tuple(loads(row.pk)) for row in page}
    live = read_rows(conn, synced, [by_text[row.pk] for row in page if row.alive])
    entries = []
    for row in page:
        values = live.get(row.pk) if row.alive else (loads(row.dead) or {})
        if values is None:
            continue
        entries.append(_entry(device_id, synced, by_text[row.pk], row, values))
    return entries


def capture_missing(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> int:
    """Record rows the tables hold but sync never saw created (written while capture was off) as captured inserts.

    They are stamped and shared like any insert. Returns how many.
    """
    total = 0
    for synced in catalog.values():
        columns = [synced.table.c[c] for c in synced.pk_columns]
        marker = param_marker(conn)
        where = " AND ".join(f"r.{conn.dialect.identifier_preparer.quote(c)} = {marker}" for c in synced.pk_columns)
        statement = f"{capture.snapshot_statement(conn, synced.table)} WHERE {where}"
        result = conn.execute(sa.select(*columns).order_by(*columns), execution_options={"yield_per": _PAGE})
        for part in result.partitions():
            pks = {pk_key(tuple(row)): tuple(row) for row in part}
            known = load_registers(conn, synced, pks)
            # and rows whose creation sync never saw, only a later change (a table adopted with no snapshot)
            missing = [pk for text, pk in pks.items() if text not in known or not known[text].exists]
            if missing:
                conn.exec_driver_sql(statement, missing)
                total += len(missing)
    return total


def _entry(device_id: str, synced: SyncedTable, pk: tuple[Any, ...], row: Any, values: dict[str, Any]) -> Entry:
    return state_entry(device_id, synced.name, pk, row.exists_v, bool(row.alive), row.fields, values)


def state_entry(
    device_id: str,
    table: str,
    pk: tuple[Any, ...],
    exists: str,
    alive: bool,
    fields: str | None,
    values: dict[str, Any],
) -> Entry:
    """A row's registers (existence version, explicit field versions as stored) and values as one entry."""
    explicit = orjson.loads(fields) if fields else {}
    base = {column: explicit.get(column, exists) for column in values}
    if exists:
        base[ROW] = exists
    base = {k: v for k, v in base.items() if v}  # a register never written has no version to restate
    data = {column: value for column, value in values.items() if column in base}
    op = Op.STATE if alive else Op.TOMBSTONE
    return Entry(max(base.values()), device_id, table, pk, op, data, None, base)
