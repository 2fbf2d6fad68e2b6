"""The composition root: QApplication, the qasync event loop, and the window for a workspace.

``sync-manager [DB] [--remote REMOTE] [--token TOKEN]`` opens a device database;
without one it reopens the most recent workspace, or asks. ``--demo [FOLDER]``
builds the demo workspace (see :mod:`app.demo`) and opens it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from . import config, resources, theme
from . import format as fmt
from .demo import build_demo, default_folder, demo_devices
from .dialogs.join_device import JoinDialog
from .dialogs.missing_log import CHOOSE, CREATE, MissingLogBox
from .dialogs.open_workspace import OpenDialog
from .errors import sentence
from .services.device import DeviceService
from .services.pairing import Joined
from .services.remote import Reachability
from .window import MainWindow


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sync-manager", description="See and steer a synced database: devices, pending changes, conflicts.")
    parser.add_argument("db", nargs="?", help="the device database (a path or an SQLAlchemy URL)")
    parser.add_argument("--remote", default=None, help="its shared log: a path, a database URL or an http(s) server URL")
    parser.add_argument("--token", default=None, help="the device token for a server remote (stored for next time)")
    parser.add_argument("--demo", nargs="?", const="", default=None, metavar="FOLDER", help="build the three-shop demo workspace and open it")
    parser.add_argument("--smoke-test", action="store_true", help=argparse.SUPPRESS)  # open, load every view, exit 0
    return parser.parse_args(list(argv))


def make_application(argv: Sequence[str] = ()) -> QApplication:
    """Return the QApplication (created once), with the app's name, icon and style sheet."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication([sys.argv[0] if sys.argv else "sync-manager", *argv])
    app.setApplicationName("Sync Manager")
    app.setOrganizationName("syncengine")
    app.setDesktopFileName("sync-manager")
    app.setWindowIcon(resources.icon("app", "#2f6fde"))
    theme.note_platform(app)
    app.setStyleSheet(resources.style_sheet())
    theme.apply(theme.stored(QSettings(str(config.settings_path()), QSettings.Format.IniFormat)))
    app.setQuitOnLastWindowClosed(False)  # the controller decides when the app ends
    # The sync runs in a worker thread; a short GIL switch interval (default 5 ms) lets the UI
    # thread in more often, which keeps its event latency low while the worker is busy.
    sys.setswitchinterval(0.001)
    _freeze_startup_objects()
    return app


_frozen = False


