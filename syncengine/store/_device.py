"""The device database behind one interface: :class:`DeviceStore` opens transactions, :class:`Tx` names what they do.

Everything the engine keeps in a device database (the client log, the row
registers, the outbox, conflicts, settings, the history of syncs) is read and
written through a :class:`Tx`: one transaction, with one method per operation.
The sync, the device and decisions decide *what* commits together by choosing
which operations share a transaction; only this package knows the tables.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from .. import capture
from .._db import NOTICE, explain, where
from ..clock import HybridClock
from ..core import LogPlace, Meeting, TableDigest, meet
from ..errors import ConfigurationError, DatabaseError, NotInitializedError, SchemaError
from ..model import PK, Conflict, DeviceInfo, Entry, LogRecord, QuarantinedEntry, SyncRecord
from ..reconcile import Finding, Plan, RowState
from . import _client as client
from . import _conflicts as conflicts
from . import _digest as digests
from . import _drift as drift
from . import _registers as registers
from . import _restate as restate
from . import _schema as s
from . import _snapshot as snapshot
from . import _stamping as stamping
from . import _views as views
from ._apply import Executor, Failure, execute_plan
from ._catalog import SyncedTable
from ._dialects import chunks, strategy

log = logging.getLogger("syncengine")

LogState = s.LogState
Outgoing = stamping.Outgoing
LoadedRow = registers.LoadedRow
Assign = stamping.Assign


class Tx:
    """One open transaction of a device database, and the engine's operations on it."""

    def __init__(self, conn: sa.Connection, catalog: Mapping[str, SyncedTable], missing: Sequence[str] = ()) -> None:
        self.conn = conn
        self.catalog = catalog
        self.missing = missing
        """Synced tables the database no longer has: stamping (and so any sync) refuses until they are back."""
        self.keeps_outbox = strategy(conn).outbox
        """Whether this database keeps stamped batches whole in the outbox until they are shared (SQLite)."""

    # -- settings, the clock, capture ------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        """A JSON setting of the device."""
        return client.get_setting(self.conn, key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON setting of the device."""
        client.set_setting(self.conn, key, value)

    def settings(self, prefix: str) -> dict[str, Any]:
        """Every setting whose key starts with ``prefix``."""
        query = sa.select(s.state.c.key, s.state.c.value).where(s.state.c.key.startswith(prefix, autoescape=True))
        return {key: orjson.loads(value) for key, value in self.conn.execute(query)}

    def clock(self, device_id: str) -> HybridClock:
        """The device's hybrid clock as last saved."""
        return client.load_clock(self.conn, device_id)

    def save_clock(self, clock: HybridClock) -> None:
        """Save the device's hybrid clock."""
        client.save_clock(self.conn, clock)

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        """Keep this transaction's writes to synced tables out of the log (the engine's own writes)."""
        client.set_applying(self.conn, True)
        yield
        client.set_applying(self.conn, False)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: what it wrote is undone if the block raises."""
        with self.conn.begin_nested():
            yield

    # -- stamping and sharing local writes ---------------------------------------------

    def stamp(
        self, device_id: str, *, limit: int | None = None, assign: Assign | None = None, keep: bool = True
    ) -> int:
        """Stamp captured local writes; see :func:`._stamping.stamp`.

        Refused while a synced table is missing: its captured writes could not be read,
        and would otherwise be dropped as the writes of a table whose sync was removed.
        """
        if self.missing:
            raise SchemaError(missing_message(self.missing[0], where(self.conn.engine.url)), table=self.missing[0])
        return stamping.stamp(self.conn, self.catalog, device_id, limit=limit, assign=assign, keep=keep)

    def captured_keys(self) -> set[tuple[str, str]]:
        """The rows (table, key text) of captured writes not stamped yet; see :func:`._stamping.captured_keys`."""
        return stamping.captured_keys(self.conn, self.catalog)

    def drop_inherited(self, shared: Sequence[Entry]) -> list[Entry]:
        """Drop captured writes that are entries another device shared; see :func:`._stamping.drop_inherited`."""
        return stamping.drop_inherited(self.conn, self.catalog, shared)

    def outboxed(self) -> list[Any]:
        """The batches waiting in the outbox, oldest first."""
        return client.outboxed(self.conn)

    def add_outbox(
        self, batch_id: str, ids: Sequence[int], payload: bytes, count: int, dropped: int, extra: str | None
    ) -> None:
        """Keep a batch just stamped from the captured rows ``ids`` until it is sent."""
        client.add_outbox(self.conn, batch_id, ids, payload, count, dropped, extra)

    def drop_outboxed(self, batch_id: str, first_id: int, last_id: int) -> None:
        """Forget an outbox batch that reached the shared log, and the captured rows it was stamped from."""
        client.drop_outboxed(self.conn, batch_id, first_id, last_id)

    def outgoing(self, limit: int) -> tuple[str | None, list[Any]]:
        """The next stamped entries to share; see :func:`._client.outgoing`."""
        return client.outgoing(self.conn, limit)

    def assign_batch(self, ids: Sequence[int], batch_id: str) -> None:
        """Record which batch stamped entries are sent in, before sending it."""
        client.assign_batch(self.conn, ids, batch_id)

    def mark_shared(self, batch_id: str, ids: Sequence[int], remote_seq: int, *, cleanup: bool) -> None:
        """Record that a batch reached the shared log (or forget its entries with ``cleanup``)."""
        client.mark_shared(self.conn, batch_id, ids, remote_seq, cleanup=cleanup)

    def add_local(self, entry: Entry) -> None:
        """Store an entry the engine made itself (a decision), ready to share."""
        client.add_local(self.conn, entry)

    def restate(self, device_id: str, keys: Mapping[str, Sequence[PK]] | None = None) -> int:
        """Add every synced row's registers (or those of ``keys``, by table) as state or tombstone entries; how many.

        Stamp first (see :mod:`._restate`).
        """
        return restate.restate(self.conn, self.catalog, device_id, keys)

    def state_page(self, table: str, device_id: str, after: str, limit: int) -> tuple[list[Entry], str | None]:
        """A page of a table's rows as state or tombstone entries, after key text ``after``; see :mod:`._restate`."""
        return restate.state_page(self.conn, self.catalog[table], device_id, after, limit)

    def snapshot_page(self, table: str, after: str, limit: int) -> tuple[bytes | None, str | None, int]:
        """A page of a table's rows with their registers, after key text ``after``; see :mod:`._snapshot`."""
        return snapshot.snapshot_page(self.conn, self.catalog[table], after, limit)

    def is_fresh(self, table: str) -> bool:
        """Whether sync knows nothing of this table here: no register and no row."""
        return snapshot.is_fresh(self.conn, self.catalog[table])

    def load_fresh(self, table: str, document: dict[str, Any]) -> int:
        """Write a snapshot page into a table sync knew nothing of; see :mod:`._snapshot`."""
        return snapshot.load_fresh(self.conn, self.catalog[table], document)

    def snapshot_entries(self, table: str, device_id: str, document: dict[str, Any]) -> list[Entry]:
        """A snapshot page as state and tombstone entries to merge."""
        return snapshot.entries_of(self.catalog[table], device_id, document)

    def registers_count(self, table: str) -> int:
        """How many rows of a table sync knows, live or deleted."""
        return restate.registers_count(self.conn, table)

    def unshared(self, after_id: int, limit: int) -> list[Outgoing]:
        """Stamped local entries waiting to be shared, oldest first, after log id ``after_id``."""
        return [Outgoing(*row) for row in client.unshared(self.conn, after_id, limit)]

    def capture_missing(self) -> int:
        """Record rows the synced tables hold but sync never saw as captured inserts; return how many."""
        return restate.capture_missing(self.conn, self.catalog)

    def prepared_batches(self) -> set[str]:
        """The ids of batches prepared to be sent and not yet known to have arrived."""
        found = {str(row.batch_id) for row in client.outboxed(self.conn, payloads=False)}
        query = sa.select(s.log.c.batch_id).where(s.log.c.state == LogState.UNSHARED, s.log.c.batch_id.is_not(None))
        found.update(str(b) for b in self.conn.execute(query.distinct()).scalars())
        return found

    # -- shared logs -------------------------------------------------------------------

    def log_places(self) -> tuple[str | None, dict[str, LogPlace]]:
        """The id of the log this device last synced with, and where it stands in each log it knows."""
        current = client.get_setting(self.conn, "log")
        places = {
            k: LogPlace(int(v["cursor"]), v.get("pushed"), v.get("marked"))
            for k, v in client.get_setting(self.conn, "logs", {}).items()
        }
        if current is not None:
            cursor = int(client.get_setting(self.conn, "cursor", 0))
            pushed, marked = client.get_setting(self.conn, "pushed"), client.get_setting(self.conn, "marked")
            places[current] = LogPlace(cursor, pushed, marked)
        return current, places

    def meet(self, info: DeviceInfo) -> Meeting:
        """What to do on meeting the log that answered ``info`` (see :func:`syncengine.core.meet`), from what this device keeps."""
        current, places = self.log_places()
        return meet(
            info,
            current,
            places,
            legacy_cursor=None if current is not None else client.get_setting(self.conn, "cursor"),
            prepared=self.prepared_batches(),
        )

    def enter_log(self, log_id: str, place: LogPlace, *, forget_others: bool = False) -> None:
        """Make ``log_id`` the log this device syncs with, standing at ``place`` (the others' places kept).

        The current log's cursor stays in the ``cursor`` setting, which the receive
        stage moves; ``forget_others`` drops every other log's place (a new device id
        has shared nothing anywhere).
        """
        _, places = self.log_places()
        others = {} if forget_others else {k: _place_setting(p) for k, p in places.items()}
        others.pop(log_id, None)
        client.set_setting(self.conn, "logs", others)
        client.set_setting(self.conn, "log", log_id)
        client.set_setting(self.conn, "cursor", place.cursor)
        client.set_setting(self.conn, "pushed", place.pushed)
        client.set_setting(self.conn, "marked", place.marked)

    def record_marked(self, seq: int) -> None:
        """Record that the current log's registry recorded ``seq`` as this device's pull cursor."""
        client.set_setting(self.conn, "marked", seq)

    def reset_identity(self, new_id: str) -> str:
        """Give the database the device id ``new_id``; return the old one.

        Its place in every log is kept but the current log is forgotten, so the next
        sync, as a new device, shares the whole state there. Entries prepared under
        the old id must have been sent (see :meth:`waiting_under_current_id`).
        """
        old = str(client.get_setting(self.conn, "device_id"))
        _, places = self.log_places()
        client.set_setting(self.conn, "logs", {k: {"cursor": p.cursor} for k, p in places.items()})
        client.set_setting(self.conn, "log", None)
        client.set_setting(self.conn, "pushed", None)
        client.set_setting(self.conn, "marked", None)
        client.set_setting(self.conn, "device_id", new_id)
        client.set_setting(
            self.conn, "previous_device_ids", [*client.get_setting(self.conn, "previous_device_ids", []), old]
        )
        return old

    def waiting_under_current_id(self) -> int:
        """How many entries are stamped under the current device id and wait to be sent (outbox included)."""
        unshared = self.conn.execute(
            sa.select(sa.func.count()).select_from(s.log).where(s.log.c.state == LogState.UNSHARED)
        ).scalar_one()
        boxed = sum(int(row.count) for row in client.outboxed(self.conn, payloads=False))
        return int(unshared) + boxed

    def digest(self) -> dict[str, TableDigest]:
        """The digest of every synced table as it holds its rows now (see :mod:`syncengine.core._digest`)."""
        return digests.digest(self.conn, self.catalog)

    def keys_in(self, table: str, buckets: set[int]) -> list[PK]:
        """The keys of a synced table's rows that fall in these digest buckets."""
        return digests.keys_in(self.conn, self.catalog[table], buckets)

    def synced_rows(self) -> int:
        """How many rows the synced tables hold together."""
        return sum(
            int(self.conn.execute(sa.select(sa.func.count()).select_from(t.table)).scalar_one())
            for t in self.catalog.values()
        )

    def advance_over_own(self, seqs: Sequence[int]) -> None:
        """Move the cursor over batches this device just pushed when they follow it with no other batch between.

        The device's state then reflects every batch up to its cursor (see ``verify``),
        and the next pull starts after them (it would skip its own batches anyway).
        """
        cursor = int(client.get_setting(self.conn, "cursor", 0))
        after = sorted(seq for seq in seqs if seq > cursor)
        if after and after == list(range(cursor + 1, cursor + 1 + len(after))):
            client.set_setting(self.conn, "cursor", after[-1])

    def record_pushed(self, seq: int) -> None:
        """Record that this database pushed a batch that the current log numbered ``seq``."""
        pushed = client.get_setting(self.conn, "pushed")
        if pushed is None or seq > pushed:
            client.set_setting(self.conn, "pushed", seq)

    def has_local_changes(self) -> bool:
        """Whether local writes wait to be shared."""
        query = sa.select(s.log.c.id).where(s.log.c.state.in_([LogState.CAPTURED, LogState.UNSHARED])).limit(1)
        return self.conn.execute(query).first() is not None

    # -- received entries ---------------------------------------------------------------

    def add_received(
        self,
        batch_seq: int | None,
        batch_id: str | None,
        entries: Sequence[Entry],
        extra: str | None,
        *,
        state: s.LogState = LogState.PENDING,
        conflict_id: int | None = None,
    ) -> None:
        """Store received entries: pending, done (kept as history) or held by a conflict."""
        client.add_received(self.conn, batch_seq, batch_id, entries, extra, state=state, conflict_id=conflict_id)

    def add_quarantined(
        self,
        reason: str,
        *,
        raw: Any,
        entry: Entry | None = None,
        batch_seq: int | None = None,
        log_id: int | None = None,
    ) -> None:
        """Keep an entry that cannot be applied, with the reason."""
        client.add_quarantined(self.conn, reason, raw=raw, entry=entry, batch_seq=batch_seq, log_id=log_id)

    def pending(self, limit: int, *, after_id: int = 0) -> list[Any]:
        """Up to ``limit`` pending log rows, oldest first."""
        return client.pending(self.conn, limit, after_id=after_id)

    def held(self, conflict_id: int) -> list[Entry]:
        """The entries a constraint conflict holds, oldest first (each with its log id)."""
        return [client.entry_of(row) for row in client.held(self.conn, conflict_id)]

    def hold(self, log_ids: Sequence[int], conflict_id: int) -> None:
        """Hold pending entries behind a constraint conflict."""
        for start in range(0, len(log_ids), 500):
            self.conn.execute(
                s.log.update()
                .where(s.log.c.id.in_(log_ids[start : start + 500]))
                .values(state=LogState.HELD, conflict_id=conflict_id)
            )

    def finish(self, log_ids: Sequence[int], *, cleanup: bool) -> None:
        """Mark integrated entries done, or delete them with ``cleanup``."""
        client.finish(self.conn, log_ids, cleanup=cleanup)

    # -- row registers and user tables ----------------------------------------------------

    def load_states(
        self,
        keys: Iterable[tuple[str, PK]],
        *,
        unknown: bool = True,
        texts: dict[tuple[str, PK], str] | None = None,
    ) -> dict[tuple[str, PK], LoadedRow]:
        """The registers and current values of rows; see :func:`._registers.load_states`."""
        return registers.load_states(self.conn, self.catalog, keys, unknown=unknown, texts=texts)

    def rows(self, table: str, pks: Sequence[PK]) -> list[dict[str, Any]]:
        """The rows of a synced table with these keys, as the table holds them now (missing ones left out)."""
        return list(registers.read_rows(self.conn, self.catalog[table], pks).values())

    def save_registers(self, changes: Iterable[tuple[str, str, RowState, bool]]) -> None:
        """Write row registers by (table, key text, state, stored already)."""
        registers.save_registers(self.conn, changes)

    def save_states(self, changes: Iterable[tuple[str, PK, RowState, bool]]) -> None:
        """Write row registers by (table, key, state, stored already)."""
        registers.save_states(self.conn, changes)

    def insert_created(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Write the registers of rows created by one insert each: (table, key text, version)."""
        registers.insert_created(self.conn, rows)

    def execute(self, plan: Plan, executor: Executor = execute_plan) -> list[Failure]:
        """Write a plan to the user tables with ``executor``; the rows it could not write."""
        return executor(self.conn, self.catalog, plan)

    # -- conflicts ------------------------------------------------------------------------

    def conflicts(
        self,
        *,
        include_decided: bool = False,
        table: str | None = None,
        ids: Sequence[int] | None = None,
        limit: int | None = None,
        offset: int = 0,
        status: str | None = None,
        newest_first: bool = False,
    ) -> list[Conflict]:
        """Conflicts: open ones (and decided ones with ``include_decided``), oldest first."""
        rows = conflicts.query(
            self.conn,
            include_decided=include_decided,
            table=table,
            ids=ids,
            limit=limit,
            offset=offset,
            status=status,
            newest_first=newest_first,
        )
        return [conflicts.to_model(r) for r in rows]

    def open_conflicts(self, keys: Iterable[tuple[str, PK]]) -> dict[tuple[str, str], list[Conflict]]:
        """The open conflicts on these rows, by (table, key text); quick when none is open."""
        return conflicts.open_rows(self.conn, keys)

    def settleable_conflicts(self, keys: Iterable[tuple[str, PK]]) -> dict[tuple[str, str], list[Conflict]]:
        """The conflicts on these rows a decision from elsewhere may settle (open, or decided automatically)."""
        return conflicts.settleable_rows(self.conn, keys)

    def count_open_conflicts(self) -> int:
        """How many conflicts are open."""
        return conflicts.count_open(self.conn)

    def record_finding(self, finding: Finding, *, device_id: str, now: float) -> int:
        """Store a conflict found while merging: held ones open, others decided automatically; its id."""
        return conflicts.record(self.conn, finding, device_id=device_id, now=now)

    def record_constraint(
        self,
        *,
        table: str,
        pk: PK,
        local: Any,
        remote: Any,
        remotes: Sequence[tuple[str, str]],
        reason: str,
        now: float,
    ) -> int:
        """Open (or extend) a constraint conflict on a row; its id."""
        return conflicts.record_constraint(
            self.conn, table=table, pk=pk, local=local, remote=remote, remotes=remotes, reason=reason, now=now
        )

    def close_conflict(
        self, conflict_id: int, *, decision: str, value: Any, by: str, how: str, version: str | None, now: float
    ) -> None:
        """Mark a conflict decided."""
        conflicts.close(
            self.conn, conflict_id, decision=decision, value=value, by=by, how=how, version=version, now=now
        )

    def reopen_conflict(self, conflict_id: int, *, now: float) -> None:
        """Open a decided conflict again (undoing a decision that was not shared yet)."""
        conflicts.reopen(self.conn, conflict_id, now=now)

    def unsent_local(self, version: str) -> int | None:
        """The log id of the local entry ``version`` while it is unshared and in no batch yet, else None."""
        query = sa.select(s.log.c.id).where(
            s.log.c.state == s.LogState.UNSHARED, s.log.c.version == version, s.log.c.batch_id.is_(None)
        )
        found = self.conn.execute(query).scalar()
        return None if found is None else int(found)

    def forget_registers(self, table: str, text: str) -> None:
        """Delete a row's registers (sync then knows nothing of the row, as before it first saw it)."""
        self.conn.execute(s.rows.delete().where(s.rows.c.tbl == table, s.rows.c.pk == text))

    def drop_settings(self, keys: Iterable[str]) -> None:
        """Delete settings."""
        for part in chunks(list(keys)):
            self.conn.execute(s.state.delete().where(s.state.c.key.in_(part)))

    # -- what the device shows --------------------------------------------------------------

    def counts(self) -> dict[int, int]:
        """How many log entries are in each state."""
        return views.counts(self.conn)

    def records(self, states: Sequence[s.LogState], **filters: Any) -> list[LogRecord]:
        """Log entries in these states, newest first; see :func:`._views.records`."""
        return views.records(self.conn, self.catalog, states, **filters)

    def quarantined(self, ids: Sequence[int] | None = None) -> list[QuarantinedEntry]:
        """The quarantined entries (all, or ``ids``), oldest first."""
        return views.quarantined(self.conn, ids)

    def requeue(self, ids: Sequence[int]) -> None:
        """Make quarantined entries pending again."""
        views.requeue(self.conn, ids)

    def skip(self, ids: Sequence[int]) -> None:
        """Give up on quarantined entries."""
        views.skip(self.conn, ids)

    def record_sync(
        self, started_at: float, finished_at: float, remote: str | None, report: Any, error: str | None
    ) -> None:
        """Keep one sync in the device's history (its last thousand are kept)."""
        self.conn.execute(
            s.syncs.insert().values(
                started_at=started_at,
                finished_at=finished_at,
                remote=remote,
                report=orjson.dumps(report).decode(),
                error=error,
            )
        )
        keep = self.conn.execute(sa.select(s.syncs.c.id).order_by(s.syncs.c.id.desc()).offset(1000).limit(1)).scalar()
        if keep is not None:
            self.conn.execute(s.syncs.delete().where(s.syncs.c.id <= keep))

    def history(self, *, limit: int | None, offset: int) -> list[SyncRecord]:
        """Past syncs, newest first."""
        query = sa.select(s.syncs).order_by(s.syncs.c.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        rows = self.conn.execute(query).all()
        return [SyncRecord(r.id, r.started_at, r.finished_at, r.remote, orjson.loads(r.report), r.error) for r in rows]


def _place_setting(place: LogPlace) -> dict[str, int | None]:
    """How a log's place is kept in the ``logs`` setting (the current log's in settings of their own)."""
    return {"cursor": place.cursor, "pushed": place.pushed, "marked": place.marked}


class DeviceStore:
    """A device database: its engine, its synced tables, and transactions on it."""

    def __init__(self, engine: sa.Engine) -> None:
        """Open a database that sync was installed on; raise NotInitializedError when it was not."""
        self.engine = engine
        # a read: opening a device never waits for a sync (or another program) writing to it
        with self.translated(), engine.connect() as conn:
            conn = conn.execution_options(syncengine_read=True)
            present = set(sa.inspect(conn).get_table_names())
            _refuse_shared_log(engine, present)
            if "syncengine_state" not in present:
                raise NotInitializedError(
                    f"{where(engine.url)} has no sync installed; run 'syncengine init' on it first"
                )
            missing = [t for t in s.metadata.sorted_tables if t.name not in present]
            self.catalog = load_catalog(conn, present)
            self.missing = missing_tables(conn, self.catalog)
            """Synced tables the database no longer has (renamed or dropped by another program): a sync refuses."""
        if missing:  # made by an older version: add the engine's newer tables
            with self.translated(), engine.begin() as conn:
                s.metadata.create_all(conn, tables=missing, checkfirst=True)

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """Turn a driver error leaving the block into a :class:`DatabaseError` that says, in our words, what is wrong."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            message = explain(exc, where(self.engine.url), role="device database")
            raise DatabaseError(message, retryable=isinstance(exc, sa.exc.OperationalError)) from exc

    @contextlib.contextmanager
    def begin(self) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.translated(), self.engine.begin() as conn:
            yield Tx(conn, self.catalog, self.missing)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A transaction for reading: on SQLite it takes no write lock."""
        with self.translated(), self.engine.connect() as conn:
            yield Tx(conn.execution_options(syncengine_read=True), self.catalog, self.missing)

    def reload(self) -> list[str]:
        """Reflect the synced tables again (after a migration) and re-create their triggers; return what changed.

        What changed is noticed and repaired as :meth:`check_schema` does (values
        written to added columns are captured), and kept for the next sync's report.
        """
        return self._reinstall(lambda conn: None)

    def migrate(self, statements: Sequence[str]) -> list[str]:
        """Run statements that change synced tables, capture set aside meanwhile; return what changed.

        SQLite refuses ``DROP COLUMN`` on a column the capture triggers name, so there
        the triggers are dropped first, and the statements run and the triggers come
        back in one transaction: no write of another program falls in between.
        PostgreSQL's and MariaDB's triggers survive the statements (MariaDB's cannot be
        dropped in a transaction: writes would go uncaptured meanwhile) and are
        re-installed right after them, as a sync would. A statement the database
        refuses undoes the whole (but MariaDB commits each statement as it runs).
        """

        if self.engine.dialect.name == "sqlite":
            for statement in statements:
                if _changes_rows(statement):
                    raise ConfigurationError(
                        f"{_shortened(statement)!r} changes rows, and migrate sets capture aside on SQLite: other "
                        "devices would never receive those writes. Run it after the migration (with sqlite3 or your "
                        "program), where it is captured; nothing was run"
                    )

        def run(conn: sa.Connection) -> None:
            if conn.dialect.name == "sqlite":
                for synced in self.catalog.values():
                    capture.uninstall(conn, synced.table)
                drift.record(conn, list(self.catalog))  # set aside on purpose: not a change to report
            for statement in statements:
                conn.exec_driver_sql(statement)

        return self._reinstall(run, told=True)  # the caller has the sentences: the next sync does not repeat them

    def _reinstall(self, first: Callable[[sa.Connection], None], *, told: bool = False) -> list[str]:
        """In one transaction, ``first``, then reflect the synced tables and re-install capture; what changed."""
        with self.translated(), self.engine.begin() as conn:
            first(conn)
            catalog = load_catalog(conn)
            said = drift.repair(conn, catalog, force=True)
            drift.note(conn, said, told=told)
            missing = missing_tables(conn, catalog)
        self.catalog, self.missing = catalog, missing
        for sentence in said:
            log.warning("schema change: %s", sentence)
        return said

    def check_schema(self, *, report: bool = False) -> list[str]:
        """Notice synced tables whose columns or triggers changed since sync was installed; repair them.

        Returns one sentence per changed table (see :mod:`._drift`). What is found is
        kept until a sync reports it: with ``report`` (a sync starting) it is returned
        with what earlier checks found, and forgotten, and entries quarantined for a
        column that exists now are made pending again. Costs two queries when nothing
        changed.
        """
        with self.read() as tx:
            changed, waiting = drift.look(tx.conn, self.catalog)
        if not changed and not (report and waiting):
            return []
        catalog = None
        found: list[str] = []
        with self.translated(), self.engine.begin() as conn:
            if changed:
                catalog = load_catalog(conn)
                found = drift.repair(conn, catalog)
            if report:
                said = [*drift.noted(conn), *found]
                drift.forget_noted(conn)
                # a column may have appeared: entries quarantined for lacking it apply in this sync
                for table, n in drift.retry_unknown_columns(conn, catalog or self.catalog).items():
                    retried = f"{n} quarantined {'entry' if n == 1 else 'entries'} retried"
                    at = next((i for i, x in enumerate(said) if x.startswith(f"{table}: ")), None)
                    if at is None:
                        said.append(f"{table}: {retried} (the columns they need exist now)")
                    else:
                        said[at] += f"; {retried}"
            else:
                said = found
                drift.note(conn, found)
            if catalog is not None:
                self.missing = missing_tables(conn, catalog)
        if catalog is not None:
            self.catalog = catalog
        for sentence in found:
            log.warning("schema change: %s", sentence)
        return said


_ROW_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "WITH"})


def _changes_rows(statement: str) -> bool:
    """Whether a statement writes rows (its first word, after comments, is INSERT, UPDATE, DELETE…)."""
    text = statement.lstrip()
    while text.startswith(("--", "/*")):
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        text = text[end + 1 :].lstrip() if end > 0 else ""
    first = text.lstrip("(").split(None, 1)[0].upper() if text.strip("( \n\t") else ""
    return first in _ROW_WORDS


def _shortened(statement: str, limit: int = 60) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refuse_shared_log(engine: sa.Engine, tables: set[str]) -> None:
    """Refuse a shared log (or a server's database) given where a device database belongs."""
    if "sharedlog_counter" in tables and "syncengine_state" not in tables:
        raise ConfigurationError(
            f"{where(engine.url)} is a shared log, not a device database: give your own database as DB "
            "and the shared log as --remote"
        )


def install(
    conn: sa.Connection, tables: Sequence[sa.Table], *, name: str | None, snapshot: bool, hostname: str
) -> None:
    """Install sync on ``tables`` (reflected on ``conn``): the engine's tables, a device id, triggers, a snapshot.

    Running it again adds tables; the device keeps its id. ``name`` (or
    ``hostname`` for a new device) is the device's display name.
    """
    _refuse_shared_log(conn.engine, set(sa.inspect(conn).get_table_names()))
    for table in tables:
        capture.check_syncable(table, conn.dialect)
    s.metadata.create_all(conn, checkfirst=True)
    if conn.execute(sa.select(s.control.c.id)).first() is None:
        conn.execute(s.control.insert().values(id=1, applying=0))
    if client.get_setting(conn, "device_id") is None:
        client.set_setting(conn, "device_id", uuid.uuid4().hex)
        client.set_setting(conn, "schema_version", s.SCHEMA_VERSION)
        client.set_setting(conn, drift.FORM, drift.FORM_NOW)
        client.set_setting(conn, "created_at", time.time())
    if name is not None or client.get_setting(conn, "name") is None:
        client.set_setting(conn, "name", name or hostname)
    installed = {r.name for r in conn.execute(sa.select(s.tables.c.name))}
    if installed:  # notice what changed in the tables synced already (and capture it) before re-installing
        said = drift.repair(conn, load_catalog(conn), force=True)
        drift.note(conn, said)
        for sentence in said:
            log.warning("schema change: %s", sentence)
    for table in tables:
        if table.name in installed:
            continue
        for sentence in _cascades(conn, table):
            log.warning("note: %s", sentence, extra=NOTICE)
        capture.install(conn, table)
        conn.execute(
            s.tables.insert().values(
                name=table.name,
                pk_columns=orjson.dumps([c.name for c in table.primary_key.columns]).decode(),
                installed_at=time.time(),
            )
        )
        if snapshot:
            capture.snapshot(conn, table)
        if retried := drift.retry_unknown_table(conn, table.name):
            log.info(
                "%d entries received for %s before it was synced here will be applied at the next sync",
                retried,
                table.name,
            )
    drift.record(conn, sorted({*installed, *(t.name for t in tables)}))


_ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT")


def _cascades(conn: sa.Connection, table: sa.Table) -> list[str]:
    """What to say of a table's foreign keys that change rows by themselves (ON DELETE CASCADE, SET NULL…)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":  # (SQLAlchemy's reflection leaves SQLite's actions out)
        quote = conn.dialect.identifier_preparer.quote
        rows = conn.exec_driver_sql(f"PRAGMA foreign_key_list({quote(table.name)})").all()
        actions = [("UPDATE", str(r[5])) for r in rows] + [("DELETE", str(r[6])) for r in rows]
    else:
        fks = table.foreign_key_constraints
        actions = [("DELETE", fk.ondelete or "") for fk in fks] + [("UPDATE", fk.onupdate or "") for fk in fks]
    found = sorted({f"ON {when} {action.upper()}" for when, action in actions if action.upper() in _ACTIONS})
    if not found:
        return []
    said = (
        f"{table.name}: its foreign keys {' and '.join(found)} change rows by themselves; a device whose "
        "database enforces them repeats the change when it applies a received delete, without recording it, "
        "so a row it added meanwhile under that parent goes there alone (verify shows it); deleting the "
        "children explicitly (ON DELETE RESTRICT) makes such a clash a constraint conflict instead"
    )
    if dialect in ("mysql", "mariadb"):
        said += "; and MariaDB runs no trigger for such changes: they are not captured here, so never shared"
    return [said]


def missing_message(name: str, db: str) -> str:
    """What to say of a synced table the database no longer has, and what to do."""
    return (
        f"synced table {name!r} is missing from {db} (renamed or dropped by another program?): rename it back "
        f'(syncengine migrate {db} "ALTER TABLE … RENAME TO {name}"), or create it again and run '
        f"'syncengine init {db} --table {name}'"
    )


def missing_tables(conn: sa.Connection, catalog: Mapping[str, SyncedTable]) -> list[str]:
    """The synced tables the database no longer has: those sync was installed on that ``catalog`` lacks."""
    return [name for name in drift.synced_names(conn) if name not in catalog]


def load_catalog(conn: sa.Connection, present: set[str] | None = None) -> dict[str, SyncedTable]:
    """The synced tables as the database has them now, by name (one the database lacks is left out).

    ``present`` is the database's table names when the caller has just read them.
    """
    if present is None:
        present = set(sa.inspect(conn).get_table_names())
    names = [name for name in drift.synced_names(conn) if name in present]  # a missing one: see missing_tables
    dropped: dict[str, list[str]] = client.get_setting(conn, drift.DROPPED, {}) or {}
    return {
        str(t.name): SyncedTable(
            t, conn.dialect, json_columns=capture.json_columns(conn, t), dropped=dropped.get(str(t.name), ())
        )
        for t in reflect(conn, names)
    }


def reflect(conn: sa.Connection, names: Sequence[str]) -> list[sa.Table]:
    """Reflect these tables; raise SchemaError naming the first one the database does not have."""
    metadata = sa.MetaData()
    inspector = sa.inspect(conn)
    _refuse_shared_log(conn.engine, set(inspector.get_table_names()))
    out = []
    for name in names:
        if not inspector.has_table(name):
            schema, _, bare = name.rpartition(".")
            if schema and conn.dialect.name == "postgresql" and inspector.has_table(bare, schema=schema):
                raise SchemaError(
                    f"table {name!r} is named with its schema: give {bare!r}, and put {schema!r} in the device URL's "
                    f"search path (…?options=-csearch_path%3D{schema})",
                    table=name,
                )
            raise SchemaError(f"table {name!r} does not exist in this database", table=name)
        out.append(sa.Table(name, metadata, autoload_with=conn))
    return out
