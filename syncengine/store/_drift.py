"""Noticing that a synced table changed under its triggers, and making capture whole again.

Capture depends on a table's columns. The triggers name them (SQLite and MariaDB
copy each one; PostgreSQL's ``row_to_json`` follows the table by itself) and the
decoders read captured rows back by that layout. A migration can undo this without
a word: ``ALTER TABLE … ADD COLUMN`` leaves the new column out of the triggers, so
values written to it are never captured; rebuilding a table (create a new one,
copy the rows, drop the old one, rename: Alembic's batch mode and many SQLite
tools) drops the triggers with the old table, so no write is captured at all.

So when sync is installed on a table, its *shape* is stored: its columns and a
digest of its triggers, as the catalog holds them (:func:`syncengine.capture.shapes`).
:func:`look` compares the stored shapes with the catalog (one query of the
settings and one of the catalog: cheap enough for every sync and every open), and
:func:`repair`, in one transaction of the device database:

1. stamps the writes the old triggers captured, decoding them by the layout they
   were captured in and keeping only the columns the table still has (only when a
   column was removed or moved: otherwise they decode as they are);
2. re-installs the triggers of each changed table;
3. captures what was written to added columns before that: every value of an
   added column other than its default was written since the column appeared, so
   each row holding one becomes a captured update of it (a normal local write:
   stamped, shared, merged — two devices that both added the column and wrote the
   same values make no conflict). PostgreSQL's trigger renders the whole row, so
   there it captured those writes already, unless it was missing;
4. stores the new shapes, and says what it did in one sentence per table.

The sync that reports a repair also puts entries quarantined for an unknown column
back to pending when their table has that column now
(:func:`retry_unknown_columns`), so its reconcile stage applies them.

Writes made while a table had no triggers cannot be recovered here: nothing saw
them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .. import capture
from .._codec import loads
from . import _client as client
from . import _schema as s
from . import _stamping as stamping
from . import _views as views
from ._catalog import SyncedTable, pk_key

SHAPES = "capture_shapes"
"""The setting that holds each synced table's shape as its triggers were installed for."""

DROPPED = "dropped_columns"
"""The setting that holds, by table, the columns this device removed (values other devices still send for them are left out)."""

NOTED = "schema_changes"
"""The setting that holds what :func:`repair` did that no sync has reported yet."""


def synced_names(conn: sa.Connection) -> list[str]:
    """The names of the tables sync was installed on, whether the database still has them or not."""
    return [str(r.name) for r in conn.execute(sa.select(s.tables.c.name).order_by(s.tables.c.name))]


