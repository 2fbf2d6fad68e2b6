"""Deciding a conflict: a conflict, its row's registers and a choice in; the local change that shares it out.

A decision becomes a local entry whose base lists *every* version involved in
the conflict (the local one, each remote one, and the row's current ones). Every
other device holds one of those versions, so it takes the decision as a plain
overwrite, no new conflict, and, the decision being newer than all of them,
every device converges on it. The same entry settles the conflict where it is
still open (:func:`syncengine.core.settlement`).

Constraint conflicts hold the received entries themselves: taking the remote
side applies them (which the database may still refuse); taking the local side
shares a change that undoes them everywhere; a custom value applies them with the
columns a person corrected.

The caller (``syncengine._decisions``) loads the conflict and the row, converts a
person's value to the columns' types, writes what is decided here, and checks it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..errors import ConfigurationError, ConflictError
from ..model import PK, ROW, Conflict, Entry, Op
from ..reconcile import Action, RowPlan, RowState, merge, reconcile
from ._settle import last_writer, versions_of

Take = Literal["auto", "local", "remote"]
Choice = Literal["auto", "local", "remote", "custom"]


class _NoValue(enum.Enum):
    NO_VALUE = enum.auto()

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue.NO_VALUE
"""Stands for "no custom value given" (None is a value: it empties a field)."""


def choose(take: Take | None, value: Any) -> Choice:
    """Check that exactly one of a side to take or a custom value was given; return the choice."""
    if value is not NO_VALUE:
        if take is not None:
            raise ConfigurationError("give either a side to take or a custom value, not both")
        return "custom"
    if take not in ("auto", "local", "remote"):
        raise ConfigurationError("take must be 'auto', 'local' or 'remote' (or give a custom value)")
    return take


@dataclass(frozen=True, slots=True)
class Row:
    """The decided row as this device holds it: registers, whether the table has it, its key columns."""

    table: str
    pk: PK
    pk_columns: tuple[str, ...]
    state: RowState
    present: bool


@dataclass(slots=True)
class Decision:
    """What deciding a conflict does on this device.

    ``value`` is what the conflict is decided to (a field's value, a row dict, or
    None for a deleted row). ``writes`` are the writes to the user table (none when
    the row stays as it is); ``state`` the row's registers after; ``entry`` the
    local change that shares the decision (None when taking the remote side of a
    constraint conflict: its held entries simply apply).
    """

    choice: Choice
    value: Any
    entry: Entry | None
    state: RowState
    writes: list[RowPlan] = field(default_factory=list)


def decide(
    conflict: Conflict,
    row: Row,
    choice: Choice,
    custom: Any,
    *,
    version: str,
    device_id: str,
    held: Sequence[Entry] = (),
) -> Decision:
    """Decide ``conflict`` on ``row`` by ``choice`` at ``version``; ``custom`` is the value converted to the columns.

    ``held`` are a constraint conflict's held entries. Raises ConflictError when
    the choice cannot be taken (a constraint conflict has no automatic result) and
    ConfigurationError when a custom value has the wrong shape.
    """
    if conflict.kind == "constraint":
        return _constraint(conflict, row, choice, custom, version, device_id, held)
    if conflict.field is not None:
        return _field(conflict, conflict.field, row, choice, custom, version, device_id)
    return _whole_row(conflict, row, choice, custom, version, device_id)


def _involved(conflict: Conflict, state: RowState) -> set[str]:
    return versions_of(conflict) | {v for v in (state.exists, *state.fields.values()) if v}


def _field(
    conflict: Conflict, name: str, row: Row, choice: Choice, custom: Any, version: str, device_id: str
) -> Decision:
    state = row.state
    if choice == "custom":
        final = custom
    elif choice == "local":
        final = state.values.get(name)
    elif choice == "remote":
        final = conflict.remote
    elif conflict.kind == "diverged":
        final = conflict.auto  # the same version on both sides: no writer is later; the local value stays
    else:
        final = last_writer(state, name, conflict.remotes)
    base = {name: sorted(_involved(conflict, state))}
    entry = Entry(version, device_id, row.table, row.pk, Op.UPDATE, {name: final}, {name: state.values.get(name)}, base)
    writes = [RowPlan(row.table, row.pk, Action.UPDATE, {name: final}, state)] if state.alive else []
    return Decision(choice, final, entry, _after(state, entry), writes)


def _whole_row(conflict: Conflict, row: Row, choice: Choice, custom: Any, version: str, device_id: str) -> Decision:
    state = row.state
    local_row = dict(state.values) if state.alive else None
    final: dict[str, Any] | None
    if choice == "custom":
        if not isinstance(custom, dict):
            raise ConfigurationError("a custom value for a whole-row conflict is a JSON object of column values")
        final = {**(local_row or conflict.remote or conflict.local or {}), **custom}
    elif choice == "local":
        final = local_row
    elif choice == "remote":
        final = conflict.remote
    else:
        final = conflict.auto
    entry = _row_entry(row, version, device_id, final, _involved(conflict, state), local_row)
    writes = []
    if final is None:
        if state.alive:
            writes.append(RowPlan(row.table, row.pk, Action.DELETE, {}, state))
    else:
        final = {**final, **_key(row)}
        writes.append(_put(row, final, exists=state.alive))
    return Decision(choice, final, entry, _after(state, entry), writes)


def _constraint(
    conflict: Conflict,
    row: Row,
    choice: Choice,
    custom: Any,
    version: str,
    device_id: str,
    held: Sequence[Entry],
) -> Decision:
    if choice == "auto":
        raise ConflictError(
            f"conflict {conflict.id} broke a constraint ({conflict.reason}); it has no automatic result: "
            "take local, take remote, or give a value"
        )
    state = row.state
    if choice == "remote":
        plan = reconcile(held, {(row.table, row.pk): state})
        after = plan.rows[0].state if plan.rows else state
        return Decision(choice, dict(after.values) if plan.rows and after.alive else None, None, after, plan.rows)
    local_row = dict(state.values) if row.present else None
    remote_state = state.copy()
    for entry in held:
        merge(remote_state, entry)
    writes = []
    final: dict[str, Any] | None
    if choice == "local":
        final = local_row
    else:
        if not isinstance(custom, dict):
            raise ConfigurationError("a custom value for a constraint conflict is a JSON object of column values")
        start = dict(remote_state.values) if remote_state.alive else local_row or {}
        final = {**start, **custom, **_key(row)}
        writes.append(_put(row, final, exists=row.present, state=state))
    involved = {e.version for e in held} | {v for v in (state.exists, *state.fields.values()) if v}
    entry = _row_entry(row, version, device_id, final, involved, local_row)
    return Decision(choice, final, entry, _after(remote_state, entry), writes)


def _key(row: Row) -> dict[str, Any]:
    return dict(zip(row.pk_columns, row.pk, strict=True))


def _put(row: Row, final: Mapping[str, Any], *, exists: bool, state: RowState | None = None) -> RowPlan:
    """The write that makes the row hold ``final``: an update of its other columns, or an insert."""
    state = state if state is not None else row.state
    if exists:
        columns = {c: v for c, v in final.items() if c not in row.pk_columns}
        return RowPlan(row.table, row.pk, Action.UPDATE, columns, state)
    return RowPlan(row.table, row.pk, Action.INSERT, dict(final), state)


def _row_entry(
    row: Row,
    version: str,
    device_id: str,
    final: Mapping[str, Any] | None,
    involved: set[str],
    local_row: dict[str, Any] | None,
) -> Entry:
    # Listing every version under the row's key covers each field too (see base_versions).
    base = {ROW: sorted(involved)}
    if final is None:
        return Entry(version, device_id, row.table, row.pk, Op.DELETE, {}, local_row, base)
    return Entry(version, device_id, row.table, row.pk, Op.INSERT, {**final, **_key(row)}, local_row, base)


def _after(state: RowState, entry: Entry) -> RowState:
    """The registers once the decision's entry is merged (a delete keeps the row's values as its tombstone)."""
    after = state.copy()
    if entry.op is Op.DELETE and entry.old:
        after.values = dict(entry.old)
    merge(after, entry)
    return after
