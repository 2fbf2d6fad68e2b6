"""Integrating one reconcile batch of received entries, inside the caller's transaction.

The steps, all in one transaction (the sync module opens and commits it):

1. decode the pending log rows; quarantine what is malformed or does not fit;
2. hold entries for rows that wait on a constraint conflict (they build on it);
3. load the rows' states, plan with the reconciler (holding conflicting parts
   under the review policy), write the plan;
4. rows the database refused for a constraint become constraint conflicts (their
   entries held), other refusals are quarantined — the rest of the batch lands;
5. record conflicts (open when held, decided automatically otherwise), close open
   conflicts that an incoming decision from another device settled (and take it
   in place of a result decided automatically here), save row states and retire
   the entries.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import values
from .core import Settlement, constraint_sides, decided_before, held_behind, settlement, with_decisions
from .errors import ReconcileError
from .model import PK, Conflict, Entry, Op
from .reconcile import Action, Plan, RowPlan, RowState, reconcile
from .store import Failure, LoadedRow, LogState, SyncedTable, Tx, entry_of, pk_key

if TYPE_CHECKING:
    from .sync import SyncOptions

log = logging.getLogger("syncengine")


@dataclass(slots=True)
class BatchResult:
    """What integrating one batch did."""

    applied: int = 0
    quarantined: int = 0
    held: int = 0
    opened: list[int] = field(default_factory=list)  # every conflict found (held or decided automatically)
    decided: list[int] = field(default_factory=list)  # conflicts settled (or re-decided) by a decision from elsewhere
    found: int = 0


def integrate(
    tx: Tx,
    device_id: str,
    rows: Sequence[Any],
    options: SyncOptions,
    review: Callable[[str], bool],
) -> BatchResult:
    """Integrate pending log ``rows``; see the module docstring."""
    result = BatchResult()
    entries: list[Entry] = []
    for row in rows:
        try:
            entry = entry_of(row)
        except (ValueError, KeyError, TypeError) as exc:
            tx.add_quarantined(f"malformed entry: {exc}", raw=row.data, log_id=row.id)
            result.quarantined += 1
            continue
        entries.append(entry)
    return integrate_entries(tx, device_id, entries, options, review, result)


def integrate_entries(
    tx: Tx,
    device_id: str,
    received: Sequence[Entry],
    options: SyncOptions,
    review: Callable[[str], bool],
    result: BatchResult | None = None,
    origin: tuple[int, str, str | None] | None = None,
) -> BatchResult:
    """Integrate decoded entries.

    Entries with a ``log_id`` are pending in the log; entries without (received
    and integrated in one go, ``origin`` being their batch: seq, id, extra JSON)
    get a log row only if they are quarantined or held.
    """
    result = result if result is not None else BatchResult()
    catalog = tx.catalog
    now = time.time()
    entries: list[Entry] = []
    for entry in received:
        reason = problem(entry, catalog)
        if reason is None:
            entries.append(entry)
            continue
        tx.add_quarantined(reason, raw=None, entry=entry, log_id=entry.log_id, batch_seq=origin[0] if origin else None)
        log.warning(
            "quarantined %s %s %r from device %s: %s",
            entry.op.value,
            entry.table,
            list(entry.pk),
            entry.device_id,
            reason,
        )
        result.quarantined += 1

    open_by_row = tx.open_conflicts(e.key for e in entries)  # read only when a conflict is open
    entries = _hold_behind_constraints(tx, entries, open_by_row, now, result, origin)

    texts: dict[tuple[str, PK], str] = {}
    loaded = tx.load_states({e.key for e in entries}, unknown=False, texts=texts)
    states = {k: v.state for k, v in loaded.items()}
    if options.reconciler is not None:
        plan = _whole(options.reconciler(entries, states), entries)
    else:
        plan = reconcile(entries, states, double_create=options.double_create, review=review, bulk=True)
        plan = _without_repeats(tx, plan, states, options)
    if options.plan_processor is not None:
        plan = options.plan_processor(plan.expanded())

    failures = tx.execute(plan, options.executor)
    failed = {(f.row.table, f.row.pk) for f in failures}
    for failure in failures:
        _refused(tx, failure, loaded.get((failure.row.table, failure.row.pk)), now, result, origin)

    good = [r for r in plan.rows if (r.table, r.pk) not in failed] if failed else plan.rows
    created = [e for e in plan.new if (e.table, e.pk) not in failed] if failed else plan.new
    for row_plan in good:
        for finding in row_plan.conflicts:
            conflict_id = tx.record_finding(finding, device_id=device_id, now=now)
            log.info(
                "%s conflict %d on %s %r%s: %s",
                finding.kind,
                conflict_id,
                finding.table,
                list(finding.pk),
                f".{finding.field}" if finding.field else "",
                "held for review" if finding.held else "decided automatically",
            )
            result.opened.append(conflict_id)
            result.found += 1
        if not open_by_row:  # no conflict is open on this batch's rows: nothing to settle
            continue
        for open_conflict in open_by_row.get((row_plan.table, pk_key(row_plan.pk)), []):
            _settle(tx, settlement(open_conflict, row_plan), now, result)
    # A decision from elsewhere also settles a conflict this batch opened, and replaces a result this
    # device chose automatically. Only rows with an entry that can be a decision are looked at (rare).
    deciding = with_decisions(good) if good else []
    if deciding:
        settleable = tx.settleable_conflicts((r.table, r.pk) for r in deciding)
        for row_plan in deciding:
            for conflict in settleable.get((row_plan.table, pk_key(row_plan.pk)), []):
                _settle(tx, settlement(conflict, row_plan), now, result)
    tx.insert_created([(e.table, texts[e.key], e.version) for e in created])
    tx.save_registers([_register(r, loaded.get((r.table, r.pk))) for r in good])
    integrated = [e for r in good for e in r.entries] + created
    tx.finish([e.log_id for e in integrated if e.log_id is not None], cleanup=options.cleanup)
    waiting = sum(r.held for r in good)  # held whole for a person's review: merged, not applied
    # applied: entries whose change reached the table (not one the row already held, nor a lost older write)
    result.applied += sum(len(r.entries) - r.held for r in good if r.action is not Action.NONE) + len(created)
    result.held += waiting
    if not options.cleanup:  # keep the integrated entries that never had a log row, as history
        kept = [e for e in integrated if e.log_id is None]
        if kept and origin is not None:
            tx.add_received(origin[0], origin[1], kept, origin[2], state=LogState.DONE)
    return result


def _whole(plan: Plan, entries: Sequence[Entry]) -> Plan:
    """A custom reconciler's plan, refused when it leaves a received entry out: that entry would be lost unseen."""
    planned = {(e.table, e.pk, e.version) for r in plan.rows for e in r.entries}
    planned.update((e.table, e.pk, e.version) for e in plan.new)
    left = [e for e in entries if (e.table, e.pk, e.version) not in planned]
    if left:
        first = left[0]
        raise ReconcileError(
            f"the custom reconciler left {len(left)} received {'entry' if len(left) == 1 else 'entries'} out of its "
            f"plan (the first: {first.op.value} {first.table} {list(first.pk)!r}); every entry must be in a row's "
            "entries or in plan.new. Nothing of this batch was applied; the next sync tries it again",
            table=first.table,
            pk=first.pk,
        )
    return plan


