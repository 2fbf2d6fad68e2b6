"""The conflicts table: open conflicts waiting for a person, and the history of decisions.

Functions take a connection inside the caller's transaction, like
:mod:`._client`; what a finding or a decision does to a conflict is decided in
:mod:`syncengine.core`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .._codec import dumps, loads
from ..core import joined
from ..model import PK, Conflict, RemoteValue
from ..reconcile import Finding
from . import _schema as s
from ._catalog import pk_key
from ._dialects import chunks

OPEN = "open"
DECIDED = "decided"


def _remote_list(text: str | None) -> list[dict[str, Any]]:
    return list(orjson.loads(text)) if text else []


def _remotes_json(remotes: Iterable[RemoteValue]) -> str:
    return orjson.dumps(
        [{"value": dumps(r.value), "version": r.version, "device_id": r.device_id} for r in remotes]
    ).decode()


def record(conn: sa.Connection, finding: Finding, *, device_id: str, now: float) -> int:
    """Store a finding: held ones open (or update the open conflict on the same spot), others decided."""
    remote = {"value": dumps(finding.remote), "version": finding.remote_version, "device_id": finding.remote_device}
    key = pk_key(finding.pk)
    if finding.held:
        existing = conn.execute(
            sa.select(s.conflicts).where(
                s.conflicts.c.status == OPEN,
                s.conflicts.c.tbl == finding.table,
                s.conflicts.c.pk == key,
                s.conflicts.c.kind == finding.kind,
                s.conflicts.c.field.is_(None) if finding.field is None else s.conflicts.c.field == finding.field,
            )
        ).first()
        if existing is not None:
            remotes, auto = joined(to_model(existing), finding)
            conn.execute(
                s.conflicts.update()
                .where(s.conflicts.c.id == existing.id)
                .values(
                    remote=dumps(remotes[-1].value),
                    remotes=_remotes_json(remotes),
                    auto=dumps(auto),
                    updated_at=now,
                )
            )
            return int(existing.id)
    values: dict[str, Any] = {
        "kind": finding.kind,
        "status": OPEN if finding.held else DECIDED,
        "held": 1 if finding.held else 0,
        "tbl": finding.table,
        "pk": key,
        "field": finding.field,
        "base": dumps(finding.base),
        "local": dumps(finding.local),
        "local_version": finding.local_version or None,
        "remote": dumps(finding.remote),
        "remotes": orjson.dumps([remote]).decode(),
        "auto": dumps(finding.auto),
        "reason": None,
        "created_at": now,
        "updated_at": now,
    }
    if not finding.held:
        values.update(
            decision="auto",
            decided_value=dumps(finding.auto),
            decided_by=device_id,
            decided_how="automatic",
            decided_at=now,
        )
    result = conn.execute(s.conflicts.insert().values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def record_constraint(
    conn: sa.Connection,
    *,
    table: str,
    pk: PK,
    local: Any,
    remote: Any,
    remotes: Sequence[tuple[str, str]],
    reason: str,
    now: float,
) -> int:
    """Open (or extend) a constraint conflict on a row; return its id."""
    key = pk_key(pk)
    remote_rows = [{"value": dumps(remote), "version": v, "device_id": d} for v, d in remotes]
    existing = conn.execute(
        sa.select(s.conflicts).where(
            s.conflicts.c.status == OPEN,
            s.conflicts.c.tbl == table,
            s.conflicts.c.pk == key,
            s.conflicts.c.kind == "constraint",
        )
    ).first()
    if existing is not None:
        known = {r["version"] for r in _remote_list(existing.remotes)}
        merged = _remote_list(existing.remotes) + [r for r in remote_rows if r["version"] not in known]
        conn.execute(
            s.conflicts.update()
            .where(s.conflicts.c.id == existing.id)
            .values(remote=dumps(remote), remotes=orjson.dumps(merged).decode(), reason=reason, updated_at=now)
        )
        return int(existing.id)
    result = conn.execute(
        s.conflicts.insert().values(
            kind="constraint",
            status=OPEN,
            held=1,
            tbl=table,
            pk=key,
            field=None,
            base=dumps(None),
            local=dumps(local),
            local_version=None,
            remote=dumps(remote),
            remotes=orjson.dumps(remote_rows).decode(),
            auto=dumps(None),
            reason=reason,
            created_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def close(
    conn: sa.Connection,
    conflict_id: int,
    *,
    decision: str,
    value: Any,
    by: str,
    how: str,
    version: str | None,
    now: float,
) -> None:
    """Mark a conflict decided."""
    conn.execute(
        s.conflicts.update()
        .where(s.conflicts.c.id == conflict_id)
        .values(
            status=DECIDED,
            decision=decision,
            decided_value=dumps(value),
            decided_by=by,
            decided_how=how,
            decided_at=now,
            decided_version=version,
            updated_at=now,
        )
    )


def reopen(conn: sa.Connection, conflict_id: int, *, now: float) -> None:
    """Open a decided conflict again, its decision forgotten (undoing a decision not shared yet)."""
    conn.execute(
        s.conflicts.update()
        .where(s.conflicts.c.id == conflict_id)
        .values(
            status=OPEN,
            decision=None,
            decided_value=None,
            decided_by=None,
            decided_how=None,
            decided_at=None,
            decided_version=None,
            updated_at=now,
        )
    )


def open_rows(conn: sa.Connection, keys: Iterable[tuple[str, PK]]) -> dict[tuple[str, str], list[Conflict]]:
    """Return the open conflicts on the given rows, by (table, pk text)."""
    if not has_open(conn):
        return {}
    return _on_rows(conn, keys, statuses=(OPEN,))


def settleable_rows(conn: sa.Connection, keys: Iterable[tuple[str, PK]]) -> dict[tuple[str, str], list[Conflict]]:
    """Return the conflicts on the given rows that a decision from elsewhere may still settle, by (table, pk text).

    Those are the open ones and the ones decided automatically (a person's
    decision elsewhere replaces them); meant for the few rows a decision reached.
    """
    c = s.conflicts.c
    return _on_rows(conn, keys, statuses=(OPEN, DECIDED), also=sa.or_(c.status == OPEN, c.decided_how == "automatic"))


def _on_rows(
    conn: sa.Connection,
    keys: Iterable[tuple[str, PK]],
    *,
    statuses: tuple[str, ...],
    also: sa.ColumnElement[bool] | None = None,
) -> dict[tuple[str, str], list[Conflict]]:
    """The conflicts of these statuses (meeting ``also``) on the given rows, oldest first, by (table, pk text).

    The statuses lead the query through the (status, table, key) index; ``chunks`` of keys a query.
    """
    out: dict[tuple[str, str], list[Conflict]] = {}
    wanted: dict[str, list[str]] = {}
    for table, pk in keys:
        wanted.setdefault(table, []).append(pk_key(pk))
    c = s.conflicts.c
    for table, texts in wanted.items():
        for part in chunks(texts):
            query = sa.select(s.conflicts).where(c.status.in_(statuses), c.tbl == table, c.pk.in_(part))
            if also is not None:
                query = query.where(also)
            for row in conn.execute(query.order_by(c.id)):
                out.setdefault((row.tbl, row.pk), []).append(to_model(row))
    return out


def has_open(conn: sa.Connection) -> bool:
    """Return whether any conflict is open (cheap: one indexed row)."""
    return conn.execute(sa.select(s.conflicts.c.id).where(s.conflicts.c.status == OPEN).limit(1)).first() is not None


def count_open(conn: sa.Connection) -> int:
    """Return how many conflicts are open."""
    return int(conn.execute(sa.select(sa.func.count()).where(s.conflicts.c.status == OPEN)).scalar_one())


def versions_of(row: Any) -> set[str]:
    """Return every version a conflict row involves: the local one and each remote one."""
    found = {r["version"] for r in _remote_list(row.remotes)}
    if row.local_version:
        found.add(row.local_version)
    return found


def to_model(row: Any) -> Conflict:
    """Return the public :class:`Conflict` of a conflicts-table row."""
    return Conflict(
        id=int(row.id),
        kind=row.kind,
        status=row.status,
        held=bool(row.held),
        table=row.tbl,
        pk=tuple(loads(row.pk)),
        field=row.field,
        base=loads(row.base),
        local=loads(row.local),
        local_version=row.local_version,
        remote=loads(row.remote),
        remotes=tuple(RemoteValue(loads(r["value"]), r["version"], r["device_id"]) for r in _remote_list(row.remotes)),
        auto=loads(row.auto),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decision=row.decision,
        decided_value=loads(row.decided_value),
        decided_by=row.decided_by,
        decided_how=row.decided_how,
        decided_at=row.decided_at,
    )


def query(
    conn: sa.Connection,
    *,
    include_decided: bool = False,
    table: str | None = None,
    ids: Sequence[int] | None = None,
    limit: int | None = None,
    offset: int = 0,
    status: str | None = None,
    newest_first: bool = False,
) -> list[Any]:
    """Return conflict rows: open ones (and decided ones with ``include_decided``), oldest first.

    ``status`` ("open" or "decided") selects one kind exactly.
    """
    q = sa.select(s.conflicts)
    if status is not None:
        q = q.where(s.conflicts.c.status == status)
    elif not include_decided:
        q = q.where(s.conflicts.c.status == OPEN)
    if table is not None:
        q = q.where(s.conflicts.c.tbl == table)
    if ids is not None:
        q = q.where(s.conflicts.c.id.in_(list(ids)))
    q = q.order_by(s.conflicts.c.id.desc() if newest_first else s.conflicts.c.id).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q).all())
