"""The default executor: writes a plan to the user tables.

Writes are grouped into ``executemany`` calls (inserts per column set, updates per
set of changed columns, deletes per table) inside one savepoint, in the order a
database that checks foreign keys on every statement needs: inserts, parents' tables
first; then updates; then deletes, children's tables first. When the database
refuses any of them, the savepoint is rolled back and the rows are written one
savepoint each, so the rows that fail are found, reported (a broken constraint apart
from other refusals), and the rest of the batch still lands. A row refused for a
constraint is tried again after the others while that lets more rows land, and at last
through the updates their device made, in its order: a batch that was consistent where
it was written (a child inserted before its parent in one table, a UNIQUE value freed by
a later row, two rows swapping unique values through a spare one) lands whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

import sqlalchemy as sa

from .._db import driver_message, is_interrupt
from ..model import Entry, Op
from ..reconcile import Action, Plan, RowPlan, created_row
from ._catalog import SyncedTable, datetime_key_texts
from ._dialects import strategy


class Failure(NamedTuple):
    """A planned row the database refused; ``constraint`` when a constraint was the reason."""

    row: RowPlan
    reason: str
    constraint: bool


class Executor(Protocol):
    """Writes a plan in the caller's transaction; returns the rows it could not write."""

    def __call__(self, conn: sa.Connection, catalog: Mapping[str, SyncedTable], plan: Plan) -> list[Failure]:
        """Write ``plan.rows`` and its bulk part ``plan.new``; a row it returns as failed must have left no trace.

        A failure names a :class:`RowPlan`; for an entry of the bulk part, its
        :func:`~syncengine.reconcile.created_row`.
        """
        ...


def execute_plan(
    conn: sa.Connection, catalog: Mapping[str, SyncedTable], plan: Plan | Iterable[RowPlan]
) -> list[Failure]:
    """Write ``plan``; return the rows the database refused, with its reason.

    Everything is written in one savepoint, grouped; only when the database refuses
    some of it is each row written in a savepoint of its own, to find the rows refused.
    ``plan`` may also be rows, as executors written before the plan had a bulk part
    pass them on.
    """
    if not isinstance(plan, Plan):
        plan = Plan(list(plan))
    writes = [r for r in plan.rows if r.action is not Action.NONE]
    if not writes and not plan.new:
        return []
    try:
        with conn.begin_nested():
            _write(conn, catalog, writes, plan.new)
        return []
    except sa.exc.DBAPIError as exc:
        _refused_row_or_raise(conn, exc)
    pending = _in_write_order(catalog, writes + [created_row(e) for e in plan.new])
    while True:
        failures: list[Failure] = []
        for row in pending:
            try:
                with conn.begin_nested():
                    _write(conn, catalog, [row], ())
            except sa.exc.DBAPIError as exc:
                _refused_row_or_raise(conn, exc)
                failures.append(Failure(row, _reason(exc), isinstance(exc, sa.exc.IntegrityError)))
        retry = [f.row for f in failures if f.constraint]
        if not retry:
            return failures
        if len(failures) == len(pending):  # nothing more landed: perhaps only the writer's own steps can
            return [f for f in failures if not f.constraint] if _replayed(conn, catalog, retry) else failures
        pending = retry + [f.row for f in failures if not f.constraint]


def _replayed(conn: sa.Connection, catalog: Mapping[str, SyncedTable], rows: list[RowPlan]) -> bool:
    """Write ``rows`` through their updates in the order they were made, then as planned; whether they all landed.

    Rows that swapped unique values through a spare one (p1 takes "spare", p2 takes p1's,
    p1 takes p2's) cannot be written one at a time in any order: each final value is
    still held by the other. The steps their device took can.
    """
    steps = sorted(
        ((entry, row) for row in rows if row.action is Action.UPDATE for entry in row.entries if entry.op is Op.UPDATE),
        key=lambda step: step[0].version,
    )
    try:
        with conn.begin_nested():
            for entry, row in steps:
                values = {c: v for c, v in entry.data.items() if c in row.values}
                if values:
                    _write(conn, catalog, [dataclasses.replace(row, values=values)], ())
            _write(conn, catalog, rows, ())
        return True
    except sa.exc.DBAPIError as exc:
        _refused_row_or_raise(conn, exc)
        return False


def _refused_row_or_raise(conn: sa.Connection, exc: sa.exc.DBAPIError) -> None:
    """Go on only when the database refused rows and the transaction is still whole; else raise ``exc``.

    An interrupted statement (Ctrl-C, a cancel) is no refusal of a row. And SQLite rolls
    back the whole transaction by itself on an interrupt (and on a full disk, an I/O
    error…): writing the rows one by one after that would run outside any transaction,
    with the flag that keeps the engine's own writes out of the log rolled back with it,
    so they would be captured as this device's writes.
    """
    if is_interrupt(exc):
        raise exc
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and raw is not None and not getattr(raw, "in_transaction", True):
        raise exc


