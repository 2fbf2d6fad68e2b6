"""The main window: a banner for messages, one tab per view, a tray icon, a remembered layout."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import shiboken6
from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from syncengine import PairReport, Status, SyncEngineError

from . import config, resources, theme
from . import format as fmt
from .dialogs.add_device import AddDeviceDialog
from .dialogs.missing_log import MissingLogBox
from .ops import Ops
from .services.device import DeviceService
from .services.health import HealthService
from .services.remote import Reachability, is_missing_log, is_offline
from .widgets import lock
from .widgets.activity import ActivityPage
from .widgets.banner import Banner
from .widgets.conflicts import ConflictsPage
from .widgets.devices import DevicesPage
from .widgets.overview import OverviewPage
from .widgets.pending import PendingPage
from .widgets.tray import Tray

VIEWS = ("overview", "conflicts", "pending", "devices", "activity")


def settings() -> QSettings:
    """Return the app's QSettings, an INI file in the app's config folder."""
    return QSettings(str(config.settings_path()), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    """One window for one open device."""

    ready = Signal()  # every view has loaded once
    closed = Signal()  # the window closed, its sync cancelled and connections released
    openRequested = Signal()
    demoRequested = Signal()
    joinRequested = Signal()
    missingLogRequested = Signal()
    switchRequested = Signal(object)  # a config.Workspace to open instead of this one
    besideRequested = Signal(list)  # config.Workspaces to open in windows of their own  # the shared log is not there: ask whether to create it, choose another or work offline

    def __init__(self, service: DeviceService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.ops = Ops(self)
        self._closing = False
        self._shut_down = False
        self._start_task: asyncio.Future[None] | None = None
        self._retinting = False
        self._loaded = False
        self._sync_when_loaded = False
        self.add_dialog: AddDeviceDialog | None = None
        self.missing_box: MissingLogBox | None = None  # the question about a missing shared log, while it is open
        # Where "Add a device…" listens and what address its code carries: None for every
        # interface and this machine's LAN address (tests pass 127.0.0.1).
        self.pair_host: str | None = None
        self._show_name(service.device.name)
        self.setWindowIcon(resources.icon("app", "#2f6fde"))
        self.resize(1180, 760)
        self.setMinimumSize(860, 560)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 8, 8, 0)
        layout.setSpacing(6)
        self.banner = Banner()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("views")
        self.tabs.setDocumentMode(True)
        self.health = HealthService(service, self)
        self.overview = OverviewPage(service, self.ops, self.health)
        self.conflicts = ConflictsPage(service, self.ops)
        self.pending = PendingPage(service, self.ops)
        self.devices = DevicesPage(service, self.ops)
        self.activity = ActivityPage(service, self.ops)
        self.pages = {
            "overview": (self.overview, "overview", "Overview"),
            "conflicts": (self.conflicts, "conflicts", "Conflicts"),
            "pending": (self.pending, "pending", "Pending changes"),
            "devices": (self.devices, "devices", "Devices"),
            "activity": (self.activity, "activity", "Activity"),
        }
        for page, icon_name, title in self.pages.values():
            self.tabs.addTab(page, resources.icon(icon_name), title)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.state_label = QLabel()
        self.statusBar().addPermanentWidget(self.state_label)
        self.statusBar().setSizeGripEnabled(True)
        self.tray = Tray(self)
        self._menus()

        self.ops.failed.connect(self.show_failure)
        self.banner.retry.connect(self.overview.sync_button.click)
        self.overview.openView.connect(self.show_view)
        self.devices.addRequested.connect(self.add_device)
        self.overview.notice.connect(self.banner.show_info)
        service.statusChanged.connect(self._status)
        service.reachabilityChanged.connect(self._reachability)
        service.conflictsArrived.connect(self.tray.conflicts_arrived)
        service.busyChanged.connect(self._busy)
        service.syncFinished.connect(self._sync_finished)
        service.renamed.connect(self._show_name)
        self.conflicts.countChanged.connect(self._conflict_count)
        self.tray.showWindow.connect(self._raise)
        self.tray.syncNow.connect(self.overview.sync_button.click)
        self.tray.quit.connect(self.close)
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):
            hints.colorSchemeChanged.connect(self._system_scheme_changed)
        self._restore()
        self._reachability(service.reachability.value, service.reachability_detail)
        self._engine_log = self.activity.log_handler
        self._engine_log.install()  # off again in _shutdown, or if the window goes without closing
        self.destroyed.connect(self._engine_log.remove)
        lock.install(self)  # end-to-end encryption: the lock in the status bar, its banner, Sync → Encryption…

    # -- building -------------------------------------------------------------------------

    def _show_name(self, name: str) -> None:
        self.setWindowTitle(f"{name or 'device'} — Sync Manager")

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = file_menu.addAction("&Open…")
        resources.themed(open_action, "open")
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.openRequested)
        self.switch_menu = file_menu.addMenu("S&witch to")
        self.switch_menu.setToolTip("Open a database you opened before, instead of this one")
        self.switch_menu.aboutToShow.connect(self.fill_switch_menu)
        self.beside_action = file_menu.addAction("Open this workspace's other &devices")
        self.beside_action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        self.beside_action.setToolTip(
            "Open, each in a window of its own, the databases you opened before that sync with the same shared log"
        )
        self.beside_action.triggered.connect(self.open_other_devices)
        self.fill_switch_menu()  # now too, so its shortcuts work before the menu is first opened
        file_menu.addAction("Open the &demo workspace").triggered.connect(self.demoRequested)
        self.join_action = file_menu.addAction("&Join another device…")
        self.join_action.setToolTip("Make a new database on this machine from another device's pairing code")
        self.join_action.triggered.connect(self.joinRequested)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        sync_menu = self.menuBar().addMenu("&Sync")
        self.sync_action = sync_menu.addAction("Sync &now")
        resources.themed(self.sync_action, "sync")
        self.sync_action.setShortcut(QKeySequence("F5"))
        self.sync_action.triggered.connect(self.overview.sync_button.click)
        self.cancel_action = sync_menu.addAction("&Cancel sync")
        resources.themed(self.cancel_action, "cancel")
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.overview.cancel)
        self.pause_action = sync_menu.addAction("&Pause automatic sync")
        self.pause_action.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.pause_action.setToolTip("Stop automatic sync until you resume it (the stored setting stays on)")
        self.pause_action.triggered.connect(self.overview.toggle_pause)
        self.overview.pauseOffered.connect(self._pause_shown)
        self._pause_shown(False, False)
        sync_menu.addSeparator()
        self.add_action = sync_menu.addAction("&Add a device…")
        resources.themed(self.add_action, "devices")
        self.add_action.setToolTip("Show a pairing code and send everything to the device that joins with it")
        self.add_action.triggered.connect(self.add_device)
        view_menu = self.menuBar().addMenu("&View")
        for i, key in enumerate(VIEWS):
            action = QAction(self.pages[key][2], self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, k=key: self.show_view(k))
            view_menu.addAction(action)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        chosen = theme.stored(settings())
        self.theme_actions: dict[str, QAction] = {}
        for key, label in theme.CHOICES:
            action = theme_menu.addAction(label)
            action.setCheckable(True)
            action.setChecked(key == chosen)
            group.addAction(action)
            action.triggered.connect(lambda _=False, k=key: self.choose_theme(k))
            self.theme_actions[key] = action
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("&About Sync Manager").triggered.connect(self._about)

    def fill_switch_menu(self) -> None:
        """List the recent databases (this one checked); Ctrl+Alt+1…9 switch to the first nine."""
        self.switch_menu.clear()
        for i, workspace in enumerate(config.recent()):
            here = workspace.db == self.service.workspace.db
            action = self.switch_menu.addAction(f"{workspace.title}   ⇄  {fmt.location(workspace.remote) if workspace.remote else 'no remote'}")
            action.setToolTip(fmt.location(workspace.db))
            action.setCheckable(True)
            action.setChecked(here)
            action.setEnabled(not here)
            if i < 9:
                action.setShortcut(QKeySequence(f"Ctrl+Alt+{i + 1}"))
            action.triggered.connect(lambda _=False, w=workspace: self.switchRequested.emit(w))
        if self.switch_menu.isEmpty():
            self.switch_menu.addAction("(nothing opened before)").setEnabled(False)

    def other_devices(self) -> list[config.Workspace]:
        """The recent databases that sync with this window's shared log, this one left out."""
        remote = self.service.workspace.remote
        return [w for w in config.recent() if remote and w.remote == remote and w.db != self.service.workspace.db]

    def open_other_devices(self) -> None:
        others = self.other_devices()
        if others:
            self.besideRequested.emit(others)
        else:
            self.banner.show_info("No other database on this machine syncs with this shared log (open one with File → Open… first).")

    def show_raised(self) -> None:
        self._raise()

    def choose_theme(self, choice: str) -> None:
        """Draw the app light, dark or as the system says, and remember the choice."""
        theme.remember(settings(), choice)
        theme.apply(choice)
        for key, action in self.theme_actions.items():
            action.setChecked(key == choice)

    def _system_scheme_changed(self, *_: Any) -> None:
        if theme.stored(settings()) == theme.SYSTEM:
            theme.apply(theme.SYSTEM)
        self.retint()

    def _about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Sync Manager")
        box.setIconPixmap(resources.icon("app", "#2f6fde").pixmap(48, 48))
        box.setText("<b>Sync Manager</b><br>The desktop front end of syncengine: offline-first sync for SQL databases.")
        box.setModal(False)
        box.show()

    def retint(self, *_: Any) -> None:
        """Redraw the themed icons after the system switched between light and dark."""
        resources.retint(self)
        for i, (_page, icon_name, _title) in enumerate(self.pages.values()):
            self.tabs.setTabIcon(i, resources.icon(icon_name))
        self.conflicts.tabs.setTabIcon(0, resources.icon("conflicts"))
        self.conflicts.tabs.setTabIcon(1, resources.icon("history"))

    def _pause_shown(self, offered: bool, paused: bool) -> None:
        """The Sync menu offers Pause (or Resume) exactly when the Overview does."""
        self.pause_action.setEnabled(offered)
        self.pause_action.setText("&Resume automatic sync" if paused else "&Pause automatic sync")

    def event(self, event: QEvent) -> bool:
        """Follow a change of the application's palette (the system's light or dark scheme, or one set in code)."""
        if event.type() == QEvent.Type.ApplicationPaletteChange and not self._retinting:
            self._retinting = True
            QTimer.singleShot(0, self._follow_palette)  # once the new palette has reached every widget
        return super().event(event)

    def _follow_palette(self) -> None:
        if not shiboken6.isValid(self):  # the window went before the palette change reached it
            return
        try:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                app.setStyleSheet(app.styleSheet())  # resolve the style sheet's palette() colours anew
            self.retint()
        finally:
            self._retinting = False

    def show_view(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.pages[key][0])

    def _raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # -- loading ----------------------------------------------------------------------------

    def start(self) -> None:
        """Load every view once, then emit ``ready``; the remote being offline is shown, not raised.

        The loading is a task the window cancels if it closes first.
        """

        async def load() -> None:
            await self.ops.run("Opening the database", self._load)
            self._loaded = True
            self.ready.emit()
            if self._sync_when_loaded:
                self._sync_when_loaded = False
                self.overview.sync_now()

        self._start_task = asyncio.ensure_future(load())

    async def _load(self) -> None:
        # The settings first (never a default shown as if stored), then the remote: one quick look (a
        # refused server is offline at once), and the views after it, so that they name the other
        # devices (the conflict detail's columns say whose value is whose).
        await self.overview.load()
        await self.service.refresh_status()
        with contextlib.suppress(SyncEngineError):  # shown as the remote's state
            await self.service.check_remote()
        await self.conflicts.reload()
        await self.activity.reload()
        self.pending.reload()
        with contextlib.suppress(SyncEngineError):  # shown in the Overview as a check that could not run
            await self.health.load()
        enabled, _interval = await self.service.auto_sync_settings()
        self.service.start_auto_sync_if_enabled(enabled)

    async def connect_remote(self) -> None:
        """Create the missing shared log (the person chose to), then read the views that depend on it."""
        if await self.service.open_remote(create=True):
            self.banner.show_info(f"Created a new shared log at {fmt.location(self.service.workspace.remote)}.")
            with contextlib.suppress(SyncEngineError):
                await self.health.load()

    # -- pairing -------------------------------------------------------------------------------

    def add_device(self) -> AddDeviceDialog:
        """Show the Add a device dialog (one at a time), which makes a code and waits for a device."""
        if self.add_dialog is not None and shiboken6.isValid(self.add_dialog) and self.add_dialog.isVisible():
            self.add_dialog.raise_()
            self.add_dialog.activateWindow()
            return self.add_dialog
        dialog = AddDeviceDialog(self.service, self, host=self.pair_host)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.joined.connect(self._paired)
        dialog.listed.connect(self.devices.expect)
        self.add_dialog = dialog
        dialog.show()
        dialog.start()
        return dialog

    def _paired(self, report: PairReport) -> None:
        self.devices.expect(report.device_id)
        self.show_view("devices")
        self.banner.show_info(
            f"{report.name or report.device_id} joined this device by pairing."
            + (" It is listed under Devices after its first sync with the shared log." if self.service.remote else "")
        )

    def welcome_joined(self, report: PairReport) -> None:
        """After this database joined another device: show Devices, and sync once so the shared log lists it."""
        self.devices.expect(report.device_id)
        self.show_view("devices")
        moved = f"received {report.received:,} rows" + (f" and sent {report.sent:,}" if report.sent else "")
        if self.service.remote is None:
            self.banner.show_info(f"Joined by pairing: {moved}. There is no shared log to sync with.")
            return
        self.banner.show_info(
            f"Joined by pairing: {moved}. Its first sync with the shared log registers it under Devices."
        )
        if self._loaded:
            self.overview.sync_now()
        else:
            self._sync_when_loaded = True

    # -- state -------------------------------------------------------------------------------

    def show_failure(self, what: str, error: object) -> None:
        """The one place failures are shown: a banner; offline is a state, not an error; a missing log asks.

        Only an exception is an error (red, with its traceback behind Details…). A
        sentence (``str``) is an outcome the action expected and tells, such as
        conflicts a bulk decision left open: it is shown as a notice.
        """
        if isinstance(error, BaseException) and is_missing_log(error):
            self.missingLogRequested.emit()
        elif isinstance(error, BaseException) and is_offline(error):
            self.banner.show_offline(str(error))
        elif isinstance(error, BaseException):
            self.banner.show_error(what, error)
        else:
            self.banner.show_info(f"{what}: {error}")

    def _status(self, status: Status) -> None:
        self._conflict_count(status.conflicts)

    def _conflict_count(self, n: int) -> None:
        index = self.tabs.indexOf(self.conflicts)
        self.tabs.setTabText(index, f"Conflicts ({n})" if n else "Conflicts")
        self.tray.set_count(n)

    def _reachability(self, state: str, detail: str) -> None:
        texts = {
            Reachability.REACHABLE.value: "Remote reachable",
            Reachability.OFFLINE.value: "Offline",
            Reachability.ERROR.value: "Remote error",
            Reachability.NONE.value: "No remote",
            Reachability.UNKNOWN.value: "Checking the remote…",
            Reachability.CHECKING.value: "Checking the remote…",
            Reachability.MISSING.value: "No shared log — working offline",
        }
        self.state_label.setText(texts.get(state, state))
        if state == Reachability.OFFLINE.value:
            self.banner.show_offline(detail)
        elif state == Reachability.MISSING.value:
            self.banner.show_missing(detail)
        elif state == Reachability.REACHABLE.value and self.banner.level == "offline":
            self.banner.dismiss()

    def _busy(self, busy: bool) -> None:
        self.cancel_action.setEnabled(busy)
        self.sync_action.setEnabled(not busy)
        self.statusBar().showMessage("Syncing…" if busy else "", 0 if busy else 1)

    def _sync_finished(self, report: Any, error: BaseException | None) -> None:
        if error is None and report is not None:
            self.statusBar().showMessage(
                "Sync cancelled — nothing is lost" if report.cancelled else f"Synced: sent {report.sent:,}, received {report.received:,}",
                5000,
            )

    # -- layout memory --------------------------------------------------------------------------

    def _splitters(self) -> list[QSplitter]:
        return [s for s in self.findChildren(QSplitter) if s.objectName()]

    def _restore(self) -> None:
        store = settings()
        geometry = store.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = store.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for splitter in self._splitters():
            saved = store.value(f"splitters/{splitter.objectName()}")
            if isinstance(saved, QByteArray):
                splitter.restoreState(saved)
        view = store.value("window/view")
        if isinstance(view, str) and view in self.pages:
            self.show_view(view)

    def save_layout(self) -> None:
        store = settings()
        store.setValue("window/geometry", self.saveGeometry())
        store.setValue("window/state", self.saveState())
        for splitter in self._splitters():
            store.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        current = next((k for k, (page, *_rest) in self.pages.items() if page is self.tabs.currentWidget()), "overview")
        store.setValue("window/view", current)
        store.sync()

    # -- closing -------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Save the layout; cancel a running sync and wait for it before the window goes."""
        if self._shut_down:
            event.accept()
            return
        event.ignore()
        if not self._closing:
            self._closing = True
            self.save_layout()
            if self.service.busy:
                self.statusBar().showMessage("Cancelling the sync before closing…")
            self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            if self._start_task is not None and not self._start_task.done():  # still loading
                self._start_task.cancel()
                await asyncio.wait([self._start_task])
            await self.service.shutdown()
            await self.ops.cancel_all()  # view reloads the sync's end started: the device is closed now
            for model in (self.pending.model, self.activity.model, self.conflicts.history):
                await model.stop()
        except Exception as exc:  # the window closes anyway; nothing committed is lost
            if shiboken6.isValid(self.banner):
                self.banner.show_error("Closing", exc)
        finally:
            self._engine_log.remove()  # no more engine log lines for this window
        self._shut_down = True
        if not shiboken6.isValid(self):  # deleted meanwhile (by its owner): nothing left to close
            return
        if shiboken6.isValid(self.tray.icon):
            self.tray.icon.hide()
        self.close()
        self.closed.emit()
