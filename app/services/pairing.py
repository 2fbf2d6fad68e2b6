"""Pairing seen from the UI thread: a transfer's progress as signals, its cancel, and what it ends in.

The engine's pairing (``Pairing.serve`` on the device that has the data,
``syncengine.join`` on the new one) blocks until the transfer is done and reports
progress from the thread that runs it. A :class:`Transfer` is handed to that call:
its ``on_progress`` moves each event to the UI thread (``loop.call_soon_threadsafe``)
before a signal is emitted, and its ``cancel`` event is what the call checks between
batches. The dialogs in ``app/dialogs/`` (``add_device``, ``join_device``) drive it;
the sending side runs through :meth:`DeviceService.serve`, so closing the window
cancels it too.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, Signal

from syncengine import Device, PairProgress, PairReport, SyncCancelled

from .. import config, errors


class Transfer(QObject):
    """One pairing transfer, either side: progress on the UI thread, and a cancel the engine checks."""

    progress = Signal(object)  # PairProgress, emitted on the UI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.last: PairProgress | None = None
        self._loop = asyncio.get_event_loop()

    def on_progress(self, event: PairProgress) -> None:
        """Give to the engine as ``on_progress`` (called on its thread): re-emitted on the UI thread."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._progress, event)

    def _progress(self, event: PairProgress) -> None:
        if shiboken6.isValid(self):  # the dialog may have gone while the event was in flight
            self.last = event
            self.progress.emit(event)

    def cancel(self) -> None:
        """Ask the transfer to stop at its next batch (or, while waiting for a device, within a moment)."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


@dataclass(frozen=True, slots=True)
class Joined:
    """What a finished join leaves: the database, and the workspace to open it as."""

    db: str
    report: PairReport
    remote: str  # "" when the sending device had none to hand over
    user: str

    @property
    def workspace(self) -> config.Workspace:
        return config.Workspace(db=self.db, remote=self.remote, user=self.user or "default")

    def needs_asking(self) -> str:
        """Why the remote must be asked for before opening ("" when it can be opened as it is)."""
        if not self.remote:
            return "The other device had no shared log to hand over: choose the one this device syncs with."
        if self.remote.startswith(("http://", "https://")) and not config.load_token(self.remote, self.db):
            return "The shared log is a server: enter this device's token (tokens never travel with a pairing)."
        path = _file_of(self.remote)
        if path is not None and not path.exists():
            return (
                f"The other device syncs with {self.remote}, which is not on this machine: "
                "choose the shared log as this machine reaches it."
            )
        return ""


def read_joined(db: str, report: PairReport) -> Joined:
    """Read the remote a join took from the other device into ``db`` (blocking: run it in a worker)."""
    device = Device.open(db)
    try:
        remote = device.remote_settings()
    finally:
        device.close()
    if remote is None:
        return Joined(db, report, "", "default")
    return Joined(db, report, str(remote["url"]), str(remote["user"] or "default"))


def _file_of(location: str) -> Path | None:
    """The file an SQLite shared log lives in (a plain path or an ``sqlite:///`` URL), else None."""
    if "://" not in location:
        return Path(location).expanduser()
    if location.startswith("sqlite:///"):
        rest = location[len("sqlite:///") :]
        return Path(rest) if rest and rest != ":memory:" else None
    return None


def sentence(error: BaseException, *, side: str) -> str:
    """One sentence for a pairing that ended in ``error`` (the traceback goes behind Details…).

    ``side`` is "sender" or "joiner": a cancel means another thing on each. Anything
    else is the engine's own sentence (:func:`app.errors.sentence`), as a sentence.
    """
    if isinstance(error, SyncCancelled):
        if side == "sender":
            return "Cancelled: the code no longer works."
        return (
            "Cancelled. What arrived is kept: join again with the same code to go on, "
            "while the other device still waits."
        )
    text = errors.sentence(error) or type(error).__name__
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."

