"""The row registers: each synced row's version registers in ``syncengine_rows``, and its current values.

Functions take a connection inside the caller's transaction (see :class:`._device.Tx`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from .._codec import dumps, loads
from ..model import PK
from ..reconcile import RowState
from . import _schema as s
from ._catalog import SyncedTable, pk_key
from ._dialects import executemany, strategy


@dataclass(slots=True)
class LoadedRow:
    """A row's state as loaded, and whether the user table holds the row now."""

    state: RowState
    present: bool
    stored: bool
    text: str = ""  # the key's text in syncengine_rows


def load_registers(conn: sa.Connection, synced: SyncedTable, texts: Iterable[str]) -> dict[str, RowState]:
    """Load the stored registers of rows of one table, by key text; rows sync knows nothing of are left out.

    The states' ``values`` hold what a deleted row last held (its ``alive`` is what
    sync last recorded, not whether the table holds the row now).
    """
    keys = list(texts)
    if len(keys) > _PROBE_FIRST and not _any(conn, sa.select(s.rows.c.pk).where(s.rows.c.tbl == synced.name)):
        return {}  # the table has no register at all: a lookup of each key would find nothing
    found = strategy(conn).registers(conn, synced.name, keys)
    out: dict[str, RowState] = {}
    for text, exists, alive, explicit, dead in found:
        fields = dict.fromkeys(synced.columns, exists) if exists else {}
        if explicit:
            fields.update(orjson.loads(explicit))
        out[text] = RowState(exists, bool(alive), fields, loads(dead) or {})
    return out


def load_states(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    keys: Iterable[tuple[str, PK]],
    *,
    unknown: bool = True,
    texts: dict[tuple[str, PK], str] | None = None,
) -> dict[tuple[str, PK], LoadedRow]:
    """Load the registers and the current values of rows.

    Without ``unknown``, rows with neither registers nor a row in the table are left
    out. ``texts``, when given, is filled with every row's key text.
    """
    by_table: dict[str, list[PK]] = {}
    for table, pk in keys:
        by_table.setdefault(table, []).append(pk)
    out: dict[tuple[str, PK], LoadedRow] = {}
    for name, pks in by_table.items():
        synced = catalog[name]
        by_text = {pk_key(pk): pk for pk in pks}
        if texts is not None:
            texts.update(((name, pk), text) for text, pk in by_text.items())
        stored = load_registers(conn, synced, by_text)
        present = read_rows(conn, synced, list(by_text.values()))
        for text, pk in by_text.items():
            state = stored.get(text)
            live = present.get(text)
            if state is None and live is None and not unknown:
                continue
            if state is None:
                state = RowState(alive=live is not None, values=dict(live) if live else {})
            elif live is not None:
                state.alive, state.values = True, dict(live)
            else:
                state.alive = False
            out[(name, pk)] = LoadedRow(state, live is not None, text in stored, text)
    return out


def insert_created(conn: sa.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """Write the registers of rows just created by one insert each: (table, key text, version)."""
    executemany(conn, _INSERT_ROWS, [(version, 1, None, None, table, text) for table, text, version in rows])


def read_rows(conn: sa.Connection, synced: SyncedTable, pks: Sequence[PK]) -> dict[str, dict[str, Any]]:
    """The rows of a synced table with these keys, by key text."""
    if len(pks) > _PROBE_FIRST and not _any(conn, sa.select(*synced.table.primary_key.columns)):
        return {}  # the table is empty: a lookup of each key would find nothing
    return {pk_key(synced.pk_of(record)): record for record in strategy(conn).rows(conn, synced, pks)}


# Above this many keys, one probe first asks whether the table holds anything at all: a
# device's first sync looks up every key of tables that are still empty.
_PROBE_FIRST = 100


def _any(conn: sa.Connection, query: sa.Select[Any]) -> bool:
    return conn.execute(query.limit(1)).first() is not None


_INSERT_ROWS = "INSERT INTO syncengine_rows (exists_v, alive, fields, dead, tbl, pk) VALUES (?, ?, ?, ?, ?, ?)"
_UPDATE_ROWS = "UPDATE syncengine_rows SET exists_v = ?, alive = ?, fields = ?, dead = ? WHERE tbl = ? AND pk = ?"


def save_states(conn: sa.Connection, changes: Iterable[tuple[str, PK, RowState, bool]]) -> None:
    """Write row registers; ``stored`` says whether the row is in ``syncengine_rows`` already."""
    save_registers(conn, ((table, pk_key(pk), state, stored) for table, pk, state, stored in changes))


def save_registers(conn: sa.Connection, changes: Iterable[tuple[str, str, RowState, bool]]) -> None:
    """Write row registers by key text; ``stored`` says whether the row is in ``syncengine_rows`` already."""
    inserts: list[tuple[Any, ...]] = []
    updates: list[tuple[Any, ...]] = []
    for table, text, state, stored in changes:
        exists = state.exists
        explicit = {c: v for c, v in state.fields.items() if v != exists}
        record = (
            exists,
            1 if state.alive else 0,
            orjson.dumps(explicit).decode() if explicit else None,
            None if state.alive else dumps(state.values),
            table,
            text,
        )
        (updates if stored else inserts).append(record)
    executemany(conn, _INSERT_ROWS, inserts)
    executemany(conn, _UPDATE_ROWS, updates)
