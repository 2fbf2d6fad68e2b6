"""Settling open conflicts with what arrives, and shaping the conflicts a batch opens.

A conflict stays open on this device until a person decides it here, or until a
decision made on another device arrives. That decision is an entry whose base
lists every version the conflict involved (see :mod:`._decide`): whoever wrote
it had seen all of them, so it settles the conflict here too (:func:`settlement`).
A conflict this device decided automatically is settled the same way when a
person on another device decided it otherwise: its record then says what is
kept now and who decided. Only a row with an entry that can be a decision
(:func:`with_decisions`) can settle anything of the kind.

A further concurrent change to a spot that already has an open conflict does not
open a second one; it joins the first as one more remote side
(:func:`joined`), and the automatic result stays last-writer-wins over all sides.

A change the database refused for a constraint (a unique column, say) becomes a
constraint conflict holding the change (:func:`constraint_sides`); later changes
to that row wait behind it (:func:`held_behind`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..model import ROW, Conflict, Entry, Op, RemoteValue
from ..reconcile import Action, Finding, RowPlan, RowState, base_versions


def versions_of(conflict: Conflict) -> set[str]:
    """Every version a conflict involves: the local one and each remote one."""
    found = {r.version for r in conflict.remotes}
    if conflict.local_version:
        found.add(conflict.local_version)
    return found


@dataclass(frozen=True, slots=True)
class Settlement:
    """An open conflict closed by a decision from elsewhere: the value it left, by whom, at which version."""

    conflict_id: int
    value: Any
    by: str
    version: str


def with_decisions(rows: Iterable[RowPlan]) -> list[RowPlan]:
    """The rows that hold an entry which can be a decision: one whose base lists the versions of a spot.

    A local write is based on one version per spot, written as text; only a
    decision lists versions (all those its conflict involved, see :mod:`._decide`).
    So only these rows can settle a conflict decided automatically here, or one
    that their own batch opened. A quick pass: no entry is copied.
    """
    found = []
    for row in rows:
        for entry in row.entries:
            if not all(map(isinstance, entry.base.values(), _TEXT)):  # map: no Python frame per entry
                found.append(row)
                break
    return found


_TEXT = itertools.repeat(str)


def settlement(conflict: Conflict, row: RowPlan) -> Settlement | None:
    """Whether an incoming entry of ``row`` settles ``conflict``; the settlement, or None.

    An entry settles it when it was based on every version the conflict involves
    and written after them (for a field conflict: an entry that writes that field,
    or an insert); a row restated with the versions it has lists them too, but
    decides nothing (a ``diverged`` conflict involves one version only). That
    holds for an open conflict and for one decided automatically here, whose
    decision it replaces. A constraint conflict is settled only by a person or by
    its change applying.
    """
    if conflict.kind == "constraint":
        return None
    needed = versions_of(conflict)
    spot = conflict.field or ROW
    newest_involved = max(needed, default="")
    for entry in row.entries:
        if entry.version <= newest_involved:  # written before the conflict's last side: not a decision of it
            continue  # (a row restated with its versions lists them too, and decides nothing)
        if conflict.field is not None and conflict.field not in entry.data and entry.op is not Op.INSERT:
            continue
        if needed <= set(base_versions(entry.base, spot)):
            newest = max(row.entries, key=lambda e: e.version)
            return Settlement(conflict.id, value_after(conflict, row.state), newest.device_id, newest.version)
    return None


def value_after(conflict: Conflict, state: RowState) -> Any:
    """The value a conflict's spot holds in ``state``: the field's value, or the row (None when deleted)."""
    if conflict.field is not None:
        return state.values.get(conflict.field)
    return dict(state.values) if state.alive else None


def decided_before(finding: Finding, conflicts: Iterable[Conflict]) -> bool:
    """Whether ``finding`` is a conflict decided already: the same spot, the same local and remote versions.

    An entry delivered again (a log restored from a backup, read again from its
    start) meets the row as it met it the first time, and finds the same conflict.
    Its result is the one decided then; it is not a new conflict.
    """
    for conflict in conflicts:
        if (
            conflict.status == "decided"
            and conflict.kind == finding.kind
            and conflict.field == finding.field
            and conflict.local_version == (finding.local_version or None)
            and any(r.version == finding.remote_version for r in conflict.remotes)
        ):
            return True
    return False


def joined(conflict: Conflict, finding: Finding) -> tuple[list[RemoteValue], Any]:
    """A further held finding on an open conflict's spot: the conflict's remote sides and automatic result after it.

    The finding's side replaces a side of the same version (the same entry seen
    again). For a field, the automatic result is the newest side when it is newer
    than the local value, else the local value; for a whole row, the finding's own.
    """
    remotes = [r for r in conflict.remotes if r.version != finding.remote_version]
    remotes.append(RemoteValue(finding.remote, finding.remote_version, finding.remote_device))
    remotes.sort(key=lambda r: r.version)
    if finding.field is None:
        return remotes, finding.auto
    newest = remotes[-1]
    return remotes, newest.value if newest.version > (conflict.local_version or "") else conflict.local


def last_writer(state: RowState, field: str, remotes: tuple[RemoteValue, ...] | list[RemoteValue]) -> Any:
    """Last writer wins for one field: the newest of its local version and every remote one."""
    best_version, best = state.fields.get(field, ""), state.values.get(field)
    for remote in remotes:
        if remote.version > best_version:
            best_version, best = remote.version, remote.value
    return best


@dataclass(frozen=True, slots=True)
class ConstraintSides:
    """A refused change as a constraint conflict shows it: the local row, the row the change wanted, and who wrote it."""

    local: dict[str, Any] | None
    remote: dict[str, Any] | None
    remotes: list[tuple[str, str]]  # (version, device id) of each held entry


def constraint_sides(row: RowPlan, before: RowState | None, present: bool) -> ConstraintSides:
    """The sides of the constraint conflict opened when the database refuses ``row``'s write.

    ``before`` is the row's state before the batch, ``present`` whether the table
    held the row.
    """
    local = dict(before.values) if before is not None and present else None
    remote = None if row.action is Action.DELETE else {**(local or {}), **row.values}
    return ConstraintSides(local, remote, [(e.version, e.device_id) for e in row.entries])


def held_behind(conflict: Conflict, entry: Entry) -> dict[str, Any] | None:
    """The row a constraint conflict wants once ``entry`` (a later change of its row) joins it; None for a delete."""
    if entry.op is Op.DELETE:
        return None
    return {**(conflict.remote or {}), **entry.data}
