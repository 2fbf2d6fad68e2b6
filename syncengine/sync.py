"""One sync: receive → share → reconcile, batch by batch.

* **receive** pulls other devices' batches after this device's cursor, decodes
  them, and stores their entries as pending together with the new cursor, in one
  transaction per pull. The device clock moves past every received version.
* **share** pushes unshared entries in batches, stamping captured local writes as
  it goes (the first batch's worth alone, then up to 20,000). A batch is recorded
  before it is sent (on SQLite, with cleanup, whole in the outbox; elsewhere its id
  beside its entries), so a sync that died after sending re-sends the same batch
  under the same id, which the shared log stores once.
* **reconcile** takes pending entries in chunks; each chunk is one transaction:
  stamp local writes first, plan with the (pure) reconciler, write the plan, record
  row states, retire the entries. Entries that cannot be applied are quarantined
  and the rest of the chunk still lands.

Options mirror storex-sync's ``doSync``; see :class:`SyncOptions`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from . import _db, _gc
from ._codec import StoredEntry, codec_for
from ._codec import stored as stored_form
from ._integrate import BatchResult, integrate, integrate_entries, retry_constraints, review_policy
from ._verify import AUTO_PUBLISH_ROWS, publish
from .core import LogPlace
from .crypto import Keys, Unreadable, is_sealed, key_command, keys_for_sync
from .errors import (
    ConfigurationError,
    DatabaseError,
    KeyMissing,
    RemoteError,
    SchemaError,
    SyncCancelled,
    SyncEngineError,
)
from .events import (
    ConflictDecided,
    ConflictEvent,
    ConflictFound,
    Progress,
    Received,
    Reconciled,
    Reconciling,
    Sending,
    Stage,
    SyncEvent,
    SyncFinished,
    SyncStarted,
)
from .model import Entry, PullResult, PushResult, ReceivedBatch, SyncReport
from .options import STAGES, ExtraInfo, PostReceive, PreSend, SyncOptions
from .reconcile import Plan, RowPlan
from .remote import SharedLog, remote_url
from .store import DeviceStore, Outgoing, Tx, entry_of, missing_message, pk_key

log = logging.getLogger("syncengine")

# Captured writes stamped in one go when no stamped entry is left to send (after the
# first batch of a sync, which is stamped alone so that it leaves at once). Each
# transaction rewrites most pages of the row registers it touches (random keys), so
# fewer, larger ones cost A less alone; but the batches after the first then leave
# later, and the other device waits. Against 10,000, 50,000 measured A alone 0.84x
# but, through compare.py (2026-12-06), A 1.01x and A and B at once 0.75x (ranges
# overlapping): kept at 10,000. The batches of one go wait in memory to be sent (about
# 1 MB per 5,000 entries): 10,000 keeps a 1,000,000-entry sync under 100 MB.
_STAMP_AHEAD = 10000


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is syncing: the device's id and display name."""

    device_id: str
    name: str


ConflictListener = Callable[[ConflictEvent], None]


