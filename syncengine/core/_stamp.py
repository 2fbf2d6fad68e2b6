"""Stamping: captured local writes and the registers of their rows in, versioned entries out.

A trigger records what a write did (the key before, the values before and after)
and when; it cannot know the row's sync registers. Stamping gives each write its
version from the device's hybrid clock, and its ``base``: the versions of the
fields it changed as the registers held them when it was written, which is how a
receiving device tells an overwrite from a concurrent edit
(:mod:`syncengine.reconcile._conflicts`). The registers then move to the new
versions, exactly as merging the entry would move them (:func:`~syncengine.reconcile.merge`),
so the next write of the same row is based on this one.

Writes must be stamped in the order they were made, and before anything received
is merged in the same transaction: a local write is based on what the row held
when it was written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..clock import HybridClock
from ..model import PK, ROW, Entry, Op
from ..reconcile import RowState, merge

RowKey = tuple[str, str]
"""A row's identity: its table, and a text form of its key that the caller chooses (one text per key)."""


class Write(NamedTuple):
    """One captured write to share, as an entry-to-be: a key change is two of these."""

    log_id: int
    wall_ms: int
    table: str
    op: Op
    pk: PK
    data: dict[str, Any]
    old: dict[str, Any] | None
    key: str
    """The key's text in :data:`RowKey`."""


@dataclass(slots=True)
class Register:
    """A row's registers, and whether the device database has them stored already."""

    state: RowState
    stored: bool


@dataclass(slots=True)
class Stamped:
    """What stamping decided: each write's version and base, in write order, and the registers to write."""

    versions: list[str] = field(default_factory=list)
    bases: list[dict[str, Any]] = field(default_factory=list)
    created: dict[RowKey, str] = field(default_factory=dict)
    """Rows created by one insert and untouched since: every register at that insert's version."""
    registers: dict[RowKey, Register] = field(default_factory=dict)
    """Every other row written: its registers after the writes."""

    def entries(self, writes: Sequence[Write], device_id: str) -> list[Entry]:
        """The stamped writes as entries (each with its log id)."""
        return [
            Entry(version, device_id, w.table, w.pk, w.op, w.data, w.old, base, log_id=w.log_id)
            for w, version, base in zip(writes, self.versions, self.bases, strict=True)
        ]


def writes_of(
    log_id: int,
    wall_ms: int,
    table: str,
    code: str,
    pk: PK,
    new: dict[str, Any],
    old: dict[str, Any],
    pk_of: Callable[[dict[str, Any]], PK],
    key_of: Callable[[PK], str],
) -> list[Write]:
    """Turn one captured write (``code`` I, U or D; ``pk`` the key before) into the entries it makes.

    An update that changed nothing makes none; an update of the key itself is a
    delete of the old key and an insert of the new one; an update keeps only the
    columns whose value (or type) changed.
    """
    if code == "I":
        return [Write(log_id, wall_ms, table, Op.INSERT, pk, new, None, key_of(pk))]
    if code == "D":
        return [Write(log_id, wall_ms, table, Op.DELETE, pk, {}, old, key_of(pk))]
    new_pk = pk_of(new)
    if new_pk != pk:
        return [
            Write(log_id, wall_ms, table, Op.DELETE, pk, {}, old, key_of(pk)),
            Write(log_id, wall_ms, table, Op.INSERT, new_pk, new, None, key_of(new_pk)),
        ]
    changed = [c for c, v in new.items() if c not in old or old[c] != v or type(old[c]) is not type(v)]
    if not changed:
        return []
    data, before = {c: new[c] for c in changed}, {c: old.get(c) for c in changed}
    return [Write(log_id, wall_ms, table, Op.UPDATE, pk, data, before, key_of(pk))]


def base_of(state: RowState, stored: bool, op: Op, data: Mapping[str, Any]) -> dict[str, Any]:
    """The versions a local write was based on: what the row's registers held when it was written.

    An update names each column it changed; a delete the whole row it saw
    (existence and every field); an insert the row's existence, when sync knew the
    row before (a row created again after a delete).
    """
    if op is Op.UPDATE:
        return {c: state.version_of(c) for c in data}
    if op is Op.DELETE:
        base = {c: v for c, v in state.fields.items() if v and v != state.exists}
        if state.exists:
            base[ROW] = state.exists
        return base
    if not state.exists and not stored:
        return {}
    return {ROW: state.exists} if state.exists else {}


def created(version: str, data: Mapping[str, Any]) -> RowState:
    """The registers of a row just created by one insert: existence and every field at its version."""
    return RowState(version, True, dict.fromkeys(data, version))


def stamp(
    writes: Sequence[Write],
    registers: Mapping[RowKey, RowState],
    clock: HybridClock,
) -> Stamped:
    """Version ``writes`` (in the order they were made) against the stored ``registers`` of their rows.

    ``registers`` holds the stored registers of the rows written; a row missing
    from it has none (sync never saw it, or it was created by one of these
    writes). ``clock`` ticks once per write at the write's wall time. The states
    in ``registers`` are not changed in place.

    Each write gets a version and a base (``versions``, ``bases``; :meth:`Stamped.entries`
    makes the entries). A row created by an insert here and not written again
    comes back in ``created`` (all its registers at the insert's version: the bulk
    of most logs, no state object needed); every other row in ``registers`` with
    its new state.
    """
    out = Stamped()
    versions, bases, changed = out.versions, out.bases, out.registers
    fresh: dict[RowKey, tuple[str, Mapping[str, Any]]] = {}  # rows created here: the insert's version, values
    device_id = clock.device_id
    insert = Op.INSERT
    for write in writes:
        version = clock.tick(write.wall_ms)
        versions.append(version)
        key = (write.table, write.key)
        op, data = write.op, write.data
        if op is insert and key not in changed and key not in fresh and key not in registers:
            fresh[key] = (version, data)  # a brand-new row, the bulk of most logs: no state object
            bases.append({})
            continue
        register = changed.get(key)
        if register is None:
            register = changed[key] = _start(key, registers, fresh)
        state, stored = register.state, register.stored
        base = base_of(state, stored, op, data)
        bases.append(base)
        if base or op is not insert:
            if not stored and not state.exists:
                state.alive = op is not insert  # the row existed before sync knew of it
            if op is Op.DELETE and write.old:
                state.values = dict(write.old)
            merge(state, Entry(version, device_id, write.table, write.pk, op, data, write.old, base))
        elif not state.exists and not stored:  # an insert after its row's delete among these writes
            register.state = created(version, data)
    out.created = {key: version for key, (version, _) in fresh.items()}
    return out


def _start(
    key: RowKey, registers: Mapping[RowKey, RowState], fresh: dict[RowKey, tuple[str, Mapping[str, Any]]]
) -> Register:
    """A row's registers before its next write: the stored ones (a copy), those of its insert here, or none."""
    stored = registers.get(key)
    if stored is not None:
        return Register(stored.copy(), True)
    inserted = fresh.pop(key, None)
    return Register(RowState() if inserted is None else created(*inserted), False)
