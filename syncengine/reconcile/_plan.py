"""The default reconciler: received entries plus local row states in, a plan out.

Pure: no database, no network, no clock. The caller (``syncengine._integrate``)
loads the states of the rows a batch touches through the store, calls
:func:`reconcile`, and hands the plan to an executor that writes it in the
batch's transaction.

Policy: per-field last-writer-wins on the hybrid clock; a delete and an insert
compete on the row's existence register, so a delete beats an older or concurrent
edit and a later insert recreates the row (see :mod:`._state`). A second insert of
a live key either merges field by field (``double_create="merge"``, the default) or
raises :class:`~syncengine.errors.ReconcileError` (``"error"``) unless both inserts
carried the same values.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .._gc import paused
from ..errors import ReconcileError
from ..model import PK, Entry, Op
from ._conflicts import Finding, detect
from ._state import DOUBLE_CREATE, EXISTENCE_CHANGED, RowState, merge_into


class Action(enum.StrEnum):
    """The write a plan makes to one row of a user table."""

    NONE = "none"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True)
class RowPlan:
    """The planned write to one row, the row's sync state after it, and its conflicts."""

    table: str
    pk: PK
    action: Action
    values: dict[str, Any]
    state: RowState
    entries: list[Entry] = field(default_factory=list)
    conflicts: list[Finding] = field(default_factory=list)
    held: int = 0
    """How many of ``entries`` were held whole for a person's review: nothing of them is applied yet."""


@dataclass(slots=True)
class Plan:
    """Every row write of one batch: ``rows`` in a stable order (table, then entry order), and ``new``.

    ``new`` is the bulk part: inserts of rows this device knows nothing of, each
    the only entry of its key. Each is written as it is and its row's registers are
    all at its version (:func:`created_row` is the same row as a :class:`RowPlan`);
    they need no state, no conflict check and no per-row object. Most of an
    initial sync is this part.
    """

    rows: list[RowPlan] = field(default_factory=list)
    new: list[Entry] = field(default_factory=list)

    def writes(self) -> list[RowPlan]:
        """Return the rows whose user-table row changes (the bulk part included, as rows)."""
        return [r for r in self.rows if r.action is not Action.NONE] + [created_row(e) for e in self.new]

    @property
    def conflicts(self) -> list[Finding]:
        """Every conflict found, in row order."""
        return [c for r in self.rows for c in r.conflicts]

    def __iter__(self) -> Iterator[RowPlan]:
        """The plan as rows, its bulk part included: executors written for ``(conn, catalog, rows)`` keep working."""
        return iter(self.expanded().rows)

    def __len__(self) -> int:
        return len(self.rows) + len(self.new)

    def expanded(self) -> Plan:
        """The same plan with its bulk part as rows (what a plan processor is given)."""
        if not self.new:
            return self
        return Plan(self.rows + [created_row(e) for e in self.new])


def created_row(entry: Entry) -> RowPlan:
    """The row an insert of a row this device knows nothing of makes: the entry's values, every register at its version."""
    data = dict(entry.data)
    state = RowState(entry.version, True, dict.fromkeys(data, entry.version), dict(data))
    return RowPlan(entry.table, entry.pk, Action.INSERT, dict(data), state, [entry])


DoubleCreate = Literal["merge", "error"]


class Reconciler(Protocol):
    """Turns received entries and the local states of their rows into a plan."""

    def __call__(
        self,
        entries: Sequence[Entry],
        local: Mapping[tuple[str, PK], RowState],
    ) -> Plan:
        """Return the plan; must not touch ``local``'s states in place."""
        ...


PlanProcessor = Callable[[Plan], Plan]


