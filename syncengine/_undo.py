"""Undoing decisions made on this device before a sync shares them.

Deciding a conflict (``_decide.decide``) writes the row, its registers and a
local entry, and closes the conflict. Until that entry is put in a batch, no other
device can know of the decision, so it can be taken back exactly: the row and its
registers as they were before, the entry gone, held entries held again, the
conflict open. ``remember`` keeps what that needs, per conflict, in the device's
settings (``undo.<id>``); ``undo`` checks that nothing moved since (the entry is
still unsent, the row's registers are still the decision's) and restores it.

A decision whose entry was sent (or is in a batch being sent), or whose row changed
afterwards (a local write, a received change), can no longer be undone: the other
devices may hold it, or undoing would lose the later change. ``forget_sent`` drops
what can no longer be undone, so the settings hold only decisions not shared yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import values
from .errors import ConflictError
from .model import Conflict, Entry
from .reconcile import Action, Plan, RowPlan, RowState
from .store import LoadedRow, Tx

PREFIX = "undo."


def _key(conflict_id: int) -> str:
    return f"{PREFIX}{conflict_id}"


def _versions(state: RowState) -> dict[str, Any]:
    """A state's registers without its values, in a form that compares equal however they were stored."""
    return {
        "exists": state.exists,
        "alive": bool(state.alive),
        "fields": {c: v for c, v in sorted(state.fields.items()) if v != state.exists},
    }


def before(loaded: LoadedRow) -> dict[str, Any]:
    """What undoing needs of a row as it is before a decision (call before deciding: deciding may change it)."""
    state = loaded.state
    return {
        "text": loaded.text,
        "stored": loaded.stored,
        "present": loaded.present,
        "state": {**_versions(state), "values": values.encode(dict(state.values))},
    }


def remember(
    tx: Tx,
    conflict: Conflict,
    row_before: dict[str, Any],
    after: RowState,
    *,
    decided: str,
    entry: Entry | None,
    held: Sequence[Entry],
) -> None:
    """Keep what undoing a decision made at version ``decided`` needs (see the module docstring)."""
    tx.set_setting(
        _key(conflict.id),
        {
            **row_before,
            "decided": decided,
            "table": conflict.table,
            "pk": values.encode(list(conflict.pk)),
            "after": _versions(after),
            "version": entry.version if entry is not None else None,
            "held": [e.log_id for e in held if e.log_id is not None],
        },
    )


def problem(tx: Tx, conflict_ids: Sequence[int]) -> str | None:
    """Why these decisions cannot be undone now, or None when they can."""
    try:
        _plan(tx, conflict_ids)
    except ConflictError as exc:
        return str(exc)
    return None


def undo(tx: Tx, device_id: str, conflict_ids: Sequence[int], *, now: float) -> None:
    """Undo decisions made here and not shared yet, all or none; raise :class:`ConflictError` when one cannot be."""
    tx.stamp(device_id)  # a write made since the decision shows in the registers, and blocks the undo
    for conflict, saved, loaded, log_id in _plan(tx, conflict_ids):
        _restore_row(tx, conflict, saved, loaded)
        if log_id is not None:
            tx.finish([log_id], cleanup=True)
        if saved["held"]:
            tx.hold(saved["held"], conflict.id)
        tx.reopen_conflict(conflict.id, now=now)
    tx.drop_settings(_key(i) for i in conflict_ids)


def forget_sent(tx: Tx) -> None:
    """Drop what undoing needs for decisions whose entries were put in a batch since (they can no longer be undone)."""
    saved = tx.settings(PREFIX)
    gone = [key for key, snap in saved.items() if snap is None or (snap["version"] and tx.unsent_local(snap["version"]) is None)]
    if gone:
        tx.drop_settings(gone)


def _plan(tx: Tx, conflict_ids: Sequence[int]) -> list[tuple[Conflict, dict[str, Any], LoadedRow, int | None]]:
    """Check each decision can be undone; return them newest first (a later decision on the same row goes first)."""
    found = {c.id: c for c in tx.conflicts(ids=list(conflict_ids), include_decided=True)}
    steps = []
    for conflict_id in conflict_ids:
        conflict = found.get(conflict_id)
        saved = tx.setting(_key(conflict_id))
        if conflict is None or conflict.is_open or saved is None or conflict.decided_how != "person":
            raise ConflictError(f"conflict {conflict_id} has no decision made on this device to undo")
        log_id = tx.unsent_local(saved["version"]) if saved["version"] else None
        if saved["version"] and log_id is None:
            raise ConflictError(f"the decision on conflict {conflict_id} was already sent to the shared log")
        steps.append((conflict, saved, log_id))
    steps.sort(key=lambda step: str(step[1]["decided"]), reverse=True)  # versions sort in clock order
    keys = [(c.table, c.pk) for c, _, _ in steps]
    loaded = tx.load_states(keys)
    out = []
    expected: dict[tuple[str, Any], dict[str, Any]] = {}  # registers each row will have once later decisions are undone
    for conflict, saved, log_id in steps:
        key = (conflict.table, conflict.pk)
        now = expected.get(key, _versions(loaded[key].state))
        if now != saved["after"]:
            raise ConflictError(f"the row of conflict {_named(conflict)} changed after the decision")
        expected[key] = {k: saved["state"][k] for k in ("exists", "alive", "fields")}
        out.append((conflict, saved, loaded[key], log_id))
    return out


def _named(conflict: Conflict) -> str:
    return f"{conflict.id} ({conflict.table} {', '.join(map(str, conflict.pk))})"


def _restore_row(tx: Tx, conflict: Conflict, saved: dict[str, Any], loaded: LoadedRow) -> None:
    """Write the row and its registers back as they were before the decision."""
    state = saved["state"]
    old = RowState(state["exists"], state["alive"], dict(state["fields"]), values.decode(state["values"]))
    synced = tx.catalog[conflict.table]
    present_now = bool(tx.rows(conflict.table, [conflict.pk]))
    writes = []
    if saved["present"]:
        row = {**old.values, **dict(zip(synced.pk_columns, conflict.pk, strict=True))}
        if present_now:
            columns = {c: v for c, v in row.items() if c not in synced.pk_columns}
            writes.append(RowPlan(conflict.table, conflict.pk, Action.UPDATE, columns, loaded.state))
        else:
            writes.append(RowPlan(conflict.table, conflict.pk, Action.INSERT, row, loaded.state))
    elif present_now:
        writes.append(RowPlan(conflict.table, conflict.pk, Action.DELETE, {}, loaded.state))
    failures = tx.execute(Plan(writes)) if writes else []
    if failures:
        raise ConflictError(f"the row of conflict {conflict.id} cannot be put back: {failures[0].reason}")
    if saved["stored"]:
        tx.save_registers([(conflict.table, saved["text"], old, True)])
    else:
        tx.forget_registers(conflict.table, saved["text"])
