"""The per-row sync state, and how one entry merges into it.

A synced row is a set of last-writer-wins registers, each keyed by a hybrid-clock
version (see :mod:`syncengine.clock`):

* the *existence* register: the version of the last insert or delete, and whether
  that was an insert (``alive``);
* one register per column: the version of the last write to it, and its value.

Merging an entry raises each register it touches to ``max(version)``. Max is
commutative, associative and idempotent, so every device that has merged the same
set of entries holds the same state, in whatever order they arrived, however often
one was delivered. That is the convergence argument; everything else in the
reconciler is bookkeeping around it.

A delete keeps the row's values in the state (the *tombstone*), so a later
recreate or a late concurrent update merges against real values, not against
nothing.

A *state* or *tombstone* entry restates a row's registers as one device holds
them (shared again to a new shared log, or by a repair): it raises each register
it carries to the newer version, the same max, so it can never undo a newer write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..clock import ZERO
from ..model import ROW, STATES, Entry, Op


@dataclass(slots=True)
class RowState:
    """The registers of one row. ``values`` are the row's column values."""

    exists: str = ZERO
    alive: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def copy(self) -> RowState:
        """Return an independent copy."""
        return RowState(self.exists, self.alive, self.fields.copy(), self.values.copy())

    def version_of(self, column: str) -> str:
        """Return the version of one column (the row's own when none is recorded)."""
        return self.fields.get(column, ZERO)


@dataclass(frozen=True, slots=True)
class Merge:
    """What merging one entry changed."""

    changed: frozenset[str]
    double_create: bool = False
    existence_changed: bool = False


def merge(state: RowState, entry: Entry) -> Merge:
    """Merge ``entry`` into ``state`` in place and say what changed.

    An insert or update sets each column whose register is older than the entry;
    an insert or delete newer than the existence register sets it. An insert that
    meets a live row created by another insert is reported as a double create
    (the caller decides whether that is an error); the merge itself is the same.
    """
    changed: set[str] = set()
    flags = merge_into(state, entry, changed)
    return Merge(frozenset(changed), bool(flags & DOUBLE_CREATE), bool(flags & EXISTENCE_CHANGED))


DOUBLE_CREATE = 1
EXISTENCE_CHANGED = 2


def merge_into(state: RowState, entry: Entry, changed: set[str]) -> int:
    """Like :func:`merge`, adding changed columns to ``changed``; return flag bits.

    The reconciler's inner loop: no object is made per call.
    """
    version = entry.version
    flags = 0
    op = entry.op
    if op in STATES:
        return _merge_registers(state, entry, changed)
    if op is Op.DELETE:
        if version > state.exists:
            if state.alive:
                flags = EXISTENCE_CHANGED
            state.exists, state.alive = version, False
        return flags
    if op is Op.INSERT:
        if state.alive and state.exists != version and state.exists:
            flags = DOUBLE_CREATE
        if version > state.exists:
            if not state.alive:
                flags |= EXISTENCE_CHANGED
            state.exists, state.alive = version, True
    fields, values = state.fields, state.values
    for column, value in entry.data.items():
        if version > fields.get(column, ZERO):
            fields[column] = version
            if column not in values or values[column] != value or type(values[column]) is not type(value):
                values[column] = value
                changed.add(column)
    return flags


def _merge_registers(state: RowState, entry: Entry, changed: set[str]) -> int:
    """Merge a state or tombstone entry: each register it carries is raised to the newer version."""
    base = entry.base
    exists = base.get(ROW)
    flags = 0
    if isinstance(exists, str) and exists > state.exists:
        alive = entry.op is Op.STATE
        if alive != state.alive:
            flags = EXISTENCE_CHANGED
        state.exists, state.alive = exists, alive
    fields, values = state.fields, state.values
    for column, value in entry.data.items():
        version = base.get(column)
        if isinstance(version, str) and version > fields.get(column, ZERO):
            fields[column] = version
            if column not in values or values[column] != value or type(values[column]) is not type(value):
                values[column] = value
                changed.add(column)
    return flags
