"""A device: one database with sync installed. The composition root of the engine.

``Device.init`` installs sync on tables of a database (capture triggers, the
engine's tables, a device id); ``Device.open`` opens one that has it. A device
syncs with a :class:`~syncengine.remote.SharedLog` through :meth:`Device.sync`
(blocking) or :meth:`Device.sync_async` (awaitable; the work runs in a thread so
the event loop never waits on the database or the network).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import _db, _decide, core, crypto
from ._db import create_engine, describe, explain, where
from ._doctor import Diagnosis, diagnose
from ._integrate import review_policy
from ._synclock import one_sync_at_a_time
from ._tokens import save_token, split_password
from ._verify import RepairReport, Verification, compare
from .crypto import KeyStatus
from .errors import (
    ConfigurationError,
    ConflictError,
    DatabaseError,
    QuarantineError,
    SchemaError,
    SyncEngineError,
)
from .events import ConflictDecided, ConflictEvent, ConflictReopened, Stage, Waiting
from .model import Conflict, DeviceInfo, LogRecord, Op, QuarantinedEntry, Status, SyncRecord, SyncReport
from .options import SyncOptions
from .remote import DeviceRoll, SharedLog, remote_url
from .store import DeviceStore, LogState, SyncedTable, Tx, install, reflect
from .sync import Identity, run

if TYPE_CHECKING:
    from .pairing import Pairing

log = logging.getLogger("syncengine")

_NAMES = "device_names"  # the setting that keeps other devices' display names, by device id


class Device:
    """One device database with sync installed on some of its tables."""

    def __init__(self, engine: sa.Engine) -> None:
        """Open an initialized device on ``engine``; prefer :meth:`open`."""
        self.engine = engine
        self._lock = threading.RLock()
        self._listeners: list[Callable[[ConflictEvent], None]] = []
        self.store = DeviceStore(engine)
        with self.store.read() as tx:
            self.device_id: str = tx.setting("device_id")
            self.name: str = tx.setting("name", "")
        try:  # a migration may have changed a synced table: re-install its triggers (the next sync reports it)
            self.store.check_schema()
        except (sa.exc.SQLAlchemyError, SyncEngineError) as exc:  # a read-only database still opens
            log.warning("cannot check the synced tables of %s: %s", where(engine.url), " ".join(str(exc).split()))

    # -- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, db: str | sa.URL | sa.Engine) -> Device:
        """Open a database that ``init`` has prepared (a URL, a path, or an engine)."""
        if isinstance(db, sa.Engine):
            return cls(db)
        engine = create_engine(db)
        path = _sqlite_file(engine)
        if path is not None and not path.exists():
            raise DatabaseError(f"database file {str(path)!r} does not exist")
        try:
            return cls(engine)
        except BaseException:
            engine.dispose()  # we made it: leave no connection behind
            raise

    @classmethod
    def init(
        cls,
        db: str | sa.URL | sa.Engine,
        tables: Sequence[str] = (),
        *,
        metadata: sa.MetaData | None = None,
        name: str | None = None,
        snapshot: bool = True,
    ) -> Device:
        """Install sync on ``tables`` (or every table of ``metadata``) and return the device.

        Tables named in ``metadata`` that do not exist yet are created. With
        ``snapshot`` the rows the tables already hold are recorded as inserts, so
        other devices receive them. Running it again adds tables; the device keeps
        its id. Raises :class:`SchemaError` when a table cannot be synced.
        """
        if name is not None:
            name = check_name(name)
        if isinstance(db, sa.Engine):
            return cls._init(db, tables, metadata=metadata, name=name, snapshot=snapshot)
        engine = create_engine(db)
        path = _sqlite_file(engine)
        made = path is not None and not path.exists()
        if made and metadata is None:
            engine.dispose()
            raise DatabaseError(
                f"database file {str(path)!r} does not exist: init installs sync on tables of an existing database"
            )
        try:
            return cls._init(engine, tables, metadata=metadata, name=name, snapshot=snapshot)
        except BaseException:
            engine.dispose()  # we made it: leave no connection behind
            if made and path is not None:  # nor an empty file where there was none
                for leftover in (path, path.with_name(path.name + "-journal")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
            raise

    @classmethod
    def _init(
        cls,
        engine: sa.Engine,
        tables: Sequence[str],
        *,
        metadata: sa.MetaData | None,
        name: str | None,
        snapshot: bool,
    ) -> Device:
        names = list(tables)
        if metadata is not None:
            chosen = [metadata.tables[n] for n in names] if names else list(metadata.sorted_tables)
            try:
                metadata.create_all(engine, tables=chosen, checkfirst=True)
            except KeyError as exc:
                raise SchemaError(f"table {exc.args[0]!r} is not in the given metadata", table=exc.args[0]) from None
            except sa.exc.DBAPIError as exc:
                message = explain(exc, where(engine.url), role="database")
                raise DatabaseError(message, retryable=isinstance(exc, sa.exc.OperationalError)) from exc
            names = [t.name for t in chosen]
        if not names:
            raise ConfigurationError("name at least one table to sync")
        try:
            with engine.begin() as conn:
                install(conn, reflect(conn, names), name=name, snapshot=snapshot, hostname=socket.gethostname())
        except sa.exc.DBAPIError as exc:
            message = explain(exc, where(engine.url), role="database")
            raise DatabaseError(message, retryable=isinstance(exc, sa.exc.OperationalError)) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise DatabaseError(f"cannot prepare {where(engine.url)}: {exc}") from exc
        return cls(engine)

    @property
    def catalog(self) -> Mapping[str, SyncedTable]:
        """The synced tables as the engine knows them, by name."""
        return self.store.catalog

    def refresh_schema(self) -> list[str]:
        """Reflect the synced tables again (after a migration) and re-create their triggers; return what changed.

        Every sync (and opening the device) does this by itself when a synced table's
        columns or triggers changed, and values written to an added column before are
        captured to share; the next sync's ``schema_changes`` reports it.
        """
        return self.store.reload()

    def migrate(self, *statements: str) -> list[str]:
        """Run SQL that changes synced tables (``ALTER TABLE notes DROP COLUMN color``); return what changed.

        Capture is set aside while the statements run and put back after them, in one
        transaction on SQLite and PostgreSQL (SQLite itself refuses to drop a column
        the capture triggers name). Returns one sentence per changed table, as a
        sync's ``schema_changes``; a statement the database refuses raises
        :class:`DatabaseError` and changes nothing (MariaDB keeps the statements
        before it: its DDL commits as it runs).
        """
        if not statements:
            raise ConfigurationError("give at least one SQL statement to run")
        return self.store.migrate(statements)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Device({describe(self.engine)!r}, id={self.device_id!r}, name={self.name!r})"

    @property
    def tables(self) -> tuple[str, ...]:
        """The names of the synced tables."""
        return tuple(self.catalog)

    @property
    def missing_tables(self) -> tuple[str, ...]:
        """Synced tables the database no longer has (renamed or dropped by another program): a sync refuses until they are back."""
        return tuple(self.store.missing)

    def table(self, name: str) -> sa.Table:
        """The SQLAlchemy table of a synced table, as reflected (its columns' types, its primary key)."""
        self._check_table(name)
        return self.catalog[name].table

    def rows(self, table: str, keys: Sequence[Any]) -> list[dict[str, Any]]:
        """Read the rows of a synced table with these primary keys (tuples, or plain values for one key column).

        Rows that do not exist are left out; the order is the database's.
        """
        self._check_table(table)
        pks = [tuple(k) if isinstance(k, tuple | list) else (k,) for k in keys]
        columns = self.catalog[table].pk_columns
        wrong = next((pk for pk in pks if len(pk) != len(columns)), None)
        if wrong is not None:
            raise ConfigurationError(
                f"table {table}'s key has {len(columns)} column(s) ({', '.join(columns)}): "
                f"give each key as that many values, not {list(wrong)!r}"
            )
        with self.store.read() as tx:
            return tx.rows(table, pks)

    # -- syncing -----------------------------------------------------------------

    def sync(
        self,
        remote: SharedLog | None,
        options: SyncOptions | None = None,
        *,
        wait_for_other_sync: bool = True,
        **kwargs: Any,
    ) -> SyncReport:
        """Run one sync (receive → share → reconcile) and return its report.

        Options come as a :class:`SyncOptions` or as its fields by keyword. Only one
        sync of a database runs at a time, in this process or any other: a second
        waits for the first (logging a notice that it does), or with
        ``wait_for_other_sync=False`` raises :class:`DatabaseError` ("another sync of
        this database is running").
        """
        opts = options if options is not None else SyncOptions(**kwargs)
        deciders: set[str] = set()

        def notify(event: ConflictEvent) -> None:
            if isinstance(event, ConflictDecided) and event.conflict.decided_how == "remote":
                deciders.add(event.conflict.decided_by or "")
            self._notify(event)

        def waiting(reason: str) -> None:
            if opts.on_event is not None:
                opts.on_event(Waiting(reason))

        with self._lock, one_sync_at_a_time(self.engine, wait=wait_for_other_sync, cancel=opts.cancel, on_wait=waiting):
            try:
                report = run(self.store, Identity(self.device_id, self.name), remote, opts, notify=notify)
            finally:
                self._reread_identity()
            if remote is not None and deciders - {""} - self.device_names().keys():
                self._learn_names(remote)
            return report

    def record_interrupted(self, remote: SharedLog | None, started_at: float, reached: Mapping[str, int]) -> None:
        """Keep in the history a sync that was stopped from outside before it could record itself.

        ``reached`` is what its progress events last said per stage (entries
        received, sent, applied): the record's counts. For a front end that ends
        the process after Ctrl-C (the command line); it writes nothing when the
        database is locked by the interrupted transaction.
        """
        report = SyncReport(
            received=reached.get("receive", 0),
            sent=reached.get("share", 0),
            applied=reached.get("reconcile", 0),
            cancelled=True,
            device_id=self.device_id,
        )
        with _db.uninterruptible(), _db.nowait(), self.store.begin() as tx:
            where = remote_url(remote) if remote is not None else None
            tx.record_sync(started_at, time.time(), where, report.as_json(), "interrupted")

    def _reread_identity(self) -> None:
        """Take up the device id again: a sync gives a copied database a new one."""
        with contextlib.suppress(Exception), self.store.read() as tx:
            self.device_id = tx.setting("device_id")

    async def sync_async(
        self, remote: SharedLog | None, options: SyncOptions | None = None, **kwargs: Any
    ) -> SyncReport:
        """Like :meth:`sync`, awaitable; cancelling the task stops the sync at the next batch."""
        opts = options if options is not None else SyncOptions(**kwargs)
        if opts.cancel is None:
            opts.cancel = threading.Event()
        task = asyncio.ensure_future(asyncio.to_thread(self.sync, remote, opts))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            opts.cancel.set()
            with contextlib.suppress(Exception):
                await task
            raise

    def verify(
        self, remote: SharedLog, *, limit: int = 20, sync: bool = True, options: SyncOptions | None = None
    ) -> Verification:
        """Compare this device's synced state with every other device's at the same shared-log position.

        First syncs (unless ``sync`` is false; with ``options``, for progress and
        cancel) and receives once more, so this device's state reflects a position;
        then publishes its digest and compares it with the digests the other devices
        published last. ``limit`` caps the keys listed per table. See :class:`Verification`.
        """
        if sync:
            self.sync(remote, options)
            self.sync(remote, options, stages=("receive", "reconcile"))
        with self._lock:
            return compare(self.store, self.device_id, remote, limit=limit)

    def repair(
        self, remote: SharedLog, *, everything: bool = False, options: SyncOptions | None = None
    ) -> RepairReport:
        """Make devices that differ converge again without losing a captured write; see the README.

        Verifies first; then shares as inserts the rows its tables hold that sync never
        saw (written while capture was off), and shares again, with the versions they
        have, the rows in the parts that differ from another device (every row with
        ``everything``, or when nothing could be compared). A device that missed a row
        takes it; nothing newer is overwritten; where two devices hold different values
        under the same version, the row becomes a ``diverged`` conflict for a person.
        ``options`` apply to the syncs it runs (progress, cancel).
        """
        found = self.verify(remote, limit=2**31, options=options)
        keys: dict[str, list[Any]] | None = None
        if not everything and found.position is not None:
            keys = {}
            for difference in found.differences:
                keys.setdefault(difference.table, []).extend(difference.keys)
        with self._lock, self.store.begin() as tx:
            captured = tx.capture_missing()
            tx.stamp(self.device_id)
            restated = tx.restate(self.device_id, keys) if keys is None or keys else 0
        log.info("repair: %d rows captured, %d restated", captured, restated)
        report = self.sync(remote, options)
        return RepairReport(captured, restated, found.differences, report)

    def doctor(
        self, remote: SharedLog | None = None, *, db: str | None = None, remote_arg: str | None = None
    ) -> list[Diagnosis]:
        """List what is wrong with this device (and its shared log, given ``remote``), each with its fix.

        ``db`` and ``remote_arg`` are how the fixes name the database and the remote
        (default: this device's URL and the remote's repr). Changes nothing but this
        device's published digest.
        """
        with self._lock:
            return diagnose(
                self.store,
                self.device_id,
                db or describe(self.engine),
                remote,
                remote_arg or (repr(remote) if remote is not None else ""),
            )

    def pair(self, *, host: str | None = None, port: int = 0, timeout: float = 600.0, idle: float = 60.0) -> Pairing:
        """Start pairing: listen for one new device and return the :class:`~syncengine.pairing.Pairing`.

        Show its ``code`` to the person at the new device, then call its ``serve()``
        (blocking; it takes ``on_progress`` and a ``cancel`` event). ``host`` is the
        address to listen on and to put in the code (default: every interface, and
        this machine's LAN address in the code); ``timeout`` how long the code works;
        ``idle`` how long a silent joiner is waited for.
        """
        from .pairing import Pairing

        return Pairing(self, host=host, port=port, timeout=timeout, idle=idle)

    # -- encryption (see syncengine.crypto) ---------------------------------------------

    def setup_encryption(self, remote: SharedLog, passphrase: str, *, cost: dict[str, int] | None = None) -> KeyStatus:
        """Encrypt the user's shared log from now on: a new data key, wrapped with ``passphrase``, kept in the log.

        This device keeps the key unwrapped (system keyring, else an owner-only file);
        every other device needs :meth:`join_encryption` with the same passphrase
        before it can sync again. ``cost`` overrides Argon2id's (``memory_kib``,
        ``iterations``, ``lanes``); tests lower it, people should not.
        """
        return crypto.setup(self.store, remote, passphrase, cost=cost)

    def join_encryption(self, remote: SharedLog, passphrase: str) -> KeyStatus:
        """Unwrap the shared log's keys with ``passphrase`` and keep them here (WrongPassphrase if it does not fit)."""
        return crypto.join(self.store, remote, passphrase)

    def encryption_status(self, remote: SharedLog | None = None) -> KeyStatus:
        """Whether this device encrypts and with which key; with ``remote``, whether the log is encrypted."""
        return crypto.status(self.store, remote)

    def rotate_key(self, remote: SharedLog, passphrase: str, *, chained: bool = True) -> KeyStatus:
        """A new data key for new batches; the old ones stay readable.

        Other devices holding the previous key take the new one at their next sync
        (it is also wrapped under the previous key) unless ``chained`` is false:
        then each needs :meth:`join_encryption` with the passphrase (after a device
        was lost, with a changed passphrase).
        """
        return crypto.rotate(self.store, remote, passphrase, chained=chained)

    def change_passphrase(self, remote: SharedLog, old: str, new: str) -> KeyStatus:
        """Wrap every key under a new passphrase; the log's batches are not encrypted again."""
        return crypto.change_passphrase(self.store, remote, old, new)

    def synced_rows(self) -> int:
        """How many rows the synced tables hold together (one count per table, without a write lock)."""
        with self.store.read() as tx:
            return tx.synced_rows()

    def reset_identity(self) -> str:
        """Give this database a new device id (after copying it on purpose to set up another device); return it.

        The next sync registers the new id and shares the whole state with the shared
        log, as a device that joins. Entries stamped under the old id and not yet
        sent are refused with a :class:`ConfigurationError` (sync first): they must
        leave under the id that wrote them.
        """
        with self._lock, self.store.begin() as tx:
            waiting = tx.waiting_under_current_id()
            if waiting:
                raise ConfigurationError(
                    f"{waiting} entries were stamped under the current device id and wait to be sent: "
                    "sync first, then reset the identity"
                )
            new = uuid.uuid4().hex
            old = tx.reset_identity(new)
        log.info("device %s is now device %s", old, new)
        self.device_id = new
        return new

    # -- looking ------------------------------------------------------------------

    def status(self) -> Status:
        """Return this device's counts: unshared, pending, quarantined, conflicts."""
        with self.store.read() as tx:
            counts = tx.counts()
            return Status(
                device_id=self.device_id,
                name=self.name,
                tables=self.tables,
                unshared=counts.get(LogState.CAPTURED, 0) + counts.get(LogState.UNSHARED, 0),
                pending=counts.get(LogState.PENDING, 0),
                quarantined=counts.get(LogState.QUARANTINED, 0),
                conflicts=tx.count_open_conflicts(),
                last_sync_at=tx.setting("last_sync_at"),
                cursor=int(tx.setting("cursor", 0)),
                clock_offset_ms=tx.setting("clock_offset_ms"),
            )

    def history(self, *, limit: int | None = 50, offset: int = 0) -> list[SyncRecord]:
        """Return this device's past syncs, newest first (the last thousand are kept)."""
        with self.store.read() as tx:  # opening the device made the table if it was missing
            return tx.history(limit=limit, offset=offset)

    def has_local_changes(self) -> bool:
        """Return whether local writes are waiting to be shared."""
        with self.store.read() as tx:
            return tx.has_local_changes()

    def log(
        self,
        *,
        unshared: bool = False,
        pending: bool = False,
        quarantined: bool = False,
        limit: int | None = None,
        offset: int = 0,
        table: str | None = None,
        op: str | None = None,
        device_id: str | None = None,
        before_id: int | None = None,
    ) -> list[LogRecord]:
        """Return client-log entries, newest first (all kept ones when no state filter is set).

        Filter by ``table``, ``op`` ("insert", "update", "delete") and ``device_id``;
        page with ``limit`` and ``before_id`` (the last id of the previous page), which
        stays fast deep in a long log, or ``offset``.
        """
        states: list[LogState] = []
        if unshared:
            states += [LogState.CAPTURED, LogState.UNSHARED]
        if pending:
            states.append(LogState.PENDING)
        if quarantined:
            states.append(LogState.QUARANTINED)
        if not states:
            states = list(LogState)
        if op is not None and op not in {o.value for o in Op}:
            raise ConfigurationError(f"unknown operation {op!r}: choose insert, update or delete")
        with self.store.read() as tx:
            return tx.records(
                states,
                limit=limit,
                offset=offset,
                table=table,
                op=op,
                device_id=device_id,
                before_id=before_id,
            )

    def quarantined(self) -> list[QuarantinedEntry]:
        """Return the quarantined entries, oldest first."""
        with self.store.read() as tx:
            return tx.quarantined()

    def retry_quarantined(self, ids: Sequence[int] | None = None, *, options: SyncOptions | None = None) -> SyncReport:
        """Try quarantined entries again (all, or ``ids``); those that fail again stay quarantined.

        A whole batch quarantined before it could be read (malformed, or encrypted and
        not readable here) holds no entry to try: it stays as it is, with its reason.
        """
        with self._lock:
            self.refresh_schema()
            with self.store.begin() as tx:
                chosen = self._quarantine_ids(tx, ids)
                readable = {q.id for q in tx.quarantined(chosen) if q.version is not None}
                tx.requeue([i for i in chosen if i in readable])
            only: tuple[Stage, ...] = ("reconcile",)
            opts = dataclasses.replace(options or SyncOptions(), stages=only)
            return run(self.store, Identity(self.device_id, self.name), None, opts, notify=self._notify)

    def skip_quarantined(self, ids: Sequence[int] | None = None) -> int:
        """Give up on quarantined entries (all, or ``ids``); return how many."""
        with self.store.begin() as tx:
            chosen = self._quarantine_ids(tx, ids)
            tx.skip(chosen)
            return len(chosen)

    def _quarantine_ids(self, tx: Tx, ids: Sequence[int] | None) -> list[int]:
        found = [q.id for q in tx.quarantined(ids)]
        if ids is not None:
            missing = sorted(set(ids) - set(found))
            if missing:
                raise QuarantineError(f"no quarantined entry with id {', '.join(map(str, missing))}")
        return found

    # -- conflicts -------------------------------------------------------------------

    def review_policy(self) -> Callable[[str], bool]:
        """Return table name → whether its conflicts wait for a person (the review policy)."""
        with self.store.read() as tx:
            return review_policy(tx.settings("review"), self.tables)

    def set_review(self, on: bool, table: str | None = None) -> None:
        """Hold conflicts for a person (``on``) or commit the automatic result, for all tables or one."""
        self._check_table(table)
        self._set("review" if table is None else f"review.{table}", bool(on))

    def _check_table(self, table: str | None) -> None:
        if table is not None and table not in self.catalog:
            raise ConfigurationError(f"table {table!r} is not synced on this device (synced: {', '.join(self.tables)})")

    def conflicts(
        self,
        *,
        include_decided: bool = False,
        table: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        status: str | None = None,
        newest_first: bool = False,
    ) -> list[Conflict]:
        """Return open conflicts (and, with ``include_decided``, the history), oldest first.

        ``status="decided"`` gives the history alone; ``newest_first`` and
        ``limit``/``offset`` page through it. The ``local`` side of an open conflict
        is the row's current value here.
        """
        if status not in (None, "open", "decided"):
            raise ConfigurationError(f"unknown conflict status {status!r}: open or decided")
        with self.store.read() as tx:
            found = tx.conflicts(
                include_decided=include_decided,
                table=table,
                limit=limit,
                offset=offset,
                status=status,
                newest_first=newest_first,
            )
            keys = {(c.table, c.pk) for c in found if c.is_open and c.table in self.catalog}
            live = tx.load_states(keys) if keys else {}
        out = []
        for conflict in found:
            loaded = live.get((conflict.table, conflict.pk))
            if loaded is not None and conflict.is_open:
                state = loaded.state
                local = (
                    (state.values.get(conflict.field) if loaded.present else None)
                    if conflict.field
                    else (dict(state.values) if loaded.present else None)
                )
                conflict = dataclasses.replace(conflict, local=local)
            out.append(conflict)
        return out

    def conflict(self, conflict_id: int) -> Conflict:
        """Return one conflict; raise :class:`ConflictError` when there is none with that id."""
        with self.store.read() as tx:
            found = tx.conflicts(include_decided=True, ids=[conflict_id])
        if not found:
            raise ConflictError(f"no conflict with id {conflict_id}")
        return found[0]

    def resolve(self, conflict_id: int, take: core.Take | None = None, *, value: Any = core.NO_VALUE) -> Conflict:
        """Decide an open conflict: ``take`` "auto", "local" or "remote", or a custom ``value``.

        For a field conflict ``value`` is the field's value; for a whole-row conflict a
        dict of column values. JSON-like values are converted to the column's type and
        checked. The decision is committed in one transaction and shared at the next sync.
        """
        with self._lock, self.store.begin() as tx, tx.applying():
            _decide.forget_sent(tx)
            _decide.decide(tx, self.device_id, conflict_id, take=take, value=value, now=time.time())
        decided = self.conflict(conflict_id)
        log.info("conflict %d decided here: %s", conflict_id, decided.decision)
        self._notify(ConflictDecided(decided))
        return decided

    def resolve_many(
        self, take: core.Take, *, table: str | None = None, skip_undecidable: bool = False
    ) -> list[Conflict]:
        """Decide every open conflict (of ``table``) the same way, in one transaction.

        A conflict that cannot take that decision (a constraint conflict has no
        automatic result; a remote change may still break its constraint) makes the
        whole call fail and change nothing — or, with ``skip_undecidable``, stays
        open while the others are decided.
        """
        self._check_table(table)
        with self._lock, self.store.begin() as tx, tx.applying():
            _decide.forget_sent(tx)
            ids = [c.id for c in tx.conflicts(table=table)]
            done = []
            for conflict_id in ids:
                if not skip_undecidable:
                    _decide.decide(tx, self.device_id, conflict_id, take=take, now=time.time())
                    done.append(conflict_id)
                    continue
                try:
                    with tx.savepoint():
                        _decide.decide(tx, self.device_id, conflict_id, take=take, now=time.time())
                    done.append(conflict_id)
                except ConflictError:
                    continue
        decided = [self.conflict(i) for i in done]
        for conflict in decided:
            self._notify(ConflictDecided(conflict))
        return decided

    def undo_decisions(self, conflict_ids: Sequence[int]) -> list[Conflict]:
        """Take back decisions made on this device that no sync has sent yet; the conflicts are open again.

        The rows and their sync state go back to what they were before the decisions,
        the decisions' entries are dropped, and entries a constraint conflict held are
        held again, all in one transaction. Raises :class:`ConflictError` and changes
        nothing when one cannot be undone: it was not decided here (or was decided by
        a sync), its decision was sent (or is in a batch being sent), or its row
        changed since. :meth:`undo_problem` says so without trying.
        """
        with self._lock, self.store.begin() as tx, tx.applying():
            _decide.undo(tx, self.device_id, list(conflict_ids), now=time.time())
        reopened = [self.conflict(i) for i in conflict_ids]
        log.info("decisions undone here: %s", ", ".join(map(str, conflict_ids)))
        for conflict in reopened:
            self._notify(ConflictReopened(conflict))
        return reopened

    def undo_problem(self, conflict_ids: Sequence[int]) -> str | None:
        """Why :meth:`undo_decisions` would refuse these decisions now (one sentence), or None when it would not."""
        with self.store.read() as tx:
            return _decide.undo_problem(tx, list(conflict_ids))

    def add_listener(self, listener: Callable[[ConflictEvent], None]) -> None:
        """Call ``listener`` with :class:`~syncengine.events.ConflictFound` / ``ConflictDecided`` / ``ConflictReopened`` events."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ConflictEvent], None]) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _notify(self, event: ConflictEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- settings -----------------------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        """Return a setting stored in the device database."""
        return self._get(key, default)

    def set_setting(self, key: str, value: Any) -> None:
        """Store a setting in the device database (JSON-serializable values)."""
        self._set(key, value)

    def remote_settings(self) -> dict[str, Any] | None:
        """The shared log this device syncs with unless told otherwise: ``{"url", "user"}``, or None.

        Kept in the device database (setting ``"remote"``) by :meth:`set_remote`;
        ``url`` is the remote's URL or path as given (a plain file path made
        absolute), ``user`` a user name or None. Never a token.
        """
        value = self._get("remote")
        if not isinstance(value, dict) or not isinstance(value.get("url"), str) or not value["url"]:
            return None
        user = value.get("user")
        return {"url": value["url"], "user": user if isinstance(user, str) and user else None}

    def set_remote(self, url: str | None, user: str | None = None) -> str | None:
        """Remember ``url`` (a shared-log URL or path) and ``user`` as this device's remote; None forgets it.

        A plain file path is stored absolute, so the remote is found again from any folder.
        A password in a database URL is not stored in the device database: it is kept
        as server tokens are (the system keyring, else an owner-only file), and
        :func:`~syncengine.open_shared_log` puts it back. Returns where it was kept
        (None: there was none).
        """
        if url is None:
            self._set("remote", None)
            return None
        if not url.strip():
            raise ConfigurationError("the remote cannot be empty: give a shared log's path or URL")
        if "://" not in url and url != "memory:":
            url = str(Path(url).expanduser().absolute())
        url, password = split_password(url)
        kept = save_token(url, password) if password else None
        self._set("remote", {"url": url, "user": user or None})
        return kept

    def device_names(self) -> dict[str, str]:
        """The display names of the devices this one knows, by device id (its own included); no network.

        A sync that receives a decision from a device whose name is not known yet
        asks the shared log's registry once and keeps the names; so does
        :meth:`remember_devices`, with a list a caller fetched.
        """
        kept = self._get(_NAMES)
        names = {str(k): str(v) for k, v in kept.items() if v} if isinstance(kept, dict) else {}
        if self.name:
            names[self.device_id] = self.name
        return names

    def remember_devices(self, devices: Iterable[DeviceInfo]) -> None:
        """Keep the names of these devices (as a shared log's registry lists them) for :meth:`device_names`."""
        kept = self._get(_NAMES)
        names = dict(kept) if isinstance(kept, dict) else {}
        update = {d.device_id: d.name for d in devices if d.name and d.device_id != self.device_id}
        if any(names.get(k) != v for k, v in update.items()):
            self._set(_NAMES, {**names, **update})

    def forget_device(self, remote: SharedLog, device: str) -> DeviceInfo:
        """Take another device that is gone out of the shared log's registry; return its record as it was.

        ``device`` is its id, or its name when no other device has that name. Its
        batches stay in the log (every device still reads them); it leaves
        ``devices``, ``verify`` and ``doctor`` (which stop waiting for it). A device
        forgotten that syncs again registers again and shares its state once more.
        Raises :class:`ConfigurationError` for this device itself, a name or id the
        log does not list, a name two devices have, or a log that cannot forget.
        """
        if not isinstance(remote, DeviceRoll):
            raise ConfigurationError(f"the shared log {remote_url(remote)} cannot forget a device")
        listed = remote.devices()
        found = [d for d in listed if d.device_id == device] or [d for d in listed if d.name == device]
        if not found:
            raise ConfigurationError(
                f"the shared log {remote_url(remote)} lists no device {device!r} (see: syncengine devices)"
            )
        if len(found) > 1:
            ids = ", ".join(d.device_id for d in found)
            raise ConfigurationError(
                f"{len(found)} devices are named {device!r} ({ids}): give the id of the one to forget"
            )
        gone = found[0]
        if gone.device_id == self.device_id:
            raise ConfigurationError(
                "that is this device: forget a device from another one (this one registers at every sync)"
            )
        remote.forget_device(gone.device_id)
        log.warning("forgot device %s (%s) in the shared log %s", gone.name, gone.device_id, remote_url(remote))
        return gone

    def _learn_names(self, remote: SharedLog) -> None:
        """Keep the names the shared log's registry lists; a failure only leaves them unknown (ids are shown)."""
        try:
            self.remember_devices(remote.devices())
        except SyncEngineError as exc:
            log.info("could not learn the names of the other devices: %s", " ".join(str(exc).split()))

    def rename(self, name: str) -> None:
        """Change this device's display name (sent to the shared log at the next sync).

        Raises :class:`ConfigurationError` for a name that is empty, longer than 256
        characters or holds a line break (see :func:`check_name`).
        """
        name = check_name(name)
        self._set("name", name)
        self.name = name

    def _get(self, key: str, default: Any = None) -> Any:
        with self.store.read() as tx:
            return tx.setting(key, default)

    def _set(self, key: str, value: Any) -> None:
        with self.store.begin() as tx:
            tx.set_setting(key, value)


NAME_MAX = 256  # the shared log's registry keeps a name in up to this many characters


def check_name(name: str) -> str:
    """Return a device name without surrounding blanks; raise :class:`ConfigurationError` when it cannot be one."""
    name = name.strip()
    if not name:
        raise ConfigurationError("a device name cannot be empty")
    if len(name) > NAME_MAX:
        raise ConfigurationError(f"a device name has at most {NAME_MAX} characters (this one has {len(name)})")
    if any(c in name for c in "\r\n\t\x00"):
        raise ConfigurationError(f"a device name is one line, without tabs: {name!r}")
    return name


def _sqlite_file(engine: sa.Engine) -> Path | None:
    """The file of an SQLite database given by path or URL (None for any other database, or in memory)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if str(url.database).startswith("file:"):  # an SQLite URI: its own options decide
        return None
    return Path(str(url.database))


__all__ = ["Device"]
