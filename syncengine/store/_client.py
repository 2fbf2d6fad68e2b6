"""The client log and the row registers, on one device database connection.

Every function takes an open ``Connection`` inside the caller's transaction;
:class:`._device.Tx` offers them as its operations, so the sync decides what
commits together (for example: received entries and the pull cursor; a reconcile
batch, its row states and the log rows it finished). What stamping decides is
:func:`syncengine.core.stamp`'s; here are its reads and writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from .._codec import CODES as _CODES
from .._codec import dumps, loads
from ..clock import HybridClock
from ..core import Write, writes_of
from ..core import stamp as stamp_writes
from ..model import PK, Entry, Op
from ..reconcile import RowState
from . import _schema as s
from ._catalog import SyncedTable, pk_key
from ._dialects import chunks, strategy

_OPS = {"I": Op.INSERT, "U": Op.UPDATE, "D": Op.DELETE}


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


# --- small settings -------------------------------------------------------------


def get_setting(conn: sa.Connection, key: str, default: Any = None) -> Any:
    """Return a JSON setting from ``syncengine_state``."""
    text = conn.execute(sa.select(s.state.c.value).where(s.state.c.key == key)).scalar()
    return default if text is None else orjson.loads(text)


def set_setting(conn: sa.Connection, key: str, value: Any) -> None:
    """Store a JSON setting in ``syncengine_state``."""
    text = orjson.dumps(value).decode()
    done = conn.execute(s.state.update().where(s.state.c.key == key).values(value=text)).rowcount
    if not done:
        conn.execute(s.state.insert().values(key=key, value=text))


def load_clock(conn: sa.Connection, device_id: str) -> HybridClock:
    """Return the device's persisted hybrid clock."""
    wall, counter = get_setting(conn, "clock", [0, 0])
    return HybridClock(device_id, wall, counter)


def save_clock(conn: sa.Connection, clock: HybridClock) -> None:
    """Persist the device's hybrid clock."""
    set_setting(conn, "clock", [clock.wall_ms, clock.counter])


def set_applying(conn: sa.Connection, on: bool) -> None:
    """Tell the capture triggers to skip (or again record) this transaction's writes."""
    conn.execute(s.control.update().where(s.control.c.id == 1).values(applying=1 if on else 0))


# --- row registers ----------------------------------------------------------------


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
    found = strategy(conn).registers(conn, synced.name, list(texts))
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


def unknown(conn: sa.Connection, synced: SyncedTable, keys: Mapping[str, PK]) -> set[str]:
    """Of these rows of one table (key text → key), the key texts of those this device knows nothing of.

    No register, and no row in the table: an insert received for them meets nothing.
    """
    known = load_registers(conn, synced, keys).keys() | read_rows(conn, synced, list(keys.values())).keys()
    return keys.keys() - known


def insert_created(conn: sa.Connection, rows: Sequence[tuple[str, str, str]]) -> None:
    """Write the registers of rows just created by one insert each: (table, key text, version)."""
    executemany(conn, _INSERT_ROWS, [(version, 1, None, None, table, text) for table, text, version in rows])


def read_rows(conn: sa.Connection, synced: SyncedTable, pks: Sequence[PK]) -> dict[str, dict[str, Any]]:
    """The rows of a synced table with these keys, by key text."""
    return {pk_key(synced.pk_of(record)): record for record in strategy(conn).rows(conn, synced, pks)}


def param_marker(conn: sa.Connection) -> str:
    """Return the driver's positional parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg, PyMySQL)."""
    return "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"


def executemany(conn: sa.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``sql`` (with ``?`` markers) once per row, straight through the driver.

    For the engine's own tables in hot paths: SQLAlchemy's per-row parameter
    processing would cost more than the database work, and these columns need none.
    """
    if rows:
        marker = param_marker(conn)
        conn.exec_driver_sql(sql if marker == "?" else sql.replace("?", marker), list(rows))


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


# --- stamping local writes --------------------------------------------------------


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
    chunk: int = 20000,
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
    recorded in the batches it puts them in (all ``limit`` writes in one go), so
    they can be sent without being read back; without ``keep`` they are not
    written to the log at all (``assign`` keeps them, in the outbox) and their
    captured rows stay as they are.
    """
    if assign is not None and limit is not None:
        chunk = max(chunk, limit)  # one call of assign sees every entry: no batch is cut short
    taken = 0
    reader = CapturedReader(conn)
    while limit is None or taken < limit:
        size = chunk if limit is None else min(chunk, limit - taken)
        rows = reader.next(size)
        if rows:
            _stamp_rows(conn, catalog, device_id, reader, rows, assign, keep)
            taken += len(rows)
        if len(rows) < size:
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
        self.sql = (
            f"{self.select} WHERE state = 0{f' AND id > {int(outboxed)}' if outboxed is not None else ''} "
            f"ORDER BY id LIMIT {param_marker(conn)}"
        )
        cleared = "".join(f", n{i} = NULL, o{i} = NULL" for i in range(self.width))
        self.stamp_sql = (
            "UPDATE syncengine_log SET state = ?, tbl = ?, pk = ?, op = ?, data = ?, old = ?, version = ?, "
            f"device_id = ?, base = ?, batch_id = ?{', width = NULL' if self.width else ''}{cleared} WHERE id = ?"
        )

    def next(self, limit: int) -> list[Any]:
        """The next ``limit`` captured rows, oldest first."""
        return list(self.conn.exec_driver_sql(self.sql, (limit,)).all())

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
) -> None:
    """Stamp these captured rows (see :func:`syncengine.core.stamp`) and write what stamping decided."""
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
            e.version,
            device_id,
            e.table,
            w.key,
            _CODES[e.op],
            row_json[e.table](w.data),
            row_json[e.table](w.old) if w.old is not None else None,
            orjson.dumps(e.base).decode() if e.base else "{}",
        )
        for e, w in zip(done.entries, writes, strict=True)
    ]
    if keep:
        _write_stamped(conn, reader, stamped, writes, assign)
    elif assign is not None:  # the entries live on in the outbox; their captured rows stay as they are
        assign(stamped)
    if orphans:
        for part in chunks(orphans):
            conn.execute(s.log.delete().where(s.log.c.id.in_(part)))
    save_clock(conn, clock)


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


