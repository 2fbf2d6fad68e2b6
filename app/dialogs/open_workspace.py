"""Choose a device database and its remote: a file, a URL, or a recent one.

The file pickers are opened with ``QFileDialog.open()`` (window-modal, no nested
event loop), so the dialog stays responsive and tests can drive the picker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .. import config

_DB_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)"


class OpenDialog(QDialog):
    """Returns a :class:`config.Workspace` and a token (for a server remote).

    ``note`` is shown above the form (why the dialog asks: a join that brought no
    usable remote, say). **Join another device…** closes it with ``join_requested``
    set, for a machine that has no synced database yet.
    """

    def __init__(self, parent: QWidget | None = None, note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a synced database")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self.picker: QFileDialog | None = None  # the file picker last opened (tests drive it)
        self.join_requested = False
        self.user = "default"  # the shared-log user: a recent workspace's, or a joined device's
        self.note = QLabel(note)
        self.note.setWordWrap(True)
        self.note.setVisible(bool(note))
        layout.addWidget(self.note)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(140)
        for workspace in config.recent():
            item = QListWidgetItem(f"{workspace.title}    ⇄  {workspace.remote or 'no remote'}")
            item.setData(Qt.ItemDataRole.UserRole, workspace)
            item.setToolTip(workspace.db)
            self.recent.addItem(item)
        if self.recent.count():
            caption = QLabel("&Recent")
            caption.setBuddy(self.recent)
            layout.addWidget(caption)
            layout.addWidget(self.recent)
        else:
            self.recent.hide()

        form = QFormLayout()
        self.db = QLineEdit()
        self.db.setPlaceholderText("shop.db, or postgresql://user@host/db")
        self.remote = QLineEdit()
        self.remote.setPlaceholderText("shared.db, postgresql://…, or https://server (needs a token)")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("device token from 'syncengine token'")
        self.remember = QCheckBox("Remember the token (keyring, or a file only you can read)")
        self.remember.setChecked(True)
        form.addRow("&Database", self._with_browse(self.db, self._browse_db))
        form.addRow("Re&mote", self._with_browse(self.remote, self._browse_remote))
        form.addRow("&Token", self.token)
        form.addRow("", self.remember)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.join_button = self.buttons.addButton("&Join another device…", QDialogButtonBox.ButtonRole.ResetRole)
        self.join_button.setToolTip("Make a new database here from another device's pairing code")
        self.join_button.clicked.connect(self._join)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.recent.currentItemChanged.connect(self._pick)
        self.recent.itemDoubleClicked.connect(lambda _item: self.accept())
        self.remote.textChanged.connect(self._remote_changed)
        self.db.textChanged.connect(self._valid)
        self._remote_changed(self.remote.text())
        self._valid()

    def _with_browse(self, line: QLineEdit, browse: Callable[[], None]) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: browse())
        row.addWidget(line, 1)
        row.addWidget(button)
        return box

    def _browse_db(self) -> None:
        self._browse(self.db, "Device database")

    def _browse_remote(self) -> None:
        self._browse(self.remote, "Shared log file")

    def _browse(self, line: QLineEdit, title: str) -> None:
        """Open a file picker starting next to what ``line`` holds; the chosen path goes into ``line``."""
        current = line.text().strip()
        start = str(Path(current).parent) if current and "://" not in current else ""
        picker = QFileDialog(self, title, start, _DB_FILTER)
        picker.setFileMode(QFileDialog.FileMode.ExistingFile)
        picker.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
        picker.fileSelected.connect(line.setText)
        picker.finished.connect(picker.deleteLater)
        self.picker = picker
        picker.open()

    def _join(self) -> None:
        self.join_requested = True
        self.reject()

    def prefill(self, workspace: config.Workspace) -> None:
        """Start from ``workspace`` (a database that joined, whose remote is still to be chosen)."""
        self.db.setText(workspace.db)
        self.remote.setText(workspace.remote)
        self.user = workspace.user
        self.remote.setFocus()

    def _pick(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        workspace: config.Workspace = item.data(Qt.ItemDataRole.UserRole)
        self.user = workspace.user
        self.db.setText(workspace.db)
        self.remote.setText(workspace.remote)
        self.token.setText(config.load_token(workspace.remote, workspace.db) or "" if workspace.remote.startswith("http") else "")

    def _remote_changed(self, text: str) -> None:
        server = text.strip().startswith(("http://", "https://"))
        self.token.setEnabled(server)
        self.remember.setEnabled(server)

    def _valid(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(self.db.text().strip()))

    def workspace(self) -> config.Workspace:
        return config.Workspace(db=self.db.text().strip(), remote=self.remote.text().strip(), user=self.user)

    def chosen_token(self) -> str | None:
        """Return the token typed for a server remote (None for other remotes or an empty field)."""
        text = self.token.text().strip()
        return text if text and self.token.isEnabled() else None

    def remember_token(self) -> bool:
        """Return whether the token should be stored for next time."""
        return self.remember.isChecked()
