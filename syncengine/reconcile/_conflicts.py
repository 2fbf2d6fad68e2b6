"""Telling real conflicts from sequential overwrites, by causality.

Every entry carries ``base``: for each field it changed, the version(s) of that
field its device held when it wrote (for a delete: the row's existence and every
field; for an insert: the row's existence). Merging an entry into a row whose
register for a field holds version ``L``:

* ``L`` is in the entry's base → the writer had seen ``L``: a sequential overwrite.
* ``L`` is not → neither device had seen the other's write: concurrent. If the
  values differ it is a **conflict** (equal values are not).

Kinds, for one row:

``edit/edit``      an update changes a field whose local version the writer had not seen
``delete/edit``    a delete meets edits the deleter had not seen, or an update
                   arrives for a row deleted here (the editor had not seen the delete)
``create/create``  an insert meets a live row created by another insert, values differing
``diverged``       a restated row (see :mod:`._state`) holds another value than this device
                   under the *same* version: a write one of them never captured (say while
                   a rebuilt table had no triggers). No order can pick the right one, so
                   it is held for a person under every policy; the local value stays.

Constraint conflicts are found when the plan is written (see ``syncengine.store``).
A finding carries the automatic result — what last-writer-wins commits — and
whether it is *held*: under the review policy the conflicting part of the entry
is not merged, so the local value stays until a person decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..clock import ZERO
from ..model import PK, ROW, STATES, Entry, Op
from ..values import utc_wall
from ._state import RowState, merge

ConflictKind = Literal["edit/edit", "delete/edit", "create/create", "constraint", "diverged"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One conflict found while merging one entry into one row.

    ``field`` is None for a whole-row conflict, whose ``local``, ``remote`` and
    ``auto`` are row dicts (None for a deleted row).
    """

    kind: ConflictKind
    table: str
    pk: PK
    field: str | None
    base: Any
    local: Any
    local_version: str
    remote: Any
    remote_version: str
    remote_device: str
    auto: Any
    held: bool


def base_versions(base: Mapping[str, Any], field: str) -> tuple[str, ...]:
    """Return the versions an entry was based on for ``field`` (the row's, for a field not listed)."""
    value = base.get(field, base.get(ROW))
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def same(a: Any, b: Any) -> bool:
    """Return whether two column values are the same value of the same type.

    A naive datetime is a UTC wall time (see :mod:`syncengine.values`): it is the
    same value as the aware datetime of that instant, as a column without a time
    zone on one device and one with a time zone on another hold it.
    """
    if type(a) is type(b):
        if a == b:
            return True
        return type(a) is dt.datetime and (a.tzinfo is None) != (b.tzinfo is None) and utc_wall(a) == utc_wall(b)
    return False


def detect(state: RowState, entry: Entry, *, review: bool) -> tuple[list[Finding], Entry | None]:
    """Find the conflicts ``entry`` makes with ``state``; return them and what to merge.

    The entry to merge is ``entry`` itself, or (under review) the entry without its
    held part, or None when all of it is held.
    """
    if entry.op in STATES:
        return _diverged(state, entry)
    if entry.op is Op.UPDATE:
        if not state.alive and state.exists:
            return _update_of_deleted(state, entry, review)
        return _edit_edit(state, entry, review)
    if entry.op is Op.DELETE:
        return _delete_of_edited(state, entry, review)
    return _create_create(state, entry, review)


