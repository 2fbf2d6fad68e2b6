"""The client log (``syncengine_log`` and the outbox) and the device's settings, on one connection.

Every function takes an open ``Connection`` inside the caller's transaction;
:class:`._device.Tx` offers them as its operations, so the sync decides what
commits together (for example: received entries and the pull cursor; a reconcile
batch, its row states and the log rows it finished). The row registers are in
:mod:`._registers`, stamping in :mod:`._stamping`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .._codec import loads, stored
from ..clock import HybridClock
from ..model import Entry, Op
from . import _schema as s
from ._dialects import chunks, param_marker

_OPS = {"I": Op.INSERT, "U": Op.UPDATE, "D": Op.DELETE, "S": Op.STATE, "T": Op.TOMBSTONE}


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


def unshared(conn: sa.Connection, after_id: int, limit: int) -> list[Any]:
    """Stamped local entries waiting to be shared, oldest first, after log id ``after_id`` (the columns of :func:`outgoing`)."""
    sql = (
        "SELECT id, version, device_id, tbl, pk, op, data, old, base FROM syncengine_log "
        f"WHERE state = {int(s.LogState.UNSHARED)} AND id > {param_marker(conn)} ORDER BY id LIMIT {param_marker(conn)}"
    )
    return list(conn.exec_driver_sql(sql, (after_id, limit)).all())


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


def outboxed(conn: sa.Connection, *, payloads: bool = True) -> list[Any]:
    """The batches waiting in the outbox, oldest first (see ``_schema.outbox``); without ``payloads``, all but them."""
    columns = s.outbox.c if payloads else [c for c in s.outbox.c if c.name != "payload"]
    return list(conn.execute(sa.select(*columns).order_by(s.outbox.c.id)).all())


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
                **_columns(e),
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
        record.update(_columns(entry))
    else:
        record["data"] = orjson.dumps(raw, default=repr).decode()
    if log_id is None:
        conn.execute(s.log.insert().values(**record))
    else:
        conn.execute(s.log.update().where(s.log.c.id == log_id).values(**record))


def add_local(conn: sa.Connection, entry: Entry) -> None:
    """Store an entry the engine made itself (a decision) as a stamped local change, ready to share."""
    add_locals(conn, [entry])


def add_locals(conn: sa.Connection, entries: Sequence[Entry]) -> None:
    """Store entries the engine made itself (decisions, restated rows) as stamped local changes, ready to share."""
    if entries:
        conn.execute(s.log.insert(), [{"state": s.LogState.UNSHARED, **_columns(e)} for e in entries])


def _columns(entry: Entry) -> dict[str, Any]:
    """An entry's log columns: its stored form (see :func:`syncengine._codec.stored`) and its device."""
    return {**stored(entry)._asdict(), "device_id": entry.device_id}


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
