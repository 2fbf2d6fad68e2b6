"""Deciding a conflict on this device: load it, let :func:`syncengine.core.decide` choose, write the result.

A decision is one transaction. It stamps local writes first (the decision is
based on them), writes the decided value into the local database (without
capture), records the row's new registers, and adds the decision as a stamped
local entry ready to share. What the decision is, and why every device converges
on it, is :mod:`syncengine.core._decide`'s part; this module is its I/O. It keeps
what undoing the decision needs until a sync sends it (:mod:`syncengine._undo`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from . import _undo, core, values
from ._undo import forget_sent, undo
from ._undo import problem as undo_problem
from .errors import ConflictError
from .reconcile import Plan
from .store import SyncedTable, Tx

__all__ = ["coerce", "decide", "forget_sent", "undo", "undo_problem"]


def decide(
    tx: Tx,
    device_id: str,
    conflict_id: int,
    *,
    take: core.Take | None,
    value: Any = core.NO_VALUE,
    now: float,
) -> None:
    """Decide one open conflict in the caller's transaction; raise :class:`ConflictError` when it cannot be.

    ``now`` is the wall time (seconds) the decision is made at.
    """
    found = tx.conflicts(ids=[conflict_id], include_decided=True)
    if not found:
        raise ConflictError(f"no conflict with id {conflict_id}")
    conflict = found[0]
    if not conflict.is_open:
        raise ConflictError(f"conflict {conflict_id} was already decided ({conflict.decision}, {conflict.decided_how})")
    synced = tx.catalog.get(conflict.table)
    if synced is None:
        raise ConflictError(f"conflict {conflict_id} is on table {conflict.table!r}, which this device no longer syncs")
    choice = core.choose(take, value)
    custom = _custom(synced, conflict.field, value) if choice == "custom" else None
    tx.stamp(device_id)  # local writes come first: the decision is based on them
    key = (conflict.table, conflict.pk)
    loaded = tx.load_states([key])[key]
    row_before = _undo.before(loaded)
    held = tx.held(conflict.id) if conflict.kind == "constraint" else []
    clock = tx.clock(device_id)
    version = clock.tick(int(now * 1000))
    row = core.Row(conflict.table, conflict.pk, synced.pk_columns, loaded.state, loaded.present)
    decision = core.decide(conflict, row, choice, custom, version=version, device_id=device_id, held=held)
    if conflict.kind != "constraint" or choice == "custom":  # a value chosen here: the other sides were checked
        _check(synced, conflict.field, decision.value)
    failures = tx.execute(Plan(decision.writes))
    if failures:
        if decision.entry is None:
            raise ConflictError(
                f"the remote change still breaks a constraint ({failures[0].reason}); "
                "change the conflicting local row first, or take local, or give a value"
            )
        reason = failures[0].reason  # often "the database refused the write: …" already: say it once
        raise ConflictError(reason if reason.startswith("the database refused") else f"the database refused the decided value: {reason}")
    tx.save_registers([(conflict.table, loaded.text, decision.state, loaded.stored)])
    _undo.remember(tx, conflict, row_before, decision.state, decided=version, entry=decision.entry, held=held)
    if decision.entry is not None:
        tx.add_local(decision.entry)
    if held:
        tx.finish([e.log_id for e in held if e.log_id is not None], cleanup=False)
    tx.save_clock(clock)
    tx.close_conflict(
        conflict_id, decision=choice, value=decision.value, by=device_id, how="person", version=version, now=now
    )


def _custom(synced: SyncedTable, field: str | None, value: Any) -> Any:
    """A person's value converted to the columns' types: a field's value, or a dict for a whole row."""
    if field is not None:
        return coerce(synced, {field: value})[field]
    return coerce(synced, value) if isinstance(value, dict) else value


def _check(synced: SyncedTable, field: str | None, value: Any) -> None:
    if field is not None:
        problem = synced.problem({field: value}, whole_row=False, strict=True)
    else:
        problem = None if value is None else synced.problem(value, whole_row=True, strict=True)
    if problem is not None:
        raise ConflictError(problem)


def coerce(synced: SyncedTable, data: Mapping[str, Any]) -> dict[str, Any]:
    """Turn values as a person gives them into values of each column's type.

    A value may be JSON (an ISO string for a date, a number or a string for a
    decimal, a tagged object such as ``{"$n": "23.00"}``) or already the Python
    value of the column (``Decimal``, ``datetime``, ``date``, ``time``, ``bytes``,
    ``UUID``…). Raise :class:`ConflictError` when it cannot be one of the column's.
    """
    out: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in synced.table.columns:
            raise ConflictError(f"table {synced.name!r} has no column {name!r}")
        try:
            value = values.accept(raw)
        except ValueError as exc:
            raise ConflictError(f"value {raw!r} does not fit column {synced.name}.{name}: {exc}") from exc
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
        if isinstance(column_type, sqltypes.Float) and isinstance(value, int | str | Decimal) and not isinstance(value, bool):
            return float(value)
        numeric = isinstance(column_type, sqltypes.Numeric) and column_type.asdecimal
        if numeric and isinstance(value, int | float | str) and not isinstance(value, bool):
            return Decimal(str(value))
        if isinstance(column_type, sqltypes.Uuid) and column_type.as_uuid and isinstance(value, str):
            return uuid.UUID(value)
        if isinstance(column_type, sqltypes.Integer) and isinstance(value, Decimal) and value == value.to_integral_value():
            return int(value)  # a whole number typed into a decimal field, say
        midnight = isinstance(value, dt.datetime) and value.time() == dt.time() and value.tzinfo is None
        if isinstance(column_type, sqltypes.Date) and midnight:
            return value.date()  # a date picked in a datetime editor
    except (ValueError, InvalidOperation) as exc:
        raise ConflictError(f"value {value!r} does not fit column {where}: {exc}") from exc
    return value