def _reason(exc: sa.exc.DBAPIError) -> str:
    return f"the database refused the write: {driver_message(exc)}"


def _write(
    conn: sa.Connection, catalog: Mapping[str, SyncedTable], rows: Sequence[RowPlan], new: Sequence[Entry]
) -> None:
    inserts: dict[tuple[str, tuple[str, ...]], list[Mapping[str, object]]] = {}
    for entry in new:
        values = catalog[entry.table].own(entry.data)
        inserts.setdefault((entry.table, tuple(values)), []).append(values)
    updates: dict[tuple[str, tuple[str, ...]], list[dict[str, object]]] = {}
    deletes: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        synced = catalog[row.table]
        if row.action is Action.INSERT:
            values = synced.own(row.values)
            inserts.setdefault((row.table, tuple(values)), []).append(values)
        elif row.action is Action.UPDATE:
            changed = synced.own(row.values)
            params: dict[str, object] = {f"v_{c}": v for c, v in changed.items()}
            params.update(_key_params(synced, row.pk))
            columns = tuple(changed)
            if columns:
                updates.setdefault((row.table, columns), []).append(params)
        elif row.action is Action.DELETE:
            deletes.setdefault(row.table, []).append(_key_params(synced, row.pk))
    rank = _parents_first(catalog, {name for name, _ in inserts} | {name for name, _ in updates} | set(deletes))
    for name, columns in sorted(inserts, key=lambda k: rank[k[0]]):
        insert_rows(conn, catalog[name], columns, inserts[name, columns])
    for (name, columns), batch in updates.items():
        synced = catalog[name]
        statement = (
            synced.table.update().where(*_key_match(synced)).values({c: sa.bindparam(f"v_{c}") for c in columns})
        )
        conn.execute(statement, batch)
    for name in sorted(deletes, key=lambda n: -rank[n]):
        conn.execute(catalog[name].table.delete().where(*_key_match(catalog[name])), deletes[name])


_PHASE = {Action.INSERT: 0, Action.UPDATE: 1, Action.DELETE: 2}


def _in_write_order(catalog: Mapping[str, SyncedTable], rows: list[RowPlan]) -> list[RowPlan]:
    """``rows`` in the order :func:`_write` writes them: inserts parents first, updates, deletes children first."""
    rank = _parents_first(catalog, {r.table for r in rows})
    return sorted(rows, key=lambda r: (_PHASE[r.action], -rank[r.table] if r.action is Action.DELETE else rank[r.table]))


def _parents_first(catalog: Mapping[str, SyncedTable], names: set[str]) -> dict[str, int]:
    """A rank for each of ``names``: a table's foreign keys point only to tables of a lower rank (cycles broken)."""
    if len(names) == 1:
        return dict.fromkeys(names, 0)
    rank: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in rank or name in visiting:  # done, or a cycle: break it here
            return
        visiting.add(name)
        for parent in catalog[name].parents:
            if parent in names and parent != name:
                visit(parent)
        rank[name] = len(rank)

    for name in sorted(names):
        visit(name)
    return rank


def insert_rows(
    conn: sa.Connection, synced: SyncedTable, columns: tuple[str, ...], rows: Sequence[Mapping[str, object]]
) -> None:
    """Insert rows that all have exactly ``columns`` (ones this table has)."""
    if synced.plain and columns:  # nothing to convert: hand the rows straight to the driver
        quote = conn.dialect.identifier_preparer.quote
        into = f"{quote(synced.name)} ({', '.join(quote(c) for c in columns)})"
        strategy(conn).insert_rows(conn, into, len(columns), [synced.driver_row(row, columns) for row in rows])
    else:
        conn.execute(synced.table.insert(), list(rows))


def _key_match(synced: SyncedTable) -> list[sa.ColumnElement[bool]]:
    if synced.text_datetime_key:  # each text SQLite may hold the key as, bound as text
        column = synced.table.c[synced.pk_columns[0]]
        return [column.in_([sa.bindparam(f"k_{i}", type_=sa.String()) for i in range(3)])]
    return [synced.table.c[c] == sa.bindparam(f"k_{c}") for c in synced.pk_columns]


def _key_params(synced: SyncedTable, pk: tuple[object, ...]) -> dict[str, object]:
    """The parameters :func:`_key_match` binds for one row's key."""
    if synced.text_datetime_key:
        return {f"k_{i}": text for i, text in enumerate(datetime_key_texts(synced.own_key(pk)[0]))}
    return {f"k_{c}": v for c, v in zip(synced.pk_columns, synced.own_key(pk), strict=True)}