# --- reading entries back ---------------------------------------------------------


def entry_of(row: Any) -> Entry:
    """Return the :class:`Entry` stored in a stamped or received log row."""
    return Entry(
        version=row.version,
        device_id=row.device_id,
        table=row.tbl,
        pk=tuple(loads(row.pk)),
        op=_OPS[row.op],
        data=loads(row.data) or {},
        old=loads(row.old),
        base=orjson.loads(row.base) if row.base else {},
        log_id=row.id,
    )


def outgoing(conn: sa.Connection, limit: int) -> tuple[str | None, list[Any]]:
    """Return the next log rows to share, oldest first (id, version, device_id, tbl, pk, op, data, old, base).

    Entries already assigned to a batch that was never confirmed come back alone,
    with that batch id, so re-sending them is idempotent.
    """
    marker = param_marker(conn)
    unshared = int(s.LogState.UNSHARED)
    first = conn.exec_driver_sql(
        f"SELECT batch_id FROM syncengine_log WHERE state = {unshared} ORDER BY id LIMIT 1"
    ).first()
    if first is None:
        return None, []
    columns = "id, version, device_id, tbl, pk, op, data, old, base"
    if first.batch_id is not None:
        sql = f"SELECT {columns} FROM syncengine_log WHERE state = {unshared} AND batch_id = {marker} ORDER BY id"
        return first.batch_id, list(conn.exec_driver_sql(sql, (first.batch_id,)).all())
    sql = (
        f"SELECT {columns} FROM syncengine_log WHERE state = {unshared} AND batch_id IS NULL ORDER BY id LIMIT {marker}"
    )
    return None, list(conn.exec_driver_sql(sql, (limit,)).all())


def assign_batch(conn: sa.Connection, ids: Sequence[int], batch_id: str) -> None:
    """Record which batch the entries ``ids`` are sent in, before sending it.

    ``ids`` are the first unshared entries without a batch, as :func:`outgoing`
    returned them in this transaction, so the id range selects exactly them.
    """
    conn.execute(
        s.log.update()
        .where(
            s.log.c.id.between(min(ids), max(ids)),
            s.log.c.state == s.LogState.UNSHARED,
            s.log.c.batch_id.is_(None),
        )
        .values(batch_id=batch_id)
    )


def mark_shared(conn: sa.Connection, batch_id: str, ids: Sequence[int], remote_seq: int, *, cleanup: bool) -> None:
    """Record that the batch's entries ``ids`` reached the shared log (or forget them with ``cleanup``)."""
    where = sa.and_(
        s.log.c.id.between(min(ids), max(ids)),
        s.log.c.batch_id == batch_id,
        s.log.c.state == s.LogState.UNSHARED,
    )
    if cleanup:
        conn.execute(s.log.delete().where(where))
    else:
        conn.execute(s.log.update().where(where).values(state=s.LogState.SHARED, remote_seq=remote_seq))


def add_outbox(
    conn: sa.Connection,
    batch_id: str,
    ids: Sequence[int],
    payload: bytes,
    count: int,
    dropped: int,
    extra: str | None,
) -> None:
    """Keep a batch just stamped from the captured rows ``ids`` until it is sent (``dropped``: by ``pre_send``)."""
    conn.execute(
        s.outbox.insert().values(
            batch_id=batch_id,
            first_id=min(ids),
            last_id=max(ids),
            count=count,
            dropped=dropped,
            payload=payload,
            extra=extra,
        )
    )


