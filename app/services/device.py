"""One open device and its remote, as a QObject the widgets talk to.

Every engine call runs off the UI thread: syncs through ``Device.sync_async``,
everything else through ``asyncio.to_thread``. Coroutine methods return results
to the caller (a widget's ``asyncSlot``); state that several views show is also
broadcast through signals. Engine events arrive on the sync's worker thread and
are handed to the UI thread with ``loop.call_soon_threadsafe`` before any signal
is emitted.

Offline is a state, not an error: a sync or a reachability check that fails with
a retryable remote error sets :attr:`reachability` to ``OFFLINE`` and returns.

A shared log is never created without asking: opening a workspace whose shared-log
database is not there (a drive not mounted, a typo) opens the device alone, with
:attr:`reachability` ``MISSING``; :meth:`open_remote` with ``create=True`` makes the log
once the person chose to. A server that refuses connections is said to be offline
after one quick connection attempt, not after the engine's retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import shiboken6
import sqlalchemy as sa
from PySide6.QtCore import QObject, Signal

from syncengine import (
    Conflict,
    Device,
    DeviceInfo,
    Pairing,
    PairProgress,
    PairReport,
    RemoteError,
    SharedLog,
    Status,
    SyncCancelled,
    SyncEngineError,
    SyncOptions,
    SyncRecord,
    SyncReport,
    events,
)
from syncengine.scheduler import SchedulerEvent, SyncFinishedEvent, SyncScheduler, SyncStartedEvent, configure

from .. import config
from .progress import WAITING
from .reads import Reads
from .remote import Reachability, is_missing_log, is_offline, open_remote, refused

T = TypeVar("T")
# Smaller pulls than the engine default (20000): each one holds the GIL in shorter stretches, so the
# UI thread waits less while a sync runs (see bench/bench_ui_latency.py). A pull still returns whole
# batches, so a batch pushed with the default 5000 entries arrives in one pull (max 8.1 ms of UI
# latency measured that way).
DOWNLOAD_BATCH = 250


class DeviceService(Reads, QObject):
    """A device database and its shared log, driven asynchronously."""

    statusChanged = Signal(object)  # Status
    reachabilityChanged = Signal(str, str)  # Reachability value, detail
    devicesChanged = Signal(list)  # list[DeviceInfo]
    syncStarted = Signal(str)  # reason: forced, interval, changes
    syncProgress = Signal(str, int, int)  # stage, done, total (-1: unknown)
    syncFinished = Signal(object, object)  # SyncReport | None, exception | None
    busyChanged = Signal(bool)
    conflictsChanged = Signal()
    conflictsArrived = Signal(int)  # how many new conflicts wait for a decision
    logChanged = Signal()
    activityChanged = Signal()
    autoSyncChanged = Signal(bool, float)  # enabled, interval
    pausedChanged = Signal(bool)  # automatic sync paused (for this session) or resumed
    identityChanged = Signal(str)  # the new device id (reset here, or taken by a sync of a copied database)
    renamed = Signal(str)  # this device's new name

    def __init__(
        self,
        device: Device,
        remote: SharedLog | None,
        workspace: config.Workspace,
        parent: QObject | None = None,
        *,
        missing: str = "",
        token: str | None = None,
        keep_token: bool = False,
    ) -> None:
        super().__init__(parent)
        self.device = device
        self.remote = remote
        self.workspace = workspace
        self._token = token
        self._token_kept = token if keep_token else None  # stored on opening; forgotten if the server refuses it
        self.status: Status | None = None
        self.reachability = Reachability.UNKNOWN if workspace.remote else Reachability.NONE
        self.reachability_detail = ""
        if missing:
            self.reachability, self.reachability_detail = Reachability.MISSING, missing
        self.devices: list[DeviceInfo] = []
        self._kept_names: dict[str, str] = {}  # the names the device keeps, read with the status
        self.last_sync: SyncRecord | None = None  # the newest entry of the engine's sync history
        self._cancel: threading.Event | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._scheduler: SyncScheduler | None = None
        self._scheduler_task: asyncio.Future[None] | None = None
        self.paused = False  # automatic sync paused by the person (Pause, or Cancel while it runs) until Resume
        self._columns: dict[str, dict[str, sa.types.TypeEngine[Any]]] = {}
        self._pks: dict[str, list[str]] = {}
        self._loop = asyncio.get_event_loop()
        self._closed = False
        self._tasks: set[asyncio.Future[None]] = set()  # the loop holds only weak references to tasks
        self._calls: set[asyncio.Future[Any]] = set()  # engine calls running in worker threads
        self._cancels: set[threading.Event] = set()  # of long calls (a pairing) that shutdown must stop
        self._known_id = device.device_id
        device.add_listener(self._from_engine)

    # -- opening and closing ---------------------------------------------------------

    @classmethod
    async def open(
        cls, workspace: config.Workspace, token: str | None = None, parent: QObject | None = None, *, keep_token: bool = False
    ) -> DeviceService:
        """Open the workspace's device and remote (in a worker thread).

        A shared-log database that is not there is not created: the service opens
        with no remote and ``reachability`` ``MISSING`` (see :meth:`open_remote`).
        ``keep_token`` says that ``token`` was stored for the workspace on opening
        (so it serves the next start, even offline): the server refusing it forgets it.
        """

        def opening() -> tuple[Device, config.Workspace, SharedLog | None, str]:
            nonlocal workspace
            device = Device.open(workspace.db)
            try:
                kept = None if workspace.remote.strip() else device.remote_settings()
                if kept is not None:  # no remote given: the one the database remembers, as the command line does
                    workspace = dataclasses.replace(workspace, remote=kept["url"], user=kept["user"] or "default")
                remote = open_remote(workspace, token, create=False) if workspace.remote else None
            except RemoteError as exc:
                if is_missing_log(exc):
                    return device, workspace, None, str(exc)
                device.close()
                raise
            except BaseException:
                device.close()
                raise
            return device, workspace, remote, ""

        device, opened, remote, missing = await asyncio.to_thread(opening)
        return cls(device, remote, opened, parent, missing=missing, token=token, keep_token=keep_token)

    @property
    def has_remote(self) -> bool:
        """Whether the workspace names a remote (open or not: it may be missing)."""
        return bool(self.workspace.remote.strip())

    async def open_remote(self, *, create: bool = False) -> bool:
        """Open the workspace's shared log if it is not open yet; ``create`` makes it (and its folder) when missing.

        Returns whether the remote is open. A log still missing sets ``MISSING``;
        once it opens, the devices are read and automatic sync starts if it is on.
        """
        if self.remote is not None or not self.has_remote or self._closed:
            return self.remote is not None
        try:
            remote = await self.run(open_remote, self.workspace, self._token, create=create)
        except RemoteError as exc:
            if is_missing_log(exc):
                self._set_reachability(Reachability.MISSING, str(exc))
                return False
            if is_offline(exc):
                self._set_reachability(Reachability.OFFLINE, str(exc))
                return False
            raise
        if self._closed:
            await asyncio.to_thread(remote.close)
            return False
        self.remote = remote
        self._set_reachability(Reachability.UNKNOWN, "")
        with contextlib.suppress(SyncEngineError):
            await self.check_remote()
        enabled, _interval = await self.auto_sync_settings()
        self.start_auto_sync_if_enabled(enabled)
        return True

    @property
    def busy(self) -> bool:
        """Whether a sync is running."""
        return not self._idle.is_set()

    @property
    def device_id(self) -> str:
        return self.device.device_id

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has begun: no engine call should start any more."""
        return self._closed

    async def shutdown(self) -> None:
        """Cancel a running sync (at its next batch boundary), stop automatic sync, release connections.

        Engine calls still running in worker threads (a check, a repair) are waited
        for before the connections go: a thread cannot be stopped, and one that went
        on with a closed device would open new connections behind it. A pairing is
        asked to stop first (it would otherwise wait for its joiner for minutes).
        """
        if self._closed:
            return
        self._closed = True
        for cancel in self._cancels:
            cancel.set()
        await self.stop_auto_sync()
        self.cancel_sync()
        await self._idle.wait()
        with contextlib.suppress(ValueError):
            self.device.remove_listener(self._from_engine)
        if self._calls:
            await asyncio.wait(set(self._calls))
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        self.device.close()
        if self.remote is not None:
            self.remote.close()

    # -- status and remote ---------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine call in a worker thread.

        Cancelling the caller does not stop the thread; :meth:`shutdown` waits for it.
        """
        call = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        call.add_done_callback(_settle)
        return await asyncio.shield(call)

    async def refresh_status(self) -> Status:
        """Read the device's counts and broadcast them."""
        def read() -> tuple[Status, list[SyncRecord], dict[str, str]]:
            return self.device.status(), self.device.history(limit=1), self.device.device_names()

        status, last, self._kept_names = await self.run(read)
        self.status = status
        self.last_sync = last[0] if last else None
        self.statusChanged.emit(status)
        return status

    async def check_remote(self) -> list[DeviceInfo]:
        """Ask the shared log for its devices: tells whether it is reachable, and who syncs.

        A server that refuses connections is offline at once (one attempt, no retries).
        """
        if self.remote is None and self.has_remote and not await self.open_remote():
            return self.devices
        if self.remote is None:
            self._set_reachability(Reachability.NONE, "no remote configured")
            return []
        remote = self.remote
        if self.reachability is Reachability.UNKNOWN:
            self._set_reachability(Reachability.CHECKING, "")
        why = await self.run(refused, self.workspace.remote)
        if why:
            self._set_reachability(Reachability.OFFLINE, why)
            return self.devices
        try:
            found = await self.run(remote.devices)
        except SyncEngineError as exc:
            if is_missing_log(exc):  # moved or deleted while open
                if self.remote is remote:
                    await self._lose_remote(str(exc))
                return self.devices
            await self._forget_refused_token(exc)
            self._set_reachability(Reachability.OFFLINE if is_offline(exc) else Reachability.ERROR, str(exc))
            if is_offline(exc):
                return self.devices
            raise
        self.devices = found
        with contextlib.suppress(SyncEngineError):  # kept, so names stay known offline (a read-only database keeps none)
            await self.run(self.device.remember_devices, found)
        self._kept_names = {**self._kept_names, **{d.device_id: d.name for d in found}}
        self._set_reachability(Reachability.REACHABLE, "")
        self.devicesChanged.emit(found)
        return found

    def device_name(self, device_id: str | None) -> str:
        """Return a device's display name (its short id when unknown)."""
        if device_id is None:
            return ""
        if device_id == self.device_id:
            return self.device.name or device_id[:8]
        for info in self.devices:
            if info.device_id == device_id:
                return info.name
        return self._kept_names.get(device_id) or device_id[:8]  # offline, or gone from the registry: names kept here

    def _set_reachability(self, state: Reachability, detail: str) -> None:
        self.reachability, self.reachability_detail = state, detail
        if state is Reachability.REACHABLE:
            self._token_kept = None  # accepted: it stays
        self.reachabilityChanged.emit(state.value, detail)

    async def _forget_refused_token(self, exc: BaseException) -> None:
        """Forget a token stored on opening that the server has just refused (it would be used at every start)."""
        if self._token_kept is None or not (isinstance(exc, RemoteError) and exc.kind == "auth"):
            return
        self._token_kept = None
        await asyncio.to_thread(config.forget_token, self.workspace.remote, self.workspace.db)

    async def rename(self, name: str) -> str:
        """Give this device a new name (the others see it after its next sync); return the name as kept."""
        await self.run(self.device.rename, name)
        self.renamed.emit(self.device.name)
        return self.device.name

    def check_identity(self) -> None:
        """Emit ``identityChanged`` when the device id is not the one last seen (a reset, or a copied database's sync)."""
        if self.device.device_id != self._known_id:
            self._known_id = self.device.device_id
            self.identityChanged.emit(self._known_id)

    async def after_change(self) -> None:
        """Read everything again after an action that may have changed any of it (a repair, a new identity)."""
        self.check_identity()
        self.logChanged.emit()
        self.conflictsChanged.emit()
        self.activityChanged.emit()
        with contextlib.suppress(SyncEngineError):
            await self.refresh_status()
        if self.remote is not None:
            with contextlib.suppress(SyncEngineError):
                await self.check_remote()

    # -- syncing ------------------------------------------------------------------------

    def _options(self, **fields: Any) -> SyncOptions:
        """Return sync options wired to this service's progress signals and cancel event."""
        cancel = threading.Event()
        self._cancel = cancel
        loop = self._loop

        def on_event(event: events.SyncEvent) -> None:  # worker thread
            loop.call_soon_threadsafe(self._on_sync_event, event)

        fields.setdefault("download_batch_size", DOWNLOAD_BATCH)
        return SyncOptions(cancel=cancel, on_event=on_event, **fields)

    async def sync(self, reason: str = "forced", **fields: Any) -> SyncReport | None:
        """Run one sync now; None when it could not reach the remote (the state says offline).

        Other engine errors are raised; the engine records every sync, failed or not, in
        its history (the Activity view).
        """
        if self.busy:
            return None
        if self.remote is None and self.has_remote and not await self.open_remote():
            if self.reachability is Reachability.MISSING:
                raise RemoteError(self.reachability_detail, kind="no_log")  # the window asks what to do
            return None
        self._begin_sync(reason)
        report: SyncReport | None = None
        error: BaseException | None = None
        try:
            report = await self.device.sync_async(self.remote, self._options(**fields))
        except SyncEngineError as exc:
            error = exc
            if is_missing_log(exc) or not is_offline(exc):  # a log moved away: the window asks, as at the start
                raise
        finally:
            await self._end_sync(report, error)
        return report

    async def _lose_remote(self, why: str) -> None:
        """Let go of a shared log that went away; :meth:`open_remote` looks for it again (or makes it, when asked)."""
        remote, self.remote = self.remote, None
        self._set_reachability(Reachability.MISSING, why)
        await self.stop_auto_sync()  # it starts again once the log is there
        if remote is not None:
            await asyncio.to_thread(remote.close)

    def cancel_sync(self) -> None:
        """Ask the running sync to stop at its next batch boundary (nothing committed is lost)."""
        if self._cancel is not None:
            self._cancel.set()

    def behind(self) -> int | None:
        """How many shared-log entries this device has not received, as of the last look at the devices (None: unknown)."""
        return next((d.behind for d in self.devices if d.device_id == self.device_id), None)

    async def pause_auto_sync(self) -> None:
        """Stop automatic sync for this session (its stored setting stays); a running sync is cancelled.

        Cancelling a sync the scheduler started pauses it too: with the entries still
        waiting, it would otherwise start a full sync again a second later.
        """
        if self.paused or self._scheduler is None:
            self.cancel_sync()
            return
        self.paused = True
        self.pausedChanged.emit(True)
        await self.stop_auto_sync()

    async def resume_auto_sync(self) -> None:
        """Start automatic sync again after :meth:`pause_auto_sync` (if its setting is still on)."""
        if not self.paused:
            return
        self.paused = False
        self.pausedChanged.emit(False)
        enabled, _interval = await self.auto_sync_settings()
        self.start_auto_sync_if_enabled(enabled)

    def _begin_sync(self, reason: str) -> None:
        self._idle.clear()
        self.busyChanged.emit(True)
        self.syncStarted.emit(reason)

    async def _end_sync(self, report: SyncReport | None, error: BaseException | None) -> None:
        self._cancel = None
        if error is not None and is_missing_log(error):
            if self.remote is not None:  # (a check running beside the sync may have let it go first)
                await self._lose_remote(str(error))
        elif error is not None and is_offline(error):
            self._set_reachability(Reachability.OFFLINE, str(error))
        elif error is None and self.remote is not None:
            self._set_reachability(Reachability.REACHABLE, "")
        if error is not None:
            await self._forget_refused_token(error)
        self._idle.set()
        self.check_identity()
        self.busyChanged.emit(False)
        self.syncFinished.emit(report, error)
        self.activityChanged.emit()
        self.logChanged.emit()
        if not self._closed:
            with contextlib.suppress(SyncEngineError):
                await self.refresh_status()
            if error is None and self.remote is not None:
                with contextlib.suppress(SyncEngineError):
                    await self.check_remote()

    def _on_sync_event(self, event: events.SyncEvent) -> None:
        if not shiboken6.isValid(self):  # the window went while the event was in flight
            return
        if isinstance(event, events.Progress):
            self.syncProgress.emit(event.stage, event.done, -1 if event.total is None else event.total)
        elif isinstance(event, events.SyncStarted):
            self.syncProgress.emit(event.stages[0] if event.stages else "", 0, -1)
        elif isinstance(event, events.Waiting):
            self.syncProgress.emit(WAITING, 0, -1)

    # -- pairing ---------------------------------------------------------------------------

    async def pair(self, *, host: str | None = None, timeout: float = 600.0) -> Pairing:
        """Start listening for a new device (in a worker thread); show the returned pairing's ``code``.

        The workspace's remote is remembered in the device first (``Device.set_remote``):
        pairing hands the remembered remote to the joiner, and the window's remote is
        the one this device syncs with, whatever the database remembered before.
        """
        url, user = self.workspace.remote.strip(), self.workspace.user

        def start() -> Pairing:
            if url:
                self.device.set_remote(url, None if user == "default" else user)
            return self.device.pair(host=host, timeout=timeout)

        return await self.run(start)

    async def serve(
        self, pairing: Pairing, on_progress: Callable[[PairProgress], None], cancel: threading.Event
    ) -> PairReport:
        """Wait for the joiner and send it everything (in a worker thread); read the views again after.

        ``cancel`` is also set by :meth:`shutdown`. Raises what ``Pairing.serve`` raises.
        """
        if self._closed:  # shutdown has begun and would not wait for a call started now
            pairing.close()
            raise SyncCancelled("the window is closing")
        self._cancels.add(cancel)
        try:
            report = await self.run(pairing.serve, on_progress=on_progress, cancel=cancel)
        finally:
            self._cancels.discard(cancel)
        if not self._closed:
            await self.after_change()  # a joiner with rows of its own sent them here
        return report

    # -- automatic sync ------------------------------------------------------------------

    async def auto_sync_settings(self) -> tuple[bool, float]:
        """Return (enabled, interval) as stored in the device."""
        result = await self.run(configure, self.device)
        return bool(result["enabled"]), float(result["interval"])

    async def set_auto_sync(self, enabled: bool, interval: float | None = None) -> None:
        """Store the settings and start or stop the scheduler to match."""
        result = await self.run(configure, self.device, enabled=enabled, interval=interval)
        if self.paused:  # switching it on or off is a choice of its own: it ends the pause
            self.paused = False
            self.pausedChanged.emit(False)
        if enabled and self.remote is not None:
            self._start_scheduler()
        else:
            await self.stop_auto_sync()
        self.autoSyncChanged.emit(bool(result["enabled"]), float(result["interval"]))

    def _start_scheduler(self) -> None:
        if self._scheduler is not None or self.remote is None or self._closed:
            return
        self._scheduler = SyncScheduler(
            self.device, self.remote, on_event=self._from_scheduler, options=lambda: self._options()
        )
        self._scheduler_task = asyncio.ensure_future(self._scheduler.run())

    async def stop_auto_sync(self) -> None:
        """Stop the scheduler (after its current sync, which is asked to cancel)."""
        scheduler, task = self._scheduler, self._scheduler_task
        self._scheduler = self._scheduler_task = None
        if scheduler is None or task is None:
            return
        scheduler.stop()
        if scheduler.running:
            self.cancel_sync()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def auto_sync_running(self) -> bool:
        return self._scheduler is not None

    def _from_scheduler(self, event: SchedulerEvent) -> None:  # UI thread (the scheduler is an asyncio task)
        if isinstance(event, SyncStartedEvent):
            self._begin_sync(event.reason)
        elif isinstance(event, SyncFinishedEvent):
            task = asyncio.ensure_future(self._end_sync(event.report, event.error))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def start_auto_sync_if_enabled(self, enabled: bool) -> None:
        """Start the scheduler when the stored setting says automatic sync is on (and it is not paused)."""
        if enabled and not self.paused:
            self._start_scheduler()

    # -- conflicts ------------------------------------------------------------------------

    async def conflicts(self, *, offset: int = 0, limit: int | None = None) -> list[Conflict]:
        """Return the open conflicts, oldest first."""
        return await self.run(self.device.conflicts, offset=offset, limit=limit)

    async def decided(self, *, offset: int = 0, limit: int = 200) -> list[Conflict]:
        """Return one page of the decided conflicts (the history), newest first."""
        return await self.run(self.device.conflicts, status="decided", newest_first=True, offset=offset, limit=limit)

    async def resolve(self, conflict_id: int, take: str | None = None, value: Any = None, *, custom: bool = False) -> Conflict:
        """Decide one conflict; ``custom`` passes ``value`` as the decided value."""
        try:
            if custom:
                return await self.run(lambda: self.device.resolve(conflict_id, value=value))
            return await self.run(self.device.resolve, conflict_id, take)
        finally:
            await self._after_decisions()

    async def resolve_each(self, decisions: Sequence[tuple[int, str | None, Any, bool]]) -> list[Conflict]:
        """Decide several conflicts one by one (each its own transaction); stop at the first refusal."""
        done = []
        try:
            for conflict_id, take, value, custom in decisions:
                if custom:
                    done.append(await self.run(lambda i=conflict_id, v=value: self.device.resolve(i, value=v)))
                else:
                    done.append(await self.run(self.device.resolve, conflict_id, take))
        finally:
            await self._after_decisions()
        return done

    async def resolve_bulk(self, take: str, table: str | None = None) -> tuple[int, int]:
        """Decide every open conflict (of ``table``) the same way; return (decided, left open).

        One transaction; conflicts that cannot take ``take`` (a constraint conflict has
        no automatic result) stay open and are counted in the second number.
        """

        def work() -> tuple[int, int]:
            decided = self.device.resolve_many(take, table=table, skip_undecidable=True)  # type: ignore[arg-type]
            left = len(self.device.conflicts(table=table))
            return len(decided), left

        try:
            return await self.run(work)
        finally:
            await self._after_decisions()

    async def _after_decisions(self) -> None:
        self.conflictsChanged.emit()
        self.logChanged.emit()
        with contextlib.suppress(SyncEngineError):
            await self.refresh_status()

    async def set_review(self, on: bool) -> None:
        await self.run(self.device.set_review, on)

    async def review_on(self) -> bool:
        policy = await self.run(self.device.review_policy)
        return all(policy(t) for t in self.device.tables)

    def _from_engine(self, event: events.ConflictEvent) -> None:  # any thread
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._conflict_event, event)

    def _conflict_event(self, event: events.ConflictEvent) -> None:
        if not shiboken6.isValid(self):
            return
        if isinstance(event, events.ConflictFound) and event.conflict.is_open:
            self.conflictsArrived.emit(1)
        self.conflictsChanged.emit()


def _settle(call: asyncio.Future[Any]) -> None:
    """Mark a finished engine call's exception seen: its caller may have been cancelled and never read it."""
    if not call.cancelled():
        call.exception()
