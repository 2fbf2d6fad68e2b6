"""The tray icon: a badge with the number of open conflicts, a notice when new ones arrive."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMenu, QSystemTrayIcon, QWidget

from .. import resources


class Tray(QObject):
    """Owns the QSystemTrayIcon (shown only where the desktop has a tray)."""

    showWindow = Signal()
    syncNow = Signal()
    quit = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.count = 0
        self.notified = 0  # notices shown (tests read it where no tray exists)
        self.last_message = ""
        self.icon = QSystemTrayIcon(resources.badge_icon(0), parent)
        menu = QMenu(parent)
        menu.addAction("Show Sync Manager").triggered.connect(self.showWindow)
        sync_action = menu.addAction("Sync now")
        resources.themed(sync_action, "sync")
        sync_action.triggered.connect(self.syncNow)
        menu.addSeparator()
        menu.addAction("Quit").triggered.connect(self.quit)
        self.icon.setContextMenu(menu)
        self.icon.activated.connect(lambda _reason: self.showWindow.emit())
        self._arrived = 0
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(300)  # one notice for a burst of conflicts from one sync
        self._coalesce.timeout.connect(self._notify)
        self.set_count(0)
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon.show()

    def set_count(self, n: int) -> None:
        self.count = n
        self.icon.setIcon(resources.badge_icon(n))
        self.icon.setToolTip(f"Sync Manager — {n} open conflict{'s' if n != 1 else ''}" if n else "Sync Manager — no open conflicts")

    def conflicts_arrived(self, n: int) -> None:
        self._arrived += n
        self._coalesce.start()

    def _notify(self) -> None:
        n, self._arrived = self._arrived, 0
        self.last_message = f"{n} new conflict{'s wait' if n != 1 else ' waits'} for your decision"
        self.notified += 1
        if self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage("Sync Manager", self.last_message, resources.badge_icon(self.count), 5000)