def outboxed(conn: sa.Connection) -> list[Any]:
    """The batches waiting in the outbox, oldest first (see ``_schema.outbox``)."""
    return list(conn.execute(sa.select(s.outbox).order_by(s.outbox.c.id)).all())


def drop_outboxed(conn: sa.Connection, batch_id: str, first_id: int, last_id: int) -> None:
    """Forget a batch of the outbox that reached the shared log, and the captured rows it was stamped from.

    A batch another sync of this database dropped already is left alone: its range
    may hold new captured rows by now. Rows another waiting batch also covers (the
    row of a key change whose two entries went to two batches) stay for that batch,
    so the captured row with the highest id a waiting batch covers always exists
    and new rows always get higher ids (see ``_schema.outbox``).
    """
    if not conn.execute(s.outbox.delete().where(s.outbox.c.batch_id == batch_id)).rowcount:
        return
    others = conn.execute(
        sa.select(s.outbox.c.first_id, s.outbox.c.last_id).where(
            s.outbox.c.first_id <= last_id, s.outbox.c.last_id >= first_id
        )
    ).all()
    where = [s.log.c.id.between(first_id, last_id), s.log.c.state == s.LogState.CAPTURED]
    where += [sa.not_(s.log.c.id.between(low, high)) for low, high in others]
    conn.execute(s.log.delete().where(*where))


def add_received(
    conn: sa.Connection,
    batch_seq: int | None,
    batch_id: str | None,
    entries: Sequence[Entry],
    extra: str | None,
    *,
    state: s.LogState = s.LogState.PENDING,
    conflict_id: int | None = None,
) -> None:
    """Store received entries: pending integration, or held by a conflict."""
    if not entries:
        return
    conn.execute(
        s.log.insert(),
        [
            {
                "state": state,
                "conflict_id": conflict_id,
                "tbl": e.table,
                "pk": dumps(list(e.pk)),
                "op": _CODES[e.op],
                "data": dumps(e.data),
                "old": dumps(e.old) if e.old is not None else None,
                "version": e.version,
                "device_id": e.device_id,
                "base": orjson.dumps(dict(e.base)).decode(),
                "batch_id": batch_id,
                "remote_seq": batch_seq,
                "extra": extra,
            }
            for e in entries
        ],
    )


def add_quarantined(
    conn: sa.Connection,
    reason: str,
    *,
    raw: Any,
    entry: Entry | None = None,
    batch_seq: int | None = None,
    log_id: int | None = None,
) -> None:
    """Keep an entry that cannot be applied, with the reason."""
    record: dict[str, Any] = {"state": s.LogState.QUARANTINED, "reason": reason, "remote_seq": batch_seq}
    if entry is not None:
        record.update(
            tbl=entry.table,
            pk=dumps(list(entry.pk)),
            op=_CODES[entry.op],
            data=dumps(entry.data),
            old=dumps(entry.old) if entry.old is not None else None,
            version=entry.version,
            device_id=entry.device_id,
            base=orjson.dumps(dict(entry.base)).decode(),
        )
    else:
        record["data"] = orjson.dumps(raw, default=repr).decode()
    if log_id is None:
        conn.execute(s.log.insert().values(**record))
    else:
        conn.execute(s.log.update().where(s.log.c.id == log_id).values(**record))


def add_local(conn: sa.Connection, entry: Entry) -> None:
    """Store an entry the engine made itself (a decision) as a stamped local change, ready to share."""
    conn.execute(
        s.log.insert().values(
            state=s.LogState.UNSHARED,
            tbl=entry.table,
            pk=pk_key(entry.pk),
            op=_CODES[entry.op],
            data=dumps(dict(entry.data)),
            old=dumps(dict(entry.old)) if entry.old is not None else None,
            version=entry.version,
            device_id=entry.device_id,
            base=orjson.dumps(dict(entry.base)).decode(),
        )
    )


def held(conn: sa.Connection, conflict_id: int) -> list[Any]:
    """Return the log rows held by a constraint conflict, oldest first."""
    return list(
        conn.execute(
            sa.select(s.log)
            .where(s.log.c.state == s.LogState.HELD, s.log.c.conflict_id == conflict_id)
            .order_by(s.log.c.id)
        ).all()
    )


def pending(conn: sa.Connection, limit: int, *, after_id: int = 0) -> list[Any]:
    """Return up to ``limit`` pending log rows, oldest first."""
    return list(
        conn.execute(
            sa.select(s.log)
            .where(s.log.c.state == s.LogState.PENDING, s.log.c.id > after_id)
            .order_by(s.log.c.id)
            .limit(limit)
        ).all()
    )


def finish(conn: sa.Connection, ids: Sequence[int], *, cleanup: bool) -> None:
    """Mark integrated entries done, or delete them with ``cleanup``."""
    for part in chunks(ids):
        where = s.log.c.id.in_(part)
        if cleanup:
            conn.execute(s.log.delete().where(where))
        else:
            conn.execute(s.log.update().where(where).values(state=s.LogState.DONE))
