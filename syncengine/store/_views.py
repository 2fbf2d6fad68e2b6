"""Reading the client log for people: counts, entry listings, quarantine.

Split from :mod:`._client` (which writes the log during syncs); same conventions:
every function takes an open connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .._codec import CODES as _CODES
from .._codec import loads
from ..model import LogRecord, Op, QuarantinedEntry
from . import _schema as s
from ._catalog import SyncedTable
from ._client import _OPS
from ._dialects import chunks as _chunks
from ._stamping import CapturedReader


def counts(conn: sa.Connection) -> dict[int, int]:
    """Return the number of log rows in each state."""
    rows = conn.execute(sa.select(s.log.c.state, sa.func.count()).group_by(s.log.c.state)).all()
    return {int(state): int(n) for state, n in rows}


_STATE_NAMES = {
    s.LogState.CAPTURED: "unshared",
    s.LogState.UNSHARED: "unshared",
    s.LogState.SHARED: "shared",
    s.LogState.PENDING: "pending",
    s.LogState.DONE: "done",
    s.LogState.QUARANTINED: "quarantined",
    s.LogState.SKIPPED: "skipped",
    s.LogState.HELD: "held",
}


def records(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    states: Sequence[s.LogState],
    *,
    limit: int | None = None,
    offset: int = 0,
    table: str | None = None,
    op: str | None = None,
    device_id: str | None = None,
    before_id: int | None = None,
) -> list[LogRecord]:
    """Return log rows in the given states, newest first, for display.

    ``before_id`` pages by key (only ids below it): unlike ``offset`` it costs the
    same deep in a long log.
    """
    query = sa.select(s.log).where(s.log.c.state.in_([int(x) for x in states]))
    if table is not None:
        query = query.where(s.log.c.tbl == table)
    if op is not None:
        query = query.where(s.log.c.op == _CODES[Op(op)])  # Op() raises ValueError on an unknown name
    if device_id is not None:
        query = query.where(s.log.c.device_id == device_id)
    if before_id is not None:
        query = query.where(s.log.c.id < before_id)
    query = query.order_by(s.log.c.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    out = []
    found = conn.execute(query).all()
    reader = CapturedReader(conn)
    captured = {row[0]: row for row in reader.rows([r.id for r in found if r.state == s.LogState.CAPTURED])}
    for row in found:
        state = s.LogState(row.state)
        if state is s.LogState.CAPTURED and row.tbl in catalog and row.id in captured:
            key, data, before = reader.decode(catalog[row.tbl], captured[row.id])
            pk: Any = list(key)
            old: Any = before if row.op != "I" else None
            if row.op == "D":
                data = {}
            op = _OPS[row.op].value
        else:
            pk, data, old = _safe_loads(row.pk), _safe_loads(row.data), _safe_loads(row.old)
            op = _OPS[row.op].value if row.op in _OPS else row.op
        out.append(
            LogRecord(row.id, _STATE_NAMES[state], row.tbl, pk, op, row.version, row.device_id, data, old, row.reason)
        )
    return out


def _safe_loads(text: str | None) -> Any:
    try:
        return loads(text)
    except ValueError:
        return text


def quarantined(conn: sa.Connection, ids: Sequence[int] | None = None) -> list[QuarantinedEntry]:
    """Return quarantined entries (all, or those with the given ids), oldest first."""
    query = sa.select(s.log).where(s.log.c.state == s.LogState.QUARANTINED)
    if ids is not None:
        query = query.where(s.log.c.id.in_(list(ids)))
    out = []
    for row in conn.execute(query.order_by(s.log.c.id)).all():
        out.append(
            QuarantinedEntry(
                id=row.id,
                reason=row.reason or "",
                table=row.tbl,
                pk=_safe_loads(row.pk),
                op=_OPS[row.op].value if row.op in _OPS else row.op,
                version=row.version,
                device_id=row.device_id,
                data=_safe_loads(row.data),
            )
        )
    return out


def requeue(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Put quarantined entries back to pending, to be integrated again."""
    for part in _chunks(ids):
        conn.execute(
            s.log.update()
            .where(s.log.c.id.in_(part), s.log.c.state == s.LogState.QUARANTINED)
            .values(state=s.LogState.PENDING, reason=None)
        )


def skip(conn: sa.Connection, ids: Sequence[int]) -> None:
    """Give up on quarantined entries; they are kept, marked skipped."""
    for part in _chunks(ids):
        conn.execute(
            s.log.update()
            .where(s.log.c.id.in_(part), s.log.c.state == s.LogState.QUARANTINED)
            .values(state=s.LogState.SKIPPED)
        )
