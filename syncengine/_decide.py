"""Deciding a conflict: write the chosen value, and share it as a new local change.

A decision is one transaction. It writes the chosen value into the local database
(without capture), records the row's new registers, and adds a stamped local entry
whose base lists *every* version involved in the conflict (the local one, each
remote one, and the row's current ones). Every other device holds one of those
versions, so it takes the decision as a plain update — no new conflict — and,
the decision being newer than all of them, every device converges on it. An
incoming decision also closes the same conflict where it is still open.

Constraint conflicts hold the received entries themselves: taking the remote side
applies them (and fails, changing nothing, while they still break the
constraint); taking the local side shares a change that undoes them everywhere; a
custom value applies them with the columns a person corrected.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from . import values
from .errors import ConfigurationError, ConflictError
from .model import ROW, Entry, Op
from .reconcile import Action, RowPlan, RowState, merge, reconcile
from .store import _client as client
from .store import _conflicts as conflicts
from .store._apply import execute_plan
from .store._catalog import SyncedTable

Take = Literal["auto", "local", "remote"]
_NO_VALUE = object()


def decide(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    conflict_id: int,
    *,
    take: Take | None,
    value: Any = _NO_VALUE,
) -> None:
    """Decide one open conflict in the caller's transaction; raise :class:`ConflictError` when it cannot be."""
    rows = conflicts.query(conn, ids=[conflict_id], include_decided=True)
    if not rows:
        raise ConflictError(f"no conflict with id {conflict_id}")
    row = rows[0]
    if row.status != conflicts.OPEN:
        raise ConflictError(f"conflict {conflict_id} was already decided ({row.decision}, {row.decided_how})")
    synced = catalog.get(row.tbl)
    if synced is None:
        raise ConflictError(f"conflict {conflict_id} is on table {row.tbl!r}, which this device no longer syncs")
    client.stamp(conn, catalog, device_id)  # local writes come first: the decision is based on them
    pk = tuple(client.loads(row.pk))
    loaded = client.load_states(conn, catalog, [(row.tbl, pk)])[(row.tbl, pk)]
    clock = client.load_clock(conn, device_id)
    version = clock.tick(int(time.time() * 1000))
    if row.kind == "constraint":
        choice, final = _decide_constraint(conn, catalog, device_id, row, synced, pk, loaded, version, take, value)
    else:
        choice, final = _decide_plain(conn, catalog, device_id, row, synced, pk, loaded, version, take, value)
    client.save_clock(conn, clock)
    conflicts.close(
        conn, conflict_id, decision=choice, value=final, by=device_id, how="person", version=version, now=time.time()
    )


def _choice(take: Take | None, value: Any) -> str:
    if value is not _NO_VALUE:
        if take is not None:
            raise ConfigurationError("give either a side to take or a custom value, not both")
        return "custom"
    if take not in ("auto", "local", "remote"):
        raise ConfigurationError("take must be 'auto', 'local' or 'remote' (or give a custom value)")
    return take


def _decide_plain(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    row: Any,
    synced: SyncedTable,
    pk: tuple[Any, ...],
    loaded: client.LoadedRow,
    version: str,
    take: Take | None,
    value: Any,
) -> tuple[str, Any]:
    choice = _choice(take, value)
    state = loaded.state
    involved = conflicts.versions_of(row) | {v for v in (state.exists, *state.fields.values()) if v}
    if row.field is not None:
        field = row.field
        if choice == "custom":
            final = coerce(synced, {field: value})[field]
        elif choice == "local":
            final = state.values.get(field)
        elif choice == "remote":
            final = client.loads(row.remote)
        else:
            final = _auto_field(row, state, field)
        _check(synced, {field: final}, whole_row=False)
        base = {field: sorted(involved)}
        entry = Entry(
            version, device_id, synced.name, pk, Op.UPDATE, {field: final}, {field: state.values.get(field)}, base
        )
        if state.alive:
            _write(conn, catalog, RowPlan(synced.name, pk, Action.UPDATE, {field: final}, state))
    else:
        local_row = dict(state.values) if state.alive else None
        if choice == "custom":
            if not isinstance(value, dict):
                raise ConfigurationError("a custom value for a whole-row conflict is a JSON object of column values")
            start = local_row or client.loads(row.remote) or client.loads(row.local) or {}
            final = {**start, **coerce(synced, value)}
        elif choice == "local":
            final = local_row
        elif choice == "remote":
            final = client.loads(row.remote)
        else:
            final = client.loads(row.auto)
        entry = _row_entry(synced, pk, version, device_id, final, involved, local_row)
        if final is None:
            if state.alive:
                _write(conn, catalog, RowPlan(synced.name, pk, Action.DELETE, {}, state))
        else:
            final = {**final, **dict(zip(synced.pk_columns, pk, strict=True))}
            _check(synced, final, whole_row=True)
            action = Action.UPDATE if state.alive else Action.INSERT
            columns = {c: v for c, v in final.items() if c not in synced.pk_columns} if state.alive else final
            _write(conn, catalog, RowPlan(synced.name, pk, action, columns, state))
    _commit_entry(conn, loaded, entry)
    return choice, final


def _auto_field(row: Any, state: RowState, field: str) -> Any:
    """Last writer wins among the current local version and every remote one."""
    best_version, best = state.fields.get(field, ""), state.values.get(field)
    for remote in conflicts._remote_list(row.remotes):
        if remote["version"] > best_version:
            best_version, best = remote["version"], client.loads(remote["value"])
    return best