def _diverged(state: RowState, entry: Entry) -> tuple[list[Finding], Entry | None]:
    """A restated row: conflicts only where both hold the same version with different values (held, always)."""
    base, versions = entry.base, state.fields
    exists = base.get(ROW)
    if exists and exists == state.exists and (entry.op is Op.STATE) != state.alive:
        local = dict(state.values) if state.alive else None
        remote = dict(entry.data) if entry.op is Op.STATE else None
        found = _finding(
            state,
            entry,
            "diverged",
            None,
            base=None,
            local=local,
            local_version=exists,
            remote=remote,
            auto=local,
            held=True,
        )
        return [found], None
    findings: list[Finding] = []
    for field, value in entry.data.items():
        version = base.get(field)
        if not version or version != versions.get(field) or field not in state.values:
            continue
        local = state.values[field]
        if same(local, value):
            continue
        findings.append(
            _finding(
                state,
                entry,
                "diverged",
                field,
                base=None,
                local=local,
                local_version=str(version),
                remote=value,
                auto=local,
                held=True,
            )
        )
    if not findings:
        return [], entry
    held = {f.field for f in findings}
    return findings, replace(entry, data={c: v for c, v in entry.data.items() if c not in held})


def _finding(state: RowState, entry: Entry, kind: ConflictKind, field: str | None, **values: Any) -> Finding:
    return Finding(
        kind=kind,
        table=entry.table,
        pk=entry.pk,
        field=field,
        remote_version=entry.version,
        remote_device=entry.device_id,
        **values,
    )


def _edit_edit(state: RowState, entry: Entry, review: bool) -> tuple[list[Finding], Entry | None]:
    findings: list[Finding] = []
    held: set[str] = set()
    base, versions = entry.base, state.fields
    for field, value in entry.data.items():
        local_version = versions.get(field, ZERO)
        if not local_version or base.get(field) == local_version or local_version in base_versions(base, field):
            continue  # the writer had seen the local value: an overwrite, the usual case
        if field not in state.values or same(state.values[field], value):
            continue
        local = state.values[field]
        auto = value if entry.version > local_version else local
        findings.append(
            _finding(
                state,
                entry,
                "edit/edit",
                field,
                base=(entry.old or {}).get(field),
                local=local,
                local_version=local_version,
                remote=value,
                auto=auto,
                held=review,
            )
        )
        held.add(field)
    if not review or not held:
        return findings, entry
    rest = {f: v for f, v in entry.data.items() if f not in held}
    return findings, (replace(entry, data=rest) if rest else None)


def _update_of_deleted(state: RowState, entry: Entry, review: bool) -> tuple[list[Finding], Entry | None]:
    news = {f: v for f, v in entry.data.items() if entry.version > state.fields.get(f, ZERO)}
    if not news:
        return [], entry  # an old or repeated edit: nothing new, nothing to decide
    finding = _finding(
        state,
        entry,
        "delete/edit",
        None,
        base=None,
        local=None,
        local_version=state.exists,
        remote={**state.values, **news},
        auto=None,
        held=review,
    )
    return [finding], (None if review else entry)


def _delete_of_edited(state: RowState, entry: Entry, review: bool) -> tuple[list[Finding], Entry | None]:
    if not state.alive:
        return [], entry
    unseen = [
        version
        for field, version in (*state.fields.items(), (ROW, state.exists))
        if version and version not in base_versions(entry.base, field)
    ]
    if not unseen:
        return [], entry
    finding = _finding(
        state,
        entry,
        "delete/edit",
        None,
        base=None,
        local=dict(state.values),
        local_version=max(unseen),
        remote=None,
        auto=dict(state.values) if entry.version < state.exists else None,
        held=review,
    )
    return [finding], (None if review else entry)


def _create_create(state: RowState, entry: Entry, review: bool) -> tuple[list[Finding], Entry | None]:
    if not state.alive or not state.exists or state.exists == entry.version:
        return [], entry
    if state.exists in base_versions(entry.base, ROW):
        return [], entry
    if all(same(state.values.get(f), v) for f, v in entry.data.items() if f in state.values):
        return [], entry
    merged = state.copy()
    merge(merged, entry)
    finding = _finding(
        state,
        entry,
        "create/create",
        None,
        base=None,
        local=dict(state.values),
        local_version=state.exists,
        remote=dict(entry.data),
        auto=dict(merged.values),
        held=review,
    )
    return [finding], (None if review else entry)