def _without_repeats(tx: Tx, plan: Plan, states: Mapping[tuple[str, PK], RowState], options: SyncOptions) -> Plan:
    """The plan without the conflicts it found again that were decided already (see :func:`decided_before`).

    A row held for review only for such conflicts is planned again without review:
    its result is the one decided then. Costs a query only when the plan has a conflict.
    """
    found = [r for r in plan.rows if r.conflicts]
    decided = tx.settleable_conflicts((r.table, r.pk) for r in found) if found else {}
    if not decided:
        return plan
    again: list[RowPlan] = []
    for row in found:
        known = decided.get((row.table, pk_key(row.pk)), [])
        fresh = [f for f in row.conflicts if not decided_before(f, known)]
        if row.held and not fresh:
            again.append(row)
        else:
            row.conflicts = fresh
    if again:
        entries = [e for row in again for e in row.entries]
        replanned = reconcile(
            entries,
            {k: states[k] for k in {e.key for e in entries} if k in states},
            double_create=options.double_create,
            review=False,
        )
        by_key = {(r.table, r.pk): r for r in replanned.rows}
        for row in replanned.rows:
            row.conflicts = [
                f for f in row.conflicts if not decided_before(f, decided.get((row.table, pk_key(row.pk)), []))
            ]
        plan.rows = [by_key.get((r.table, r.pk), r) for r in plan.rows]
    return plan


