"""Stamping captured local writes: read them, let :func:`syncengine.core.stamp` decide, write what it decided.

Functions take a connection inside the caller's transaction (see :class:`._device.Tx`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from .._codec import CODES as _CODES
from .._codec import dumps
from ..core import Write, writes_of
from ..core import stamp as stamp_writes
from ..model import PK, Entry
from . import _schema as s
from ._catalog import SyncedTable, pk_key
from ._client import load_clock, save_clock
from ._dialects import chunks, executemany, param_marker, strategy
from ._registers import insert_created, load_registers, save_registers

_RAW = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_cells(row: dict[str, Any]) -> str:
    """:func:`dumps` of a row of raw SQLite values (text, integers, reals, blobs, NULL), quicker.

    orjson writes text, integers and finite reals as :func:`dumps` would, and refuses
    the rest (blobs need their tag). It writes an infinite real as null, so when
    more nulls come out than went in, the row takes the long way.
    """
    if len(row) == 1 and next(iter(row)).startswith("$"):
        return dumps(row)  # the one case where encoding a row of plain values is not the identity
    try:
        text = orjson.dumps(row, option=_RAW)
    except TypeError:
        return dumps(row)
    if text.count(b"null") != list(row.values()).count(None):
        return dumps(row)
    return text.decode()


class Outgoing(NamedTuple):
    """A stamped local entry as it is shared: the columns :func:`outgoing` reads."""

    id: int
    version: str
    device_id: str
    tbl: str
    pk: str
    op: str
    data: str
    old: str | None
    base: str


Assign = Callable[[list[Outgoing]], Sequence[str]]
"""Given the entries just stamped, in order, the batch id each one is sent in."""


def stamp(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    *,
    chunk: int = 5000,
    limit: int | None = None,
    assign: Assign | None = None,
    keep: bool = True,
) -> int:
    """Give captured local writes their versions, base versions and portable form.

    Stamps every captured write, oldest first, or the oldest ``limit`` of them, and
    returns how many it took (a write that changed nothing is dropped, and a key
    change makes two entries). Runs in the caller's transaction, and must run
    before anything received is applied in it, so a local write is always based on
    what the row held when it was written. With ``assign``, the entries are
    recorded in the batches it puts them in, so they can be sent without being
    read back; without ``keep`` they are not
    written to the log at all (``assign`` keeps them, in the outbox) and their
    captured rows stay as they are. Writes are taken ``chunk`` at a time (each
    chunk's entries go to ``assign`` on their own), so however many a transaction
    stamps, only one chunk is held at once.
    """
    taken = 0
    reader = CapturedReader(conn)
    while limit is None or taken < limit:
        size = chunk if limit is None else min(chunk, limit - taken)
        read = _stamp_rows(conn, catalog, device_id, reader, reader.next(size), assign, keep)
        taken += read
        if read < size:
            break
    return taken


class CapturedReader:
    """Reads captured log rows: values in the log's value columns (SQLite) or as JSON (the others).

    Rows captured by an earlier engine version on SQLite hold JSON too (their
    ``width`` is NULL); both kinds decode to the same dicts.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        dialect = strategy(conn)
        self.width = dialect.value_columns(conn)
        cells = "".join(f", n{i}" for i in range(self.width)) + "".join(f", o{i}" for i in range(self.width))
        self.select = (
            f"SELECT id, tbl, op, wall, pk, data, old{', width' if self.width else ''}{cells} FROM syncengine_log"
        )
        # captured rows up to the highest one a batch waiting in the outbox covers are stamped
        # already (see _schema.outbox)
        outboxed = conn.execute(sa.select(sa.func.max(s.outbox.c.last_id))).scalar() if dialect.outbox else None
        self.after = int(outboxed or 0)  # and rows this reader has handed out are not read again
        marker = param_marker(conn)
        self.sql = f"{self.select} WHERE state = 0 AND id > {marker} ORDER BY id LIMIT {marker}"
        cleared = "".join(f", n{i} = NULL, o{i} = NULL" for i in range(self.width))
        self.stamp_sql = (
            "UPDATE syncengine_log SET state = ?, tbl = ?, pk = ?, op = ?, data = ?, old = ?, version = ?, "
            f"device_id = ?, base = ?, batch_id = ?{', width = NULL' if self.width else ''}{cleared} WHERE id = ?"
        )

    def next(self, limit: int) -> list[Any]:
        """The next ``limit`` captured rows, oldest first."""
        rows = list(self.conn.exec_driver_sql(self.sql, (self.after, limit)).all())
        if rows:
            self.after = int(rows[-1][0])
        return rows

    def rows(self, ids: Sequence[int]) -> list[Any]:
        """The captured rows with these ids."""
        found: list[Any] = []
        marker = param_marker(self.conn)
        for part in chunks(ids):
            sql = f"{self.select} WHERE state = 0 AND id IN ({', '.join([marker] * len(part))})"
            found += self.conn.exec_driver_sql(sql, tuple(part)).all()
        return found

    def decode(self, synced: SyncedTable, row: Any) -> tuple[PK, dict[str, Any], dict[str, Any]]:
        """Return the captured write's key (the row's key before it), new values and old values."""
        decoder = synced.decoder
        width = row[7] if self.width else None
        if width is None:
            return decoder.pk(row[4]), decoder.row(row[5]), decoder.row(row[6])
        op = row[2]
        new = decoder.cells(row[8 : 8 + width]) if op != "D" else {}
        old = decoder.cells(row[8 + self.width : 8 + self.width + width]) if op != "I" else {}
        return synced.pk_of(new if op == "I" else old), new, old


def _stamp_rows(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    reader: CapturedReader,
    rows: Sequence[Any],
    assign: Assign | None,
    keep: bool = True,
) -> int:
    """Stamp these captured rows (see :func:`syncengine.core.stamp`) and write what stamping decided; how many.

    The rows are let go once decoded (the caller keeps no reference): at 20,000 rows
    they are a quarter of what stamping holds.
    """
    read = len(rows)
    if not rows:
        return 0
    writes: list[Write] = []
    orphans: list[int] = []
    for row in rows:
        log_id, table = row[0], row[1]
        synced = catalog.get(table)
        if synced is None:
            orphans.append(log_id)  # a table whose sync was removed: its writes are not shared
            continue
        pk, new, prior = reader.decode(synced, row)
        made = writes_of(log_id, row[3] or 0, table, row[2], pk, new, prior, synced.pk_of, pk_key)
        if not made:
            orphans.append(log_id)
        writes += made
    del rows, row
    keys: dict[str, set[str]] = {}
    for write in writes:
        keys.setdefault(write.table, set()).add(write.key)
    registers = {
        (table, text): state
        for table, texts in keys.items()
        for text, state in load_registers(conn, catalog[table], texts).items()
    }
    clock = load_clock(conn, device_id)
    done = stamp_writes(writes, registers, clock)
    insert_created(conn, [(table, text, version) for (table, text), version in done.created.items()])
    save_registers(conn, [(table, text, r.state, r.stored) for (table, text), r in done.registers.items()])
    # rows of raw SQLite values (no column converts them) have a quicker JSON form
    row_json = {name: dumps_cells if reader.width and synced.decoder.raw else dumps for name, synced in catalog.items()}
    stamped = [
        Outgoing(
            w.log_id,
            version,
            device_id,
            w.table,
            w.key,
            _CODES[w.op],
            row_json[w.table](w.data),
            row_json[w.table](w.old) if w.old is not None else None,
            orjson.dumps(base).decode() if base else "{}",
        )
        for w, version, base in zip(writes, done.versions, done.bases, strict=True)
    ]
    if keep:
        _write_stamped(conn, reader, stamped, writes, assign)
    elif assign is not None:  # the entries live on in the outbox; their captured rows stay as they are
        assign(stamped)
    if orphans:
        for part in chunks(orphans):
            conn.execute(s.log.delete().where(s.log.c.id.in_(part)))
    save_clock(conn, clock)
    return read


def _captured_writes(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> Iterator[tuple[int, list[Write]]]:
    """Each captured write not stamped yet (of a synced table): its log id and the entries it makes."""
    reader = CapturedReader(conn)
    while rows := reader.next(5000):
        for row in rows:
            synced = catalog.get(row[1])
            if synced is not None:
                pk, new, prior = reader.decode(synced, row)
                yield row[0], writes_of(row[0], row[3] or 0, row[1], row[2], pk, new, prior, synced.pk_of, pk_key)


def captured_keys(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> set[tuple[str, str]]:
    """The rows (table, key text) that captured writes not stamped yet are writes of."""
    return {(w.table, w.key) for _, made in _captured_writes(conn, catalog) for w in made}


def drop_inherited(conn: sa.Connection, catalog: Mapping[str, SyncedTable], shared: Sequence[Entry]) -> list[Entry]:
    """Drop captured writes that are writes another device has shared (``shared``); return the entries they are.

    A copied database file holds the writes its original had captured and not sent
    yet. The original shares them under its id, and the copy receives them as
    another device's entries: stamped again under the copy's new id they would be
    new writes, concurrent with every edit made to those rows since, and a conflict
    on every device. A captured write is dropped when each entry it makes is one of
    ``shared`` (same table, key, operation and values), each of those matched once.
    """
    wanted: dict[tuple[str, str], list[Entry]] = {}
    for entry in shared:
        wanted.setdefault((entry.table, pk_key(entry.pk)), []).append(entry)
    dropped: list[int] = []
    theirs: list[Entry] = []
    for log_id, made in _captured_writes(conn, catalog):
        matched = [_matching(wanted.get((w.table, w.key), []), w) for w in made]
        found = [m for m in matched if m is not None]
        if made and len(found) == len(made):
            for write, entry in zip(made, found, strict=True):
                wanted[write.table, write.key].remove(entry)
            dropped.append(int(log_id))
            theirs += found
    for part in chunks(dropped):
        conn.execute(s.log.delete().where(s.log.c.id.in_(part)))
    return theirs


def _matching(entries: list[Entry], write: Write) -> Entry | None:
    """The first of ``entries`` that is ``write``: the same operation and the same values."""
    return next((e for e in entries if e.op is write.op and dict(e.data) == write.data), None)


def _write_stamped(
    conn: sa.Connection,
    reader: CapturedReader,
    stamped: list[Outgoing],
    writes: Sequence[Write],
    assign: Assign | None,
) -> None:
    """Write stamped entries over their captured log rows, with the batch ``assign`` puts each in (if any).

    ``writes`` are the writes they were stamped from, in the same order (for their wall times).
    """
    halves = [i for i in range(1, len(stamped)) if stamped[i].id == stamped[i - 1].id]
    if halves:  # the second halves of key changes: log rows of their own, told apart by version
        unshared_state = s.LogState.UNSHARED
        before = conn.execute(sa.select(sa.func.max(s.log.c.id))).scalar() or 0
        conn.execute(
            s.log.insert(),
            [
                {
                    **{k: v for k, v in stamped[i]._asdict().items() if k != "id"},
                    "state": unshared_state,
                    "wall": writes[i].wall_ms,
                }
                for i in halves
            ],
        )
        query = sa.select(s.log.c.version, s.log.c.id).where(s.log.c.id > before, s.log.c.state == unshared_state)
        ids = {version: int(log_id) for version, log_id in conn.execute(query)}
        for i in halves:
            stamped[i] = stamped[i]._replace(id=ids[stamped[i].version])
    batches: Sequence[str | None] = assign(stamped) if assign is not None and stamped else [None] * len(stamped)
    unshared = int(s.LogState.UNSHARED)
    updates = [
        (unshared, e.tbl, e.pk, e.op, e.data, e.old, e.version, e.device_id, e.base, batch_id, e.id)
        for e, batch_id in zip(stamped, batches, strict=True)
    ]
    executemany(conn, reader.stamp_sql, updates)