def _row_entry(
    synced: SyncedTable,
    pk: tuple[Any, ...],
    version: str,
    device_id: str,
    final: dict[str, Any] | None,
    involved: set[str],
    local_row: dict[str, Any] | None,
) -> Entry:
    # Listing every version under the row's key covers each field too (see base_versions).
    base = {ROW: sorted(involved)}
    if final is None:
        return Entry(version, device_id, synced.name, pk, Op.DELETE, {}, local_row, base)
    data = {**final, **dict(zip(synced.pk_columns, pk, strict=True))}
    return Entry(version, device_id, synced.name, pk, Op.INSERT, data, local_row, base)


def _commit_entry(conn: sa.Connection, loaded: client.LoadedRow, entry: Entry) -> None:
    state = loaded.state
    if entry.op is Op.DELETE and entry.old:
        state.values = dict(entry.old)
    merge(state, entry)
    client.save_states(conn, [(entry.table, entry.pk, state, loaded.stored)])
    client.add_local(conn, entry)


def _decide_constraint(
    conn: sa.Connection,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    row: Any,
    synced: SyncedTable,
    pk: tuple[Any, ...],
    loaded: client.LoadedRow,
    version: str,
    take: Take | None,
    value: Any,
) -> tuple[str, Any]:
    choice = _choice(take, value)
    if choice == "auto":
        raise ConflictError(
            f"conflict {row.id} broke a constraint ({row.reason}); it has no automatic result: "
            "take local, take remote, or give a value"
        )
    held_rows = client.held(conn, int(row.id))
    held = [client.entry_of(r) for r in held_rows]
    state = loaded.state
    involved = {e.version for e in held} | {v for v in (state.exists, *state.fields.values()) if v}
    if choice == "remote":
        plan = reconcile(held, {(synced.name, pk): state})
        failures = execute_plan(conn, catalog, plan.rows)
        if failures:
            raise ConflictError(
                f"the remote change still breaks a constraint ({failures[0].reason}); "
                "change the conflicting local row first, or take local, or give a value"
            )
        for planned in plan.rows:
            client.save_states(conn, [(planned.table, planned.pk, planned.state, loaded.stored)])
        final = dict(plan.rows[0].state.values) if plan.rows and plan.rows[0].state.alive else None
    else:
        local_row = dict(state.values) if loaded.present else None
        remote_state = state.copy()
        for entry in held:
            merge(remote_state, entry)
        if choice == "local":
            final = local_row
        else:
            if not isinstance(value, dict):
                raise ConfigurationError("a custom value for a constraint conflict is a JSON object of column values")
            final = {**(dict(remote_state.values) if remote_state.alive else local_row or {}), **coerce(synced, value)}
            final.update(zip(synced.pk_columns, pk, strict=True))
            _check(synced, final, whole_row=True)
            action = Action.UPDATE if loaded.present else Action.INSERT
            columns = {c: v for c, v in final.items() if c not in synced.pk_columns} if loaded.present else final
            _write(conn, catalog, RowPlan(synced.name, pk, action, columns, state))
        entry = _row_entry(synced, pk, version, device_id, final, involved, local_row)
        tracked = client.LoadedRow(remote_state, loaded.present, loaded.stored, loaded.text)
        _commit_entry(conn, tracked, entry)
    client.finish(conn, [r.id for r in held_rows], cleanup=False)
    return choice, final


def _write(conn: sa.Connection, catalog: Mapping[str, SyncedTable], plan_row: RowPlan) -> None:
    failures = execute_plan(conn, catalog, [plan_row])
    if failures:
        raise ConflictError(f"the database refused the decided value: {failures[0].reason}")


def _check(synced: SyncedTable, data: dict[str, Any], *, whole_row: bool) -> None:
    problem = synced.problem(data, whole_row=whole_row)
    if problem is not None:
        raise ConflictError(problem)


def coerce(synced: SyncedTable, data: Mapping[str, Any]) -> dict[str, Any]:
    """Turn JSON values (as a person types them) into values of each column's type."""
    out: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in synced.table.columns:
            raise ConflictError(f"table {synced.name!r} has no column {name!r}")
        value = values.decode(raw)
        if value is not None:
            value = _coerce(synced.table.columns[name].type, value, f"{synced.name}.{name}")
        out[name] = value
    return out


def _coerce(column_type: sa.types.TypeEngine[Any], value: Any, where: str) -> Any:
    try:
        if isinstance(column_type, sqltypes.DateTime) and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if isinstance(column_type, sqltypes.Date) and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if isinstance(column_type, sqltypes.Time) and isinstance(value, str):
            return dt.time.fromisoformat(value)
        if isinstance(column_type, sqltypes.Float) and isinstance(value, int | str) and not isinstance(value, bool):
            return float(value)
        numeric = isinstance(column_type, sqltypes.Numeric) and column_type.asdecimal
        if numeric and isinstance(value, int | float | str) and not isinstance(value, bool):
            return Decimal(str(value))
        if isinstance(column_type, sqltypes.Uuid) and column_type.as_uuid and isinstance(value, str):
            return uuid.UUID(value)
    except (ValueError, InvalidOperation) as exc:
        raise ConflictError(f"value {value!r} does not fit column {where}: {exc}") from exc
    return value