class _Run:
    """The state of one sync in progress."""

    def __init__(
        self,
        store: DeviceStore,
        identity: Identity,
        remote: SharedLog | None,
        options: SyncOptions,
        notify: ConflictListener | None,
    ) -> None:
        self.store = store
        self.device_id = identity.device_id
        self.name = identity.name
        self.remote = remote
        self.options = options
        self.notify = notify
        self.stages: tuple[Stage, ...] = tuple(s for s in STAGES if s in options.stages)
        self.report = SyncReport(stages=self.stages)
        self.codec = codec_for(options.serializer)
        self.stamping = True  # whether the share stage stamps captured writes (or only sends what is prepared)
        self.marked: int | None = None  # the pull cursor the log's registry recorded for this device in this sync
        self.keys: Keys | None = None  # the data keys, when the log or the device encrypts

    # -- helpers ---------------------------------------------------------------

    def emit(self, event: SyncEvent) -> None:
        if self.options.on_event is not None:
            self.options.on_event(event)
        if self.options.on_progress is not None and isinstance(event, Progress):
            self.options.on_progress(event)

    def keep_going(self) -> bool:
        """Return False when the sync must stop at this batch boundary."""
        if self.cancelled():
            return False
        if self.options.single_batch:
            self.report.stopped_early = True
            return False
        if self.options.should_continue is not None and not self.options.should_continue(self.report):
            self.report.stopped_early = True
            return False
        return True

    def cancelled(self) -> bool:
        if self.options.cancel is not None and self.options.cancel.is_set():
            self.report.cancelled = True
            return True
        return False

    def review_policy(self) -> Callable[[str], bool]:
        """Table → whether its conflicts wait for a person, from the device's settings."""
        with self.store.read() as tx:
            return review_policy(tx.settings("review"), tuple(self.store.catalog))

    def conflicts_changed(self, opened: Sequence[int], decided: Sequence[int]) -> None:
        """Tell the listeners of the sync and of the device about conflicts found and settled."""
        if not (opened or decided):
            return
        with self.store.read() as tx:
            found = {c.id: c for c in tx.conflicts(include_decided=True, ids=[*opened, *decided])}
        for ids, kind in ((opened, ConflictFound), (decided, ConflictDecided)):
            for conflict_id in ids:
                if conflict_id in found:
                    event = kind(found[conflict_id])
                    self.emit(event)
                    if self.notify is not None:
                        self.notify(event)

    # -- the stages ------------------------------------------------------------

    def run(self) -> SyncReport:
        started = time.perf_counter()
        started_at = time.time()
        log.info("sync of %s with %r: %s", self.name or self.device_id, self.remote, ", ".join(self.stages))
        self.emit(SyncStarted(self.stages))
        error: BaseException | None = None
        self.report.device_id = self.device_id
        try:
            self.report.schema_changes = self.store.check_schema(report=True)
            if self.remote is not None and ("receive" in self.report.stages or "share" in self.report.stages):
                self.meet()
            for stage in self.report.stages:
                if self.report.cancelled:
                    break
                t0 = time.perf_counter()
                getattr(self, stage)()
                self.report.timings[stage] = time.perf_counter() - t0
            if self.remote is not None and set(STAGES) <= set(self.stages) and not self.report.cancelled:
                with contextlib.suppress(RemoteError):  # a digest is a courtesy to verify; never fails a sync
                    publish(
                        self.store,
                        self.device_id,
                        self.remote,
                        most_rows=AUTO_PUBLISH_ROWS,
                        now=time.time(),
                        keys=self.keys,
                    )
            offset = getattr(self.remote, "clock_offset_ms", None)
            with self.store.begin() as tx:
                if not self.report.cancelled:
                    tx.set_setting("last_sync_at", time.time())
                if self.marked is not None:
                    tx.record_marked(self.marked)
                if offset is not None:  # a server told us its time: keep our clock's estimated offset
                    tx.set_setting("clock_offset_ms", round(float(offset), 1))
        except BaseException as exc:
            error = exc
            log.warning("sync of %s failed: %s", self.name or self.device_id, " ".join(str(exc).split()))
            raise
        finally:
            self.report.seconds = time.perf_counter() - started
            if error is None:
                r = self.report
                log.info(
                    "sync done in %.2fs: received %d, sent %d, applied %d, conflicts %d, quarantined %d%s",
                    r.seconds,
                    r.received,
                    r.sent,
                    r.applied,
                    r.conflicts,
                    r.quarantined,
                    " (cancelled)" if r.cancelled else "",
                )
            self._record(started_at, error)
            self.emit(SyncFinished(self.report, error))
        return self.report

    def _record(self, started_at: float, error: BaseException | None) -> None:
        """Keep this sync in the device's history (best effort: the database may be what failed).

        An interrupted sync is kept as "interrupted". After Ctrl-C the interrupted
        transaction may still hold the lock, so the record is then only written if
        it can be at once.
        """
        interrupted = _db.is_interrupt(error)
        if interrupted:
            self.report.cancelled = True
        text = None if error is None else (" ".join(str(error).split()) or type(error).__name__)
        with (
            contextlib.suppress(Exception),
            _db.uninterruptible(),
            # after Ctrl-C, or a lock that outlasted the wait, the record must not wait (and say so) again
            _db.nowait() if isinstance(error, KeyboardInterrupt) or _db.is_lock_wait(error) else contextlib.nullcontext(),
            self.store.begin() as tx,
        ):
            tx.record_sync(
                started_at,
                time.time(),
                remote_url(self.remote) if self.remote is not None else None,
                self.report.as_json(),
                "interrupted" if interrupted else text,
            )

    def meet(self) -> None:
        """Register with the shared log; make sure this device stands right in it (see :mod:`syncengine.core._meet`).

        A log the device has not shared with gets the device's whole state; a
        database that is not the only one with its device id sends what it prepared
        under that id, then takes a new one and reads the log on from its cursor. The
        decision to take a new id is recorded first, so a sync that stops half way
        finishes it next time.
        """
        assert self.remote is not None
        try:
            info = self.remote.register_device(self.device_id, self.name)
        except RemoteError as exc:
            if exc.kind != "not_owned":
                raise
            raise RemoteError(
                f"device {self.device_id} is registered to another user of the shared log {remote_url(self.remote)} "
                "(a token of another user?): sync with a token of the user it belongs to, or give this database "
                f"a new device id with 'syncengine reset-identity {_db.as_argument(self.store.engine.url)}' to sync it "
                "as this user's",
                kind="not_owned",
            ) from exc
        if getattr(self.remote, "created", False):  # said once: by the first sync through this object
            self.report.log_created = True
            self.remote.created = False  # type: ignore[attr-defined]
        self.keys = keys_for_sync(self.store, self.remote)  # before anything is sent: KeyMissing sends nothing
        self.report.log_id = log_id = info.log_id
        if log_id is None:
            return  # a shared log without an id: nothing to compare
        with self.store.begin() as tx:
            meeting = tx.meet(info)
            copied = tx.setting("identity_pending") or meeting.copied
            # sharing the whole state is decided here and done in a transaction of its own: a sync that
            # stops between the two does it next time (the log is entered already and looks known then)
            restate = meeting.new_log or tx.setting("restate_pending") == log_id
            if copied is None:
                tx.enter_log(log_id, meeting.place)
                if meeting.new_log:
                    tx.set_setting("restate_pending", log_id)
            elif meeting.copied:
                tx.set_setting("identity_pending", copied)
        if copied is not None:
            log.warning("%s; this database takes a new device id", copied)
            self._send_prepared()
            self._take_new_identity(log_id, copied, meeting.place.cursor)
        if meeting.restored is not None:
            self.report.log_restored = meeting.restored
            log.warning(
                "%s; sharing this device's whole state there again and reading it on from batch %d",
                meeting.restored,
                meeting.place.cursor + 1,
            )
        if restate:
            with self.store.begin() as tx:
                tx.stamp(self.device_id)  # every captured write first: then the registers hold every value
                self.report.state_shared = tx.restate(self.device_id)
                tx.set_setting("restate_pending", None)
            self.report.new_log = True
            log.warning(
                "this device had not shared with the shared log %s (or shared elsewhere since): sharing the state of %d rows there",
                log_id,
                self.report.state_shared,
            )

    def _send_prepared(self) -> None:
        """Send what was prepared under the current device id, stamping nothing new."""
        self.stamping = False
        try:
            self.share()
        finally:
            self.stamping = True

    def _take_new_identity(self, log_id: str, why: str, cursor: int) -> None:
        """Give this database a new device id; it reads the log on from ``cursor``, where this database stands.

        Everything up to the cursor is in this database already (a backup or a copy
        holds its cursor with its rows). After it come the batches the old id
        pushed from elsewhere, which now arrive as another device's. Reading
        from the log's start instead would replay entries already merged, and an
        entry older than a decision made since looks concurrent with it: conflicts
        a person had decided would open again.
        """
        assert self.remote is not None
        old, new = self.device_id, uuid.uuid4().hex
        with self.store.begin() as tx:
            tx.set_setting("device_id", new)
            tx.set_setting("previous_device_ids", [*tx.setting("previous_device_ids", []), old])
            tx.set_setting("identity_pending", None)
            tx.enter_log(log_id, LogPlace(cursor), forget_others=True)
        self.device_id = self.report.device_id = new
        self.report.identity_changed = why
        self.remote.register_device(new, self.name)
        self._leave_inherited_writes(old, cursor)

    def _leave_inherited_writes(self, old: str, cursor: int) -> None:
        """Drop the captured writes this file shares with the original it was copied from, once the original shared them.

        The batches the old id pushed after ``cursor`` come from the original; a write
        both files captured before the copy is among them, and this file receives it
        as the original's. Shared again under the new id, it would be a new write,
        concurrent with every edit of that row made since: a false conflict everywhere.
        """
        assert self.remote is not None
        with self.store.read() as tx:
            keys = tx.captured_keys()
        if not keys:
            return
        theirs: list[Entry] = []
        after = cursor
        while True:
            result = self.remote.pull(self.device_id, after, self.options.download_batch_size)
            for batch in result.batches:
                if batch.device_id == old:
                    _, entries, _, _ = self._open(batch)
                    theirs += [e for e in entries if (e.table, pk_key(e.pk)) in keys]
            if not result.more or not result.batches:
                break
            after = result.cursor
        if not theirs:
            return
        with self.store.begin() as tx:
            same = tx.drop_inherited(theirs)
            if same:  # the table holds them already: only the rows' registers learn the original's versions
                unwritten = dataclasses.replace(self.options, executor=_write_nothing, reconciler=None, plan_processor=None)
                integrate_entries(tx, self.device_id, same, unwritten, lambda _table: False)
        if same:
            log.info("%d writes captured before this database was copied were shared by the original", len(same))

    def receive(self) -> None:
        """Pull batches after the cursor; store them as pending, or integrate them at once.

        When this sync also reconciles, each pulled batch is integrated in the same
        transaction that moves the cursor (the pending step would only write the
        entries down to read them back); otherwise they wait in the log as pending.
        """
        assert self.remote is not None
        cursor_key = "cursor"
        review = self.review_policy() if "reconcile" in self.stages else None
        while not self.cancelled():
            with self.store.read() as tx:
                cursor = int(tx.setting(cursor_key, 0))
            result = self.remote.pull(self.device_id, cursor, self.options.download_batch_size)
            if result.log_id is not None and self.report.log_id is not None and result.log_id != self.report.log_id:
                raise RemoteError(
                    f"the shared log was replaced during the sync (its id was {self.report.log_id}, "
                    f"now {result.log_id}); sync again"
                )
            with _gc.paused():
                found, settled = self._take(result, cursor_key, review)
            self.conflicts_changed(found, settled)
            with contextlib.suppress(RemoteError):  # only the registry's "behind" figure waits for the next sync
                self.remote.mark_pulled(self.device_id, result.cursor)
                self.marked = result.cursor  # recorded with the sync's end: a log that loses it was restored
            self.emit(Progress("receive", self.report.received, None))
            if not result.more or not self.keep_going():
                return

    def _take(
        self, result: PullResult, cursor_key: str, review: Callable[[str], bool] | None
    ) -> tuple[list[int], list[int]]:
        """Decode a pull's batches and store them, and the new cursor, in one transaction.

        Each batch is decoded just before it is stored, so only one batch's entries
        are held at a time (a pull of 20,000 decoded at once held four). Returns the
        conflicts found and those settled by entries from elsewhere.
        """
        batches = result.batches
        if batches:
            log.debug("pulled %d batches; cursor now %d", len(batches), result.cursor)
        found: list[int] = []
        settled: list[int] = []
        done_here: list[BatchResult] = []  # counted in the report once the transaction commits, not before
        counts: list[tuple[int, int]] = []  # entries and malformed ones per batch, likewise
        with self.store.begin() as tx, tx.applying() if review is not None and batches else contextlib.nullcontext():
            if review is not None and batches:
                tx.stamp(self.device_id)  # local writes first
            clock = tx.clock(self.device_id)
            for batch in batches:
                entries, bad = self._decode(batch)
                counts.append((len(entries), len(bad)))
                extra = orjson.dumps(batch.extra).decode() if batch.extra else None
                if entries:  # versions sort as text: the newest is all the clock needs
                    clock.observe(max(e.version for e in entries))
                for reason, raw in bad:
                    tx.add_quarantined(reason, raw=raw, batch_seq=batch.seq)
                if review is None:
                    tx.add_received(batch.seq, batch.batch_id, entries, extra)
                else:
                    self.emit(Reconciling(len(entries)))
                    done = integrate_entries(
                        tx,
                        self.device_id,
                        entries,
                        self.options,
                        review,
                        origin=(batch.seq, batch.batch_id, extra),
                    )
                    self.emit(Reconciled(done.applied, done.quarantined))
                    done_here.append(done)
                    found += done.opened
                    settled += done.decided
                del entries, bad
            tx.save_clock(clock)
            tx.set_setting(cursor_key, result.cursor)
        for done in done_here:
            self._tally(done)
        for received, malformed in counts:
            self.report.received += received + malformed  # a malformed entry was received too (and quarantined)
            self.report.quarantined += malformed
            self.report.received_batches += 1
        return found, settled

    def _count(self, result: BatchResult) -> None:
        self._tally(result)
        self.emit(Reconciled(result.applied, result.quarantined))

    def _tally(self, result: BatchResult) -> None:
        self.report.applied += result.applied
        self.report.quarantined += result.quarantined
        self.report.conflicts += result.found
        self.report.held += result.held

    def _decode(self, batch: ReceivedBatch) -> tuple[list[Entry], list[tuple[str, Any]]]:
        """Open (when encrypted) and decode a batch; malformed entries come back separately, with the reason."""
        batch, entries, bad, whole = self._open(batch)
        if not whole:
            return entries, bad
        if self.options.post_receive is not None:
            entries = list(self.options.post_receive(entries, batch))
            self.report.dropped += batch.count - len(entries) - len(bad)
        self.emit(Received(batch, tuple(entries)))
        return entries, bad

    def _open(self, batch: ReceivedBatch) -> tuple[ReceivedBatch, list[Entry], list[tuple[str, Any]], bool]:
        """:meth:`_decode` with no ``post_receive`` and no event: the batch opened, its entries, and whether it could be read."""
        if self.keys is not None:
            try:
                payload, extra = self.keys.open_batch(batch.payload, batch.device_id, batch.batch_id, batch.seq)
            except Unreadable as exc:
                log.warning("quarantined %s", exc)
                raw = {"device_id": batch.device_id, "batch_id": batch.batch_id, "seq": batch.seq, "bytes": len(batch.payload)}
                return batch, [], [(str(exc), raw)], False
            if is_sealed(batch.payload):
                batch = dataclasses.replace(batch, payload=payload, extra=extra)
        elif is_sealed(batch.payload):
            reason = f"batch {batch.batch_id} from device {batch.device_id} is encrypted and this device has no key"
            return batch, [], [(reason, {"device_id": batch.device_id, "batch_id": batch.batch_id, "seq": batch.seq})], False
        try:
            entries, bad = self.codec.decode(batch.payload, batch.device_id)
        except ValueError as exc:
            why = f"malformed batch {batch.batch_id} from device {batch.device_id}: {exc}"
            return batch, [], [(why, batch.payload[:2000].decode("utf-8", "replace"))], False
        return batch, entries, bad, True

    def share(self) -> None:
        """Push unshared entries batch by batch, stamping captured writes as it goes.

        When no prepared batch is left, one transaction of the device database marks
        the batches pushed since the last one shared and prepares the next (see
        :meth:`_next_batches`): batches left by a sync that stopped or died after
        preparing them (sent again as they were, which the shared log stores once),
        or entries stamped earlier, or else the next captured writes, stamped and
        put in batches in one go (one batch's worth for the first batch of a sync,
        so that it leaves at once; then up to ``_STAMP_AHEAD``). A batch is recorded
        in the device database before it is sent, so should the sync die between a
        push and that transaction, it is simply sent again. (So while a sync runs, a
        pushed batch counts as unshared in ``status()`` until the next batches are
        prepared.)
        """
        assert self.remote is not None
        ready: list[_Batch] = []
        pushed: list[tuple[_Batch, int]] = []  # pushed (with its seq), not yet marked shared
        interrupted = False
        try:
            while not self.cancelled():
                if not ready:
                    with _gc.paused(), self.store.begin() as tx:
                        for done, seq in pushed:
                            self._mark_shared(tx, done, seq)
                        tx.advance_over_own([seq for _, seq in pushed])
                        ready = self._next_batches(tx)
                    pushed = []
                    if not ready:
                        return
                batch = ready.pop(0)
                if batch.entries is not None:
                    self.emit(Sending(batch.batch_id, tuple(batch.entries), batch.extra))
                count = batch.count
                receipt = self._push(batch) if count else None
                seq = receipt.seq if receipt is not None else 0
                # only what marking it shared needs is kept: the payloads of the batches pushed since the
                # last transaction would otherwise stay in memory beside the next ones being stamped
                pushed.append((dataclasses.replace(batch, payload=b"", entries=None), seq))
                log.debug("pushed batch %s: %d entries, seq %d", batch.batch_id, count, seq)
                if not (batch.earlier and receipt is not None and receipt.duplicate):
                    # a batch that an earlier, interrupted sync had sent (and counted) is not counted again
                    self.report.sent += count
                    self.report.sent_batches += 1
                self.report.dropped += batch.dropped
                self.emit(Progress("share", self.report.sent, None))
                if not self.keep_going():
                    return
        except BaseException as exc:
            # Ctrl-C may have left the interrupted transaction's lock held until the exception is
            # gone: marking now would wait on it. The batches are sent again next time, stored once.
            interrupted = not isinstance(exc, Exception)
            raise
        finally:
            if pushed and not interrupted:
                with _db.uninterruptible(), self.store.begin() as tx:
                    for done, seq in pushed:
                        self._mark_shared(tx, done, seq)
                    tx.advance_over_own([seq for _, seq in pushed])

    def _push(self, batch: _Batch) -> PushResult:
        """Send one batch, sealed when the log is encrypted (its ``extra`` then travels inside)."""
        assert self.remote is not None
        payload, extra = batch.payload, batch.extra
        if self.keys is not None:
            payload, extra = self.keys.seal_batch(payload, extra, self.device_id, batch.batch_id), None
        try:
            return self.remote.push(self.device_id, batch.batch_id, payload, batch.count, extra)
        except RemoteError as exc:
            if exc.kind == "encrypted":  # encrypted since this sync looked: nothing plain was stored
                raise KeyMissing(
                    f"the shared log {remote_url(self.remote)} was encrypted during this sync and this device "
                    f"has no key: run '{key_command(self.store, 'join')}' with the passphrase; nothing unshared was lost"
                ) from exc
            if exc.kind == "too_large" and batch.count == 1:  # halving cannot help: say what can
                raise RemoteError(
                    f"the shared log {remote_url(self.remote)} refused one entry of {len(payload):,} bytes as too large "
                    "(its server's --max-body-bytes); start the server with a larger limit, or make the value smaller; "
                    "writes after it wait, nothing is lost",
                    status=exc.status,
                    kind="too_large",
                ) from exc
            raise

    def _mark_shared(self, tx: Tx, batch: _Batch, seq: int) -> None:
        if seq:
            tx.record_pushed(seq)
        if batch.outboxed:
            tx.drop_outboxed(batch.batch_id, min(batch.ids), max(batch.ids))
        else:
            tx.mark_shared(batch.batch_id, batch.ids, seq, cleanup=self.options.cleanup)

    def _next_batches(self, tx: Tx) -> list[_Batch]:
        """Prepare the next batches to send, in the caller's transaction; none when nothing is left.

        First what waits in the outbox, then entries stamped earlier, then the next
        captured writes, stamped and put in batches here. On SQLite, with
        ``cleanup``, those batches are kept in the outbox and their captured rows
        stay untouched until the batch is shared (then both go): an entry is never
        written to the log in its stamped form. Elsewhere the stamped entries are
        written beside their batch id. Either way they go out as they were stamped,
        without being read back.
        """
        size = self.options.upload_batch_size
        outbox = self.options.cleanup and tx.keeps_outbox
        # stamped and maybe sent: again exactly as they were (also by a sync that keeps its
        # entries, which keeps none of these: they were never written to the log)
        waiting = tx.outboxed() if tx.keeps_outbox else []
        if waiting:
            return [dataclasses.replace(self._unbox(row), earlier=True) for row in waiting]
        batch_id, rows = tx.outgoing(size)
        if rows:
            if batch_id is not None:  # assigned before and maybe sent: again exactly as it was
                return [dataclasses.replace(self._pack(rows, batch_id), earlier=True)]
            batch = self._cut(rows)
            tx.assign_batch(batch.ids, batch.batch_id)
            return [batch]
        batches: list[_Batch] = []
        if not self.stamping:
            return batches

        def assign(stamped: list[Outgoing]) -> list[str]:
            ids: list[str] = []
            while len(ids) < len(stamped):
                batch = self._cut(stamped[len(ids) : len(ids) + size])
                if outbox:
                    batch.outboxed = True
                    extra = orjson.dumps(batch.extra).decode() if batch.extra is not None else None
                    tx.add_outbox(batch.batch_id, batch.ids, batch.payload, batch.count, batch.dropped, extra)
                batches.append(batch)
                ids += [batch.batch_id] * len(batch.ids)
            return ids

        # the first stamp of a sync takes one batch's worth, so that the first batch leaves at once
        ahead = max(size, _STAMP_AHEAD) if self.report.sent_batches else size
        while not batches and tx.stamp(self.device_id, limit=ahead, assign=assign, keep=not outbox):
            pass
        return batches

    def _unbox(self, row: Any) -> _Batch:
        """A batch of the outbox as it was stamped; its entries decoded only when a listener wants them."""
        payload = bytes(row.payload)
        entries = None
        if self.options.on_event is not None:
            entries, _ = self.codec.decode(payload, self.device_id)
        extra = orjson.loads(row.extra) if row.extra is not None else None
        ids = [row.first_id, row.last_id]
        return _Batch(row.batch_id, ids, entries, payload, row.count, extra, row.dropped, outboxed=True)

    def _cut(self, rows: Sequence[Any]) -> _Batch:
        """The first batch of these entries (read or just stamped) under the byte limit: halved until it fits."""
        limit = self.options.upload_byte_limit
        while True:
            batch = self._pack(rows, None)
            if limit is None or len(batch.payload) <= limit:
                return batch
            if len(rows) == 1:  # the limit sizes batches; a larger entry travels alone rather than never
                log.info(
                    "entry %s (%s %s) is %d bytes, over the upload byte limit of %d: sent in a batch of its own",
                    rows[0].version,
                    rows[0].tbl,
                    rows[0].pk,
                    len(batch.payload),
                    limit,
                )
                return batch
            rows = rows[: max(1, len(rows) // 2)]

    def _pack(self, rows: Sequence[Outgoing], batch_id: str | None) -> _Batch:
        """Encode these entries as one batch (a new one when ``batch_id`` is None), through ``pre_send``.

        A batch read back from the log to be sent again goes through ``pre_send``
        again: its log rows hold the entries as stamped, before it. (A batch kept in
        the outbox keeps its payload as ``pre_send`` left it.) The payload is written
        from the entries' stored form; they are built as Python objects only when a
        hook or a listener needs them.
        """
        options = self.options
        ids = [r.id for r in rows]
        batch_id = batch_id or uuid.uuid4().hex
        entries: list[Entry] | None = None
        stored: Sequence[StoredEntry] = rows
        dropped = 0
        if options.pre_send is not None or options.on_event is not None or callable(options.extra_info):
            entries = [entry_of(r) for r in rows]
            if options.pre_send is not None:
                kept = list(options.pre_send(list(entries)))
                dropped, entries = len(entries) - len(kept), kept
                stored = [stored_form(e) for e in kept]
        payload = self.codec.encode(stored)
        return _Batch(batch_id, ids, entries, payload, len(stored), self._extra(entries or ()), dropped)

    def _extra(self, entries: Sequence[Entry]) -> Mapping[str, Any] | None:
        """The batch's extra info: checked now, before the batch is kept, so a bad one fails this sync alone."""
        extra = self.options.extra_info
        if callable(extra):
            extra = extra(entries)
        if extra is None:
            return None
        if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
            raise ConfigurationError(
                f"extra_info must be a mapping with text keys (a dict), not {type(extra).__name__}: nothing was sent"
            )
        try:
            orjson.dumps(dict(extra))
        except TypeError as exc:
            raise ConfigurationError(f"extra_info must hold JSON values: {exc}; nothing was sent") from None
        return extra

    def reconcile(self) -> None:
        review = self.review_policy()
        after = 0
        while not self.cancelled():
            with _gc.paused(), self.store.begin() as tx, tx.applying():
                tx.stamp(self.device_id)
                rows = tx.pending(self.options.reconcile_batch_size, after_id=after)
                if rows:
                    self.emit(Reconciling(len(rows)))
                    result = integrate(tx, self.device_id, rows, self.options, review)
                else:  # everything integrated: held constraint conflicts may apply now
                    settled = retry_constraints(tx, self.device_id, now=time.time())
            if not rows:
                self.conflicts_changed([], settled)
                return
            after = rows[-1].id
            self._count(result)
            self.conflicts_changed(result.opened, result.decided)
            self.emit(Progress("reconcile", self.report.applied + self.report.quarantined, None))
            if not self.keep_going():
                return


@dataclass
class _Batch:
    """A batch ready to push: its entries' log ids, and the entries themselves when something needs them."""

    batch_id: str
    ids: list[int]
    entries: list[Entry] | None
    payload: bytes
    count: int
    extra: Mapping[str, Any] | None
    dropped: int = 0  # entries pre_send dropped
    outboxed: bool = False  # kept in the outbox, not in the log (``ids`` are its captured rows)
    earlier: bool = False  # prepared by an earlier sync that stopped before marking it shared


_INTERRUPTED = "the sync was interrupted; what it had done is kept, and the next sync goes on"


def _write_nothing(conn: sa.Connection, catalog: Mapping[str, Any], plan: Plan) -> list[Any]:
    """An executor for entries whose rows the table holds already (see ``_Run._leave_inherited_writes``)."""
    return []


def run(
    store: DeviceStore,
    identity: Identity,
    remote: SharedLog | None,
    options: SyncOptions,
    *,
    notify: ConflictListener | None = None,
) -> SyncReport:
    """Run one sync of the device in ``store`` with ``remote``; see the module docstring.

    ``notify`` hears of every conflict the sync finds or settles.
    """
    if store.missing:  # before the shared log hears of this device
        raise SchemaError(missing_message(store.missing[0], _db.where(store.engine.url)), table=store.missing[0])
    needs_remote = {"receive", "share"} & set(options.stages)
    if needs_remote and remote is None:
        raise ConfigurationError(f"stages {sorted(needs_remote)} need a remote shared log")
    work = _Run(store, identity, remote, options, notify)
    try:
        return work.run()
    except SyncEngineError as exc:
        if _db.is_interrupt(exc):
            raise SyncCancelled(_INTERRUPTED, report=work.report) from exc
        raise
    except sa.exc.OperationalError as exc:
        if _db.is_interrupt(exc):
            raise SyncCancelled(_INTERRUPTED, report=work.report) from exc
        raise DatabaseError(f"the device database failed: {exc.orig}", retryable=True) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise DatabaseError(f"the device database failed: {exc}") from exc


__all__ = ["STAGES", "ExtraInfo", "Plan", "PostReceive", "PreSend", "RowPlan", "SyncCancelled", "SyncOptions", "run"]