def _settle(tx: Tx, settled: Settlement | None, now: float, result: BatchResult) -> None:
    """Record a conflict as decided by a decision from elsewhere (nothing when ``settled`` is None)."""
    if settled is None:
        return
    tx.close_conflict(
        settled.conflict_id,
        decision="remote",
        value=settled.value,
        by=settled.by,
        how="remote",
        version=settled.version,
        now=now,
    )
    result.decided.append(settled.conflict_id)


def _register(row: RowPlan, loaded: LoadedRow | None) -> tuple[str, str, RowState, bool]:
    """A planned row's registers to save: (table, key text, state, stored already)."""
    if loaded is None:
        return row.table, pk_key(row.pk), row.state, False
    return row.table, loaded.text, row.state, loaded.stored


def _refused(
    tx: Tx,
    failure: Failure,
    before: LoadedRow | None,
    now: float,
    result: BatchResult,
    origin: tuple[int, str, str | None] | None,
) -> None:
    """A row the database refused: a constraint conflict holding its entries, or its entries quarantined."""
    row_plan = failure.row
    if not failure.constraint:
        for entry in row_plan.entries:
            tx.add_quarantined(failure.reason, raw=None, entry=entry, log_id=entry.log_id)
            log.warning("quarantined %s %s %r: %s", entry.op.value, entry.table, list(entry.pk), failure.reason)
            result.quarantined += 1
        return
    sides = constraint_sides(
        row_plan, before.state if before is not None else None, before is not None and before.present
    )
    conflict_id = tx.record_constraint(
        table=row_plan.table,
        pk=row_plan.pk,
        local=sides.local,
        remote=sides.remote,
        remotes=sides.remotes,
        reason=failure.reason,
        now=now,
    )
    _hold(tx, row_plan.entries, conflict_id, origin)
    log.warning(
        "held %s %r: %s (constraint conflict %d)", row_plan.table, list(row_plan.pk), failure.reason, conflict_id
    )
    result.held += len(row_plan.entries)
    result.opened.append(conflict_id)
    result.found += 1


def retry_constraints(tx: Tx, device_id: str, *, now: float) -> list[int]:
    """Apply held constraint conflicts whose constraint no longer fails; return the ids settled.

    A change elsewhere (a decision received from another device, a local edit) often
    frees the value a held entry needed; then the held change simply applies.
    """
    settled = []
    for conflict in tx.conflicts():
        if conflict.kind != "constraint" or conflict.table not in tx.catalog:
            continue
        entries = tx.held(conflict.id)
        if not entries:
            continue
        loaded = tx.load_states({e.key for e in entries})
        plan = reconcile(entries, {k: v.state for k, v in loaded.items()})
        if tx.execute(plan):
            continue  # still refused: it keeps waiting for a person
        tx.save_states([(r.table, r.pk, r.state, loaded[(r.table, r.pk)].stored) for r in plan.rows])
        tx.finish([e.log_id for e in entries if e.log_id is not None], cleanup=False)
        final = plan.rows[0].state if plan.rows else None
        tx.close_conflict(
            conflict.id,
            decision="remote",
            value=dict(final.values) if final is not None and final.alive else None,
            by=device_id,
            how="automatic",
            version=max(e.version for e in entries),
            now=now,
        )
        settled.append(conflict.id)
    return settled