def _freeze_startup_objects() -> None:
    """Move everything allocated so far out of the cyclic collector's reach, once.

    A full (generation 2) collection walks every tracked object, and the engine, SQLAlchemy
    and Qt's wrappers are tens of thousands of them: when the sync's allocations in its
    worker thread trigger one, it holds the GIL for 40–70 ms and the UI thread waits
    (bench/bench_ui_latency.py). Frozen objects are skipped; they live as long as the app
    anyway. Later garbage is still collected as usual.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class Controller(QObject):
    """Opens workspaces in windows; the app ends when the last window has closed.

    One window per device database. Opening a workspace replaces the window it was
    asked from (File → Open…, File → Switch to), unless it opens *beside* it (File →
    Open this workspace's other devices), as the demo's three shops can be.
    """

    def __init__(self) -> None:
        super().__init__()
        self.window: MainWindow | None = None  # the window opened last
        self.windows: list[MainWindow] = []
        self.done = asyncio.Event()
        self.exit_code = 0
        self._tasks: set[asyncio.Future[object]] = set()
        self.chooser: OpenDialog | None = None  # the Open dialog last shown (tests drive it)

    def _keep(self, task: asyncio.Future[object]) -> None:
        """Hold a reference to a background task until it ends (the loop keeps only weak ones)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def open(
        self, workspace: config.Workspace, token: str | None = None, *, remember_token: bool = True, beside: bool = False
    ) -> MainWindow | None:
        """Open ``workspace`` in a new window, closing the current one after, unless ``beside``.

        A workspace already open in a window is raised rather than opened twice. The
        workspace goes first in the recent list; a token is stored (keyring, or a
        file only the user can read) unless ``remember_token`` is false.
        """
        shown = self.showing(workspace.db)
        if shown is not None and shown.service.workspace.remote == workspace.remote:
            shown.show_raised()
            return shown
        keep = bool(token and workspace.remote and remember_token)
        if token and keep:  # kept now, so an offline start finds it; forgotten if the server refuses it
            await asyncio.to_thread(config.save_token, workspace.remote, token, workspace.db)
        try:
            service = await DeviceService.open(workspace, token, keep_token=keep)
        except Exception as exc:
            if self.window is not None:
                self.window.show_failure("Opening " + workspace.db, exc)
                return None
            # No window to show it in: the chooser says why, so the process never runs without a window.
            self.choose(note=f"Cannot open {fmt.location(workspace.db)}: {sentence(exc)}", start=workspace)
            return None
        await asyncio.to_thread(config.remember, service.workspace)  # with the remote the database remembers
        old = None if beside else self.window
        window = MainWindow(service)
        service.setParent(window)
        if beside and self.window is not None:  # a little below and to the right of the last one
            window.move(self.window.pos() + QPoint(40, 40) * (len(self.windows) % 6))
        self.window = window
        self.windows.append(window)
        window.closed.connect(lambda w=window: self._closed(w))
        window.openRequested.connect(self.choose)
        window.switchRequested.connect(lambda ws: self._keep(asyncio.ensure_future(self.open(ws))))
        window.besideRequested.connect(self.open_beside)
        window.joinRequested.connect(self.join)
        window.demoRequested.connect(lambda: self._keep(asyncio.ensure_future(self.open_demo())))
        window.missingLogRequested.connect(lambda w=window: self.ask_missing(w))
        if old is not None:
            old.close()
        window.show()
        window.start()
        if service.reachability is Reachability.MISSING:
            self.ask_missing(window)
        return window

    def ask_missing(self, window: MainWindow) -> MissingLogBox | None:
        """Ask what to do about the window's missing shared log: create it, choose another, or work offline."""
        if window.missing_box is not None and window.missing_box.isVisible():
            return window.missing_box
        service = window.service
        box = MissingLogBox(service.workspace.remote, service.reachability_detail, window)
        window.missing_box = box

        def chosen(choice: str) -> None:
            window.missing_box = None
            box.deleteLater()
            if choice == CREATE:
                window.ops.start("Creating the shared log", window.connect_remote, [window.overview.sync_button])
            elif choice == CHOOSE:
                self.choose(start=service.workspace, note="Choose the shared log this database syncs with.")

        box.chosen.connect(chosen)
        box.open()
        return box

    def showing(self, db: str) -> MainWindow | None:
        """The window that has ``db`` open, if any."""
        return next((w for w in self.windows if w.service.workspace.db == db and not w.service.closed), None)

    def open_beside(self, workspaces: list[config.Workspace]) -> None:
        """Open each workspace in a window of its own, beside the ones open (the other devices of a workspace)."""

        async def each() -> None:
            for workspace in workspaces:
                await self.open(workspace, beside=True)

        self._keep(asyncio.ensure_future(each()))

    def _closed(self, window: MainWindow) -> None:
        window.deleteLater()
        if window in self.windows:
            self.windows.remove(window)
        if window is self.window:
            self.window = self.windows[-1] if self.windows else None
        if not self.windows:
            self.done.set()

    def choose(self, joined: Joined | None = None, note: str = "", start: config.Workspace | None = None) -> OpenDialog:
        """Show the Open dialog (window-modal, not blocking); open what it returns.

        With ``joined`` it starts from a database that just joined (``note`` says what
        is missing), and the window it opens takes it from there as :meth:`join` does;
        with ``start`` it starts from that workspace (one that could not be opened).
        """
        dialog = OpenDialog(self.window, note=note)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        if joined is not None:
            dialog.prefill(joined.workspace)
        elif start is not None:
            dialog.prefill(start)
        self.chooser = dialog

        def chosen(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                opening = self.open(dialog.workspace(), dialog.chosen_token(), remember_token=dialog.remember_token())
                self._keep(asyncio.ensure_future(self._then_welcome(opening, joined)))
            elif dialog.join_requested:
                self.join()
            elif self.window is None:
                self.done.set()
            dialog.deleteLater()

        dialog.finished.connect(chosen)
        dialog.open()
        return dialog

    def join(self) -> JoinDialog:
        """Show the Join dialog; open the database it makes as the workspace (or go back to choosing one)."""
        dialog = JoinDialog(self.window)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.joined.connect(lambda joined: self._keep(asyncio.ensure_future(self.open_joined(joined))))

        def ended(result: int) -> None:
            if result != QDialog.DialogCode.Accepted and self.window is None:
                self.choose()  # a new machine with nothing open: back to the chooser
            dialog.deleteLater()

        dialog.finished.connect(ended)
        dialog.open()
        return dialog

    async def open_joined(self, joined: Joined) -> MainWindow | None:
        """Open a database that just joined, with the remote it took; ask for the remote when it cannot be used here."""
        reason = await asyncio.to_thread(joined.needs_asking)
        if reason:
            self.choose(joined, note=reason)
            return None
        return await self._then_welcome(self.open(joined.workspace), joined)

    async def _then_welcome(self, opening: Awaitable[MainWindow | None], joined: Joined | None) -> MainWindow | None:
        window = await opening
        if window is not None and joined is not None:
            window.welcome_joined(joined.report)
        return window

    async def open_demo(self, folder: str | None = None) -> MainWindow | None:
        """Build the demo and open shop-north; the other shops go in the recent list, one switch away."""
        target = Path(folder) if folder else default_folder()
        workspace = await asyncio.to_thread(build_demo, target)
        for other in demo_devices(workspace):
            if other.db != workspace.db:
                await asyncio.to_thread(config.remember, other)
        return await self.open(workspace)

    async def run(self, args: argparse.Namespace) -> int:
        if args.demo is not None:
            window = await self.open_demo(args.demo or None)
        elif args.db:
            window = await self.open(config.Workspace(db=args.db, remote=args.remote or ""), args.token)
        elif config.recent():
            window = await self.open(config.recent()[0])
        else:
            window = None
            self.choose()
        if args.smoke_test:
            if window is None:  # no one to read the Open dialog: say on stderr what it says
                note = self.chooser.note.text() if self.chooser is not None else ""
                print(f"sync-manager: {note or 'no workspace to open: give a database (sync-manager DB --remote REMOTE)'}", file=sys.stderr)
                return 1
            if not window.service.status:
                await _signal(window.ready)
            window.close()
        await self.done.wait()
        return self.exit_code


async def _signal(signal: object) -> None:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fire(*_: object) -> None:
        if not future.done():
            future.set_result(None)

    signal.connect(fire)  # type: ignore[attr-defined]
    await future


def _headless() -> bool:
    """Whether this is a Linux session with no display server and no Qt platform chosen."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    """Start the Sync Manager; return its exit status."""
    import qasync

    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.smoke_test and _headless():
        # No screen to show a window on (a server, a container, CI): do everything a window
        # would, offscreen, then end, rather than fail in Qt's display plugin.
        print(
            "sync-manager: no display found; opening the window offscreen, loading every view, "
            "and closing it (run it on a desktop to use it)",
            file=sys.stderr,
        )
        args.smoke_test = True
    if args.smoke_test and not os.environ.get("QT_QPA_PLATFORM"):  # unset or empty: none chosen (as _headless reads it)
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = make_application()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = Controller()
    try:
        with loop:
            return loop.run_until_complete(controller.run(args))
    finally:
        asyncio.set_event_loop(None)
        QTimer.singleShot(0, app.quit)


if __name__ == "__main__":
    raise SystemExit(main())
