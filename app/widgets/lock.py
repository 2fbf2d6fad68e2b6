"""The lock in the status bar, the banner of a device locked out of its encrypted shared log, and their wiring.

:func:`install` adds them to a main window through its public Qt API only: a
permanent widget in the status bar, a strip under the window's banner, and
**Sync → Encryption…**. It follows the window's :class:`DeviceService`: every sync
that ends (the person's or the scheduler's) tells whether the shared log refused this
device for want of a key (``KeyMissing``); the status is read again after each.

* The lock: closed with the key id when this device encrypts (its tooltip says
  where the keys are kept), open when nothing is encrypted, and "Locked" when the
  shared log is encrypted and this device cannot read it. A click opens the dialog.
* The banner: shown in that last state, with **Unlock…**; it goes once the device
  holds the key again (an unlock, which starts a sync, or a sync that took a
  rotated key by itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QToolButton,
    QWidget,
)

from syncengine import KeyMissing, KeyStatus

from .. import resources
from ..dialogs.encryption import UNLOCK, EncryptionDialog
from ..services.encryption import EncryptionService, LockState, describe, where_kept

if TYPE_CHECKING:
    from ..window import MainWindow


class LockButton(QToolButton):
    """A flat button showing whether this device encrypts; ``clicked`` opens the Encryption dialog."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lock")
        self.setAutoRaise(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.state = LockState.UNKNOWN
        self.show_state(None, LockState.UNKNOWN, "")

    def show_state(self, status: KeyStatus | None, state: LockState, problem: str) -> None:
        """Draw the lock for ``state``; the tooltip says why, and where the keys are kept."""
        self.state = state
        if state is LockState.ENCRYPTED and status is not None:
            resources.themed(self, "lock")
            self.setText(f"Encrypted · {(status.key_id or '')[:8]}")
            tip = f"End-to-end encrypted: the shared log keeps only ciphertext. {describe(status)}"
        elif state is LockState.LOCKED:
            resources.themed(self, "lock")
            self.setText("Locked — no key")
            tip = (
                "The shared log is encrypted and this device cannot read it: unlock it with the passphrase "
                f"(Sync → Encryption…). {problem}"
            ).strip()
        elif state is LockState.OPEN:
            resources.themed(self, "lock-open")
            self.setText("Not encrypted")
            tip = "The shared log keeps this device's data as it is. Sync → Encryption… sets up end-to-end encryption."
            if status is not None and status.log_encrypted is None:
                tip = "This device does not encrypt (the shared log could not be asked whether it is encrypted)."
        else:
            resources.themed(self, "lock-open")
            self.setText("Encryption…")
            tip = "Reading this device's keys…"
        self.setToolTip(tip)
        self.setAccessibleName(self.text())
        self.setAccessibleDescription(tip)


class KeyBanner(QFrame):
    """The strip that says this device is locked out of the encrypted shared log; ``unlock`` from its button."""

    unlock = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")  # drawn like the window's banner
        self.setProperty("level", "offline")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(8)
        self.icon = QLabel()
        resources.themed(self.icon, "lock", 20)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unlock_button = QPushButton("&Unlock…")
        self.unlock_button.clicked.connect(self.unlock)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.unlock_button)
        self.hide()

    def show_state(self, status: KeyStatus | None, state: LockState, problem: str) -> None:
        """Shown while the device is locked out; the engine's sentence is in the tooltip."""
        if state is not LockState.LOCKED:
            self.hide()
            return
        if status is not None and status.encrypts and status.log_encrypted:
            why = "The shared log's key was replaced, and this device needs the passphrase to take it."
        elif status is not None and status.encrypts:
            why = "This device's keys cannot be read."
        else:
            why = "The shared log is encrypted and this device has no key for it."
        self.text.setText(
            f"<b>Locked</b> — {why} It does not sync until it is unlocked with the passphrase; "
            "its own changes stay here meanwhile."
        )
        self.setToolTip(problem)
        self.show()


class EncryptionUi(QObject):
    """The lock, the banner, the menu action and the dialog of one window (see :func:`install`)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.keys = EncryptionService(window.service, self)
        self.dialog: EncryptionDialog | None = None
        self._sync_after_unlock = False

        self.lock = LockButton()
        window.statusBar().addPermanentWidget(self.lock)
        self.banner = KeyBanner()
        central = window.centralWidget()
        layout = central.layout() if central is not None else None
        if isinstance(layout, QBoxLayout):
            layout.insertWidget(layout.indexOf(window.banner) + 1, self.banner)
        self.action = QAction("&Encryption…", window)
        resources.themed(self.action, "lock")
        self.action.setToolTip("Set up end-to-end encryption, unlock this device, rotate the key or change the passphrase")
        self.action.setMenuRole(QAction.MenuRole.NoRole)
        menu = _menu(window, "&Sync")
        if menu is not None:
            menu.addSeparator()
            menu.addAction(self.action)
        else:
            window.menuBar().addAction(self.action)

        self.action.triggered.connect(lambda: self.open_dialog())
        self.lock.clicked.connect(lambda: self.open_dialog())
        self.banner.unlock.connect(lambda: self.open_dialog(UNLOCK))
        self.keys.changed.connect(self._show)
        window.service.syncFinished.connect(self.keys.sync_finished)
        window.ops.failed.connect(self._failed)
        window.service.reachabilityChanged.connect(self._reachability)
        window.ready.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Read the device's keys and the log's state again (in the worker)."""
        if not self.window.service.closed:
            self.window.ops.start("Reading the encryption keys", self.keys.refresh)

    def _reachability(self, state: str, _detail: str) -> None:
        status = self.keys.status
        if state == "reachable" and (status is None or status.log_encrypted is None):  # the log can be asked now
            self.refresh()

    def open_dialog(self, page: str | None = None) -> EncryptionDialog:
        """Show the Encryption dialog (one at a time), on ``page`` or the one that fits the device's state."""
        dialog = self.dialog
        if dialog is None or not shiboken6.isValid(dialog):
            dialog = EncryptionDialog(self.keys, self.window.ops, self.window)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.succeeded.connect(self._done)
            self.dialog = dialog
        if page is not None and dialog.tabs.isTabEnabled(list(dialog.pages).index(page)):
            dialog.show_page(page)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _show(self) -> None:
        if not shiboken6.isValid(self.lock):
            return
        keys = self.keys
        self.lock.show_state(keys.status, keys.state, keys.problem)
        self.banner.show_state(keys.status, keys.state, keys.problem)

    def _done(self, action: str, status: KeyStatus) -> None:
        if action == UNLOCK:  # sync at once: what waited on this device goes out, sealed
            self.window.statusBar().showMessage(f"Unlocked — keys kept in {where_kept(status)}", 5000)
            if self.window.sync_action.isEnabled() and not self.window.service.busy:
                self.window.sync_action.trigger()

    def _failed(self, _what: str, error: object) -> None:
        # The window's banner shows the same refusal as an error; the lock's banner says it better, with Unlock….
        if isinstance(error, KeyMissing) and shiboken6.isValid(self.window.banner):
            self.window.banner.dismiss()


def _menu(window: QMainWindow, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and menu.title() == title:
            return menu
    return None


def install(window: MainWindow) -> EncryptionUi:
    """Give ``window`` the lock, the banner and Sync → Encryption… (once); return what was added (tests drive it)."""
    found = window.findChild(EncryptionUi)
    if isinstance(found, EncryptionUi):
        return found
    return EncryptionUi(window)  # a child of the window: it lives and goes with it