def look(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> tuple[bool, list[str]]:
    """Whether any synced table (or the set of them) differs from the shapes stored, or key texts need rewriting; what is noted.

    Two queries: the two settings, and the catalog.
    """
    query = sa.select(s.state.c.key, s.state.c.value).where(s.state.c.key.in_([SHAPES, NOTED, FORM]))
    found = {key: orjson.loads(value) for key, value in conn.execute(query) if value is not None}
    stored: dict[str, Any] = found.get(SHAPES) or {}
    said: list[str] = found.get(NOTED) or []
    if set(stored) != set(catalog) or form_stale(found.get(FORM), catalog):
        return True, said
    names = list(catalog)
    now = capture.shapes(conn, names)
    return any(stored[name] != now[name] for name in names), said


def record(conn: sa.Connection, names: Sequence[str]) -> None:
    """Store the shapes of these tables as they are now (the synced tables, all of them)."""
    client.set_setting(conn, SHAPES, capture.shapes(conn, names))


def repair(conn: sa.Connection, catalog: Mapping[str, SyncedTable], *, force: bool = False) -> list[str]:
    """Re-install capture on the tables of ``catalog`` (just reflected) that changed; return what changed.

    See the module docstring for the steps. ``force`` re-installs the triggers of
    every table, changed or not. A table whose shape was never stored (sync was
    installed by an earlier version) has its triggers re-installed and its shape
    stored, and nothing is said of it. Runs in the caller's transaction.
    """
    # one repair at a time: a second one waits, then finds nothing left to do (SQLite's
    # BEGIN IMMEDIATE serializes already; this is for PostgreSQL and MariaDB)
    conn.execute(sa.select(s.control.c.id).where(s.control.c.id == 1).with_for_update())
    names = sorted(catalog)
    stored: dict[str, Any] = client.get_setting(conn, SHAPES, {})
    now = capture.shapes(conn, names)
    reform = form_stale(client.get_setting(conn, FORM), catalog)
    if reform:
        rewrite_key_texts(conn, catalog)
        client.set_setting(conn, FORM, FORM_NOW)
    # triggers of an older form are made again, silently: the table did not change
    changed = [
        name
        for name in names
        if force or stored.get(name) != now[name] or (reform and _triggers_reformed(catalog[name]))
    ]
    _stamp_old_layouts(conn, catalog, {name: stored[name] for name in changed if name in stored})
    said = []
    dropped: dict[str, list[str]] = client.get_setting(conn, DROPPED, {}) or {}
    for name in changed:
        synced = catalog[name]
        capture.install(conn, synced.table)
        if name not in stored or stored[name] == now[name]:
            continue
        parts, added, removed = _differences(stored[name], now[name])
        gone = (set(dropped.get(name, ())) | set(removed)) - set(synced.columns)
        if gone != set(dropped.get(name, ())):
            dropped = {**dropped, name: sorted(gone)}
            client.set_setting(conn, DROPPED, {k: v for k, v in dropped.items() if v})
            synced.dropped = frozenset(gone)
        parts.append("triggers re-installed")
        # triggers that render the whole row (PostgreSQL's) captured writes to added columns already
        missed = added and not (now[name]["triggers"] and capture.follows_new_columns(conn.dialect))
        captured = capture.capture_added(conn, synced.table, added) if missed else 0
        if captured:
            parts.append(f"values of {_count(captured, 'row')} captured")
        computed = [c for c in added if missed and capture.computed_default(synced.table, c)]
        if computed:
            parts.append(
                f"values of {', '.join(computed)} not captured (a computed default cannot be told from a written value)"
            )
        said.append(f"{name}: {'; '.join(parts)}")
    if changed or set(stored) != set(names):
        record(conn, names)
    return said


def note(conn: sa.Connection, said: Sequence[str], *, told: bool = False) -> None:
    """Keep what a repair did until a sync reports it (``told``: the caller said it already; the sync only acts on it).

    The next sync starts by retrying entries quarantined for a column that exists now
    whenever anything is noted, told or not.
    """
    if said:
        kept = [_TOLD + sentence for sentence in said] if told else list(said)
        client.set_setting(conn, NOTED, [*client.get_setting(conn, NOTED, []), *kept])


def noted(conn: sa.Connection) -> list[str]:
    """What repairs did that no sync has reported yet, and nobody said when it was done."""
    found: list[str] = client.get_setting(conn, NOTED, [])
    return [sentence for sentence in found if not sentence.startswith(_TOLD)]


_TOLD = "(told) "


def forget_noted(conn: sa.Connection) -> None:
    """Forget what repairs did, once a sync has reported it."""
    client.set_setting(conn, NOTED, [])


def _stamp_old_layouts(conn: sa.Connection, catalog: Mapping[str, SyncedTable], before: Mapping[str, Any]) -> None:
    """Stamp the captured writes now, decoding each changed table's by the columns its old triggers copied.

    Only needed when a column was removed or moved: SQLite's triggers copied values
    by position, and PostgreSQL's and MariaDB's wrote removed columns by name; a
    column added at the end decodes as it is.
    """
    layouts = {}
    for name, shape in before.items():
        synced = catalog[name]
        old = [str(column[0]) for column in shape["columns"]]
        if old != list(synced.columns[: len(old)]) and set(synced.pk_columns) <= set(old):
            layouts[name] = old
    if not layouts:
        return
    if any(name not in catalog for name in synced_names(conn)):  # a missing table's writes: not orphans
        return  # the sync that follows refuses until it is back; its writes wait, captured
    as_captured = dict(catalog)
    for name, old in layouts.items():
        view = copy.copy(catalog[name])
        view.decoder = capture.decoder_for(view.table, conn.dialect, captured=old)
        as_captured[name] = view
    device_id = client.get_setting(conn, "device_id")
    stamping.stamp(conn, as_captured, device_id)


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """What changed between two shapes of a table, in words; and the names of the added and of the removed columns."""
    old = {str(c[0]): c for c in before["columns"]}
    new = {str(c[0]): c for c in now["columns"]}
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    parts = []
    if added:
        parts.append(f"{_plural(len(added), 'column')} {', '.join(added)} added")
    if removed:
        parts.append(f"{_plural(len(removed), 'column')} {', '.join(removed)} removed")
    for name, column in new.items():
        if name not in old or old[name] == column:
            continue
        if old[name][1] != column[1]:
            parts.append(f"column {name} retyped ({old[name][1]} → {column[1]})")
        else:
            parts.append(f"column {name} changed")
    kept = [name for name in old if name in new]
    if kept != [name for name in new if name in old]:
        parts.append("columns reordered")
    if not now["triggers"] and before["triggers"]:  # (none before either: set aside on purpose, see migrate)
        parts.append("triggers missing (dropped, or the table was rebuilt)")
    elif now["triggers"] != before["triggers"] and not parts:
        parts.append("triggers out of date")
    return parts, added, removed


def retry_unknown_columns(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> dict[str, int]:
    """Put entries quarantined for an unknown column that the table has now (or that it removed) back to pending; by table.

    The next reconcile applies them (or quarantines them again, for another reason).
    """
    query = sa.select(s.log.c.id, s.log.c.tbl, s.log.c.data).where(
        s.log.c.state == s.LogState.QUARANTINED, s.log.c.reason.startswith("unknown column ", autoescape=True)
    )
    ids: list[int] = []
    found: dict[str, int] = {}
    for log_id, table, data in conn.execute(query):
        synced = catalog.get(table)
        try:
            values = orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            continue
        if synced is None or not isinstance(values, dict):
            continue
        if all(name in synced.column_set or name in synced.dropped or value is None for name, value in values.items()):
            ids.append(int(log_id))
            found[table] = found.get(table, 0) + 1
    views.requeue(conn, ids)
    return found


def retry_unknown_table(conn: sa.Connection, table: str) -> int:
    """Put entries quarantined because ``table`` was not synced here back to pending, now that it is; how many.

    Other devices' writes to a table this device did not sync wait quarantined; once
    sync is installed on it, the next reconcile applies them like any received entry.
    """
    query = sa.select(s.log.c.id).where(
        s.log.c.state == s.LogState.QUARANTINED,
        s.log.c.tbl == table,
        s.log.c.reason.startswith("unknown table ", autoescape=True),
    )
    ids = [int(log_id) for (log_id,) in conn.execute(query)]
    views.requeue(conn, ids)
    return len(ids)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"


def _count(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


FORM = "stored_form"
"""The setting holding the form of what the engine stores of datetimes (absent: the first form).

Form 2: a key's text holds its datetimes as UTC wall times (it held PostgreSQL's
``timestamptz`` keys in the session's offset), and MariaDB triggers capture a
``TIMESTAMP`` column as its UTC wall time (they captured the writing session's).
Form 3: a key's text holds a native uuid as plain text (it held it tagged, ``{"$u": …}``,
so an SQLite device's text key was another row), and PostgreSQL triggers find the
engine's tables whatever the writing session's ``search_path``.
"""
FORM_NOW = 3


def form_stale(stored: Any, catalog: Mapping[str, SyncedTable]) -> bool:
    """Whether registers, conflicts or triggers may still be of an older form than :data:`FORM_NOW`."""
    return stored != FORM_NOW and any(_reformed(synced) for synced in catalog.values())


def _reformed(synced: SyncedTable) -> bool:
    """Whether the forms changed anything this table's registers or triggers hold."""
    return synced.zoned_key or synced.uuid_key or _triggers_reformed(synced)


def _triggers_reformed(synced: SyncedTable) -> bool:
    """Whether this table's triggers changed form (MariaDB ``TIMESTAMP`` capture, PostgreSQL schema names)."""
    return synced.timestamps or synced.dialect_name == "postgresql"


def rewrite_key_texts(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> int:
    """Store registers and conflicts of tables keyed by zoned datetimes under today's key texts; return how many moved.

    Before the form changed, such a key's text held the datetime with the session's
    offset (``…T05:45:00+05:45``); now it holds its UTC wall time, as every device
    writes it. Where a register of both forms exists (the row was also received under
    the new form), the one of the new form is kept.
    """
    moved = 0
    for synced in catalog.values():
        if not (synced.zoned_key or synced.uuid_key):
            continue
        texts = [r.pk for r in conn.execute(sa.select(s.rows.c.pk).where(s.rows.c.tbl == synced.name))]
        known = set(texts)
        for old in texts:
            new = pk_key(tuple(loads(old)))
            if new == old:
                continue
            where = (s.rows.c.tbl == synced.name) & (s.rows.c.pk == old)
            if new in known:
                conn.execute(s.rows.delete().where(where))
            else:
                conn.execute(s.rows.update().where(where).values(pk=new))
                known.add(new)
            moved += 1
        query = sa.select(s.conflicts.c.pk).where(s.conflicts.c.tbl == synced.name).distinct()
        for old in [r.pk for r in conn.execute(query)]:
            new = pk_key(tuple(loads(old)))
            if new != old:
                where = (s.conflicts.c.tbl == synced.name) & (s.conflicts.c.pk == old)
                conn.execute(s.conflicts.update().where(where).values(pk=new))
    return moved