def reconcile(
    entries: Iterable[Entry],
    local: Mapping[tuple[str, PK], RowState],
    *,
    double_create: DoubleCreate = "merge",
    review: bool | Callable[[str], bool] = False,
    bulk: bool = False,
) -> Plan:
    """Fold ``entries`` into copies of the local row states and plan the writes.

    ``local`` maps (table, pk) to the row's state; a missing row means nothing is
    known of it. With ``bulk``, an insert that is the only entry of a key nothing
    is known of goes to the plan's bulk part (:attr:`Plan.new`) instead of ``rows``. Conflicts are reported on each row (see :mod:`._conflicts`); with
    ``review`` true (or true for the row's table) their conflicting part is held:
    not merged, so the local value stays. Without holds, the resulting rows do not
    depend on the order of ``entries``.
    """
    in_review = review if callable(review) else (lambda _table: bool(review))
    with paused():  # planning frees nothing it allocates until it returns (see syncengine._gc)
        by_row: dict[tuple[str, PK], list[Entry]] = {}
        for entry in entries:
            key = (entry.table, entry.pk)
            bucket = by_row.get(key)
            if bucket is None:
                by_row[key] = [entry]
            else:
                bucket.append(entry)
        plan = Plan()
        review_of: dict[str, bool] = {}
        rows = plan.rows
        new = plan.new
        insert = Op.INSERT
        for key, row_entries in by_row.items():
            before = local.get(key)
            if len(row_entries) == 1 and row_entries[0].op is insert and (before is None or _blank(before)):
                if bulk:  # a row this device never knew, created once
                    new.append(row_entries[0])
                else:
                    rows.append(created_row(row_entries[0]))
                continue
            table = key[0]
            held = review_of.get(table)
            if held is None:
                held = review_of[table] = in_review(table)
            rows.append(_plan_row(key, row_entries, before, double_create, held))
        return plan


def _blank(state: RowState) -> bool:
    """Whether a row's state records no version at all (sync never saw it)."""
    return not (state.exists or state.fields)


def _plan_row(
    key: tuple[str, PK],
    entries: list[Entry],
    before: RowState | None,
    double_create: DoubleCreate,
    review: bool,
) -> RowPlan:
    state = before.copy() if before is not None else RowState()
    was_alive = state.alive
    if len(entries) > 1:
        entries.sort(key=lambda e: e.version)
    changed: set[str] = set()
    conflicts: list[Finding] = []
    held = 0
    for entry in entries:
        found, to_merge = detect(state, entry, review=review)
        waits = False
        if found:
            conflicts += found
            waits = any(f.held for f in found)
        if to_merge is None:
            held += waits
            continue
        moved: set[str] = set() if waits else changed  # its own set only when part of it waits (rare)
        snapshot = dict(state.values) if double_create == "error" else None
        flags = merge_into(state, to_merge, moved)
        if snapshot is not None and flags & DOUBLE_CREATE:
            _refuse_double_create(key, to_merge, snapshot)
        if waits:
            if not moved and not flags & EXISTENCE_CHANGED:
                held += 1  # what it changes waits for a person; the rest it holds is what the row holds
            changed |= moved
    table, pk = key
    row = _row_plan(table, pk, state, was_alive, changed, entries)
    row.conflicts, row.held = conflicts, held
    return row


def _row_plan(table: str, pk: PK, state: RowState, was_alive: bool, changed: set[str], entries: list[Entry]) -> RowPlan:
    if state.alive and not was_alive:
        return RowPlan(table, pk, Action.INSERT, dict(state.values), state, entries)
    if was_alive and not state.alive:
        return RowPlan(table, pk, Action.DELETE, {}, state, entries)
    if state.alive and changed:
        return RowPlan(table, pk, Action.UPDATE, {c: state.values[c] for c in changed}, state, entries)
    return RowPlan(table, pk, Action.NONE, {}, state, entries)


def _refuse_double_create(key: tuple[str, PK], entry: Entry, existing: dict[str, Any]) -> None:
    if all(existing.get(c, v) == v for c, v in entry.data.items()):
        return  # the same row created twice with the same values: nothing to decide
    table, pk = key
    raise ReconcileError(
        f"double create: {table} {list(pk)!r} was created on two devices "
        f"(the second by device {entry.device_id}); pass double_create='merge' to merge them",
        table=table,
        pk=pk,
    )