def problem(entry: Entry, catalog: Mapping[str, SyncedTable]) -> str | None:
    """Return why ``entry`` cannot be applied on this device, or None."""
    synced = catalog.get(entry.table)
    if synced is None:
        return f"unknown table {entry.table!r} (not synced on this device)"
    pk, columns = entry.pk, synced.pk_columns
    if len(pk) != len(columns):
        return f"key {list(pk)!r} does not match the key columns {list(columns)} of {entry.table!r}"
    # A text key of up to 84 characters is at most 6 * 84 + 4 characters as JSON; for
    # others repr comes first, it is cheap: JSON is at most 1.5 times as long (\u0001 against \x01)
    short = len(pk) == 1 and type(pk[0]) is str and len(pk[0]) <= 84
    if not short and len(repr(pk)) > 300 and len(pk_key(pk)) > 512:
        return "primary key is too long to track (over 512 characters as JSON)"
    op = entry.op
    if op is Op.DELETE:
        return None
    data = entry.data
    whole_row = op is Op.INSERT or op is Op.STATE
    if whole_row:
        for name, value in zip(columns, pk, strict=True):
            if name in data and data[name] != value and not _same_instant(data[name], value):
                return f"the row's key column {name!r} disagrees with the entry's key"
    return synced.problem(data, whole_row=whole_row)


def _hold(
    tx: Tx,
    entries: Sequence[Entry],
    conflict_id: int,
    origin: tuple[int, str, str | None] | None,
) -> None:
    """Keep entries in the log as held by a constraint conflict."""
    tx.hold([e.log_id for e in entries if e.log_id is not None], conflict_id)
    fresh = [e for e in entries if e.log_id is None]
    if fresh:
        seq, batch_id, extra = origin if origin is not None else (None, None, None)
        tx.add_received(seq, batch_id, fresh, extra, state=LogState.HELD, conflict_id=conflict_id)


def _hold_behind_constraints(
    tx: Tx,
    entries: list[Entry],
    open_by_row: Mapping[tuple[str, str], list[Conflict]],
    now: float,
    result: BatchResult,
    origin: tuple[int, str, str | None] | None,
) -> list[Entry]:
    """Hold entries for rows waiting on a constraint decision; return the others."""
    if not open_by_row:
        return entries
    kept = []
    for entry in entries:
        waiting = [c for c in open_by_row.get((entry.table, pk_key(entry.pk)), []) if c.kind == "constraint"]
        if not waiting:
            kept.append(entry)
            continue
        conflict = waiting[0]
        tx.record_constraint(
            table=entry.table,
            pk=entry.pk,
            local=None,
            remote=held_behind(conflict, entry),
            remotes=[(entry.version, entry.device_id)],
            reason=conflict.reason or "",
            now=now,
        )
        _hold(tx, [entry], conflict.id, origin)
        result.held += 1
    return kept


def review_policy(settings: Mapping[str, Any], tables: Sequence[str]) -> Callable[[str], bool]:
    """Return table → whether conflicts there wait for review, from the device's settings."""
    default = bool(settings.get("review", False))
    per_table = {t: bool(settings[f"review.{t}"]) for t in tables if f"review.{t}" in settings}
    return lambda table: per_table.get(table, default)


def _same_instant(a: Any, b: Any) -> bool:
    """Whether two datetimes of either kind are the same instant (a naive one is a UTC wall time)."""
    return isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and values.utc_wall(a) == values.utc_wall(b)
