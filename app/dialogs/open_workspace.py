"""Choose a device database and its remote: a file, a URL, or a recent one."""

from __future__ import annotations

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
    """Returns a :class:`config.Workspace` and a token (for a server remote)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a synced database")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
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
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.recent.currentItemChanged.connect(self._pick)
        self.recent.itemDoubleClicked.connect(lambda _item: self.accept())
        self.remote.textChanged.connect(self._remote_changed)
        self.db.textChanged.connect(self._valid)
        self._remote_changed(self.remote.text())
        self._valid()

    def _with_browse(self, line: QLineEdit, browse: object) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        row.addWidget(line, 1)
        row.addWidget(button)
        return box

    def _browse_db(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Device database", "", _DB_FILTER)
        if path:
            self.db.setText(path)

    def _browse_remote(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Shared log file", "", _DB_FILTER)
        if path:
            self.remote.setText(path)

    def _pick(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        workspace: config.Workspace = item.data(Qt.ItemDataRole.UserRole)
        self.db.setText(workspace.db)
        self.remote.setText(workspace.remote)
        self.token.setText(config.load_token(workspace.remote) or "" if workspace.remote.startswith("http") else "")

    def _remote_changed(self, text: str) -> None:
        server = text.strip().startswith(("http://", "https://"))
        self.token.setEnabled(server)
        self.remember.setEnabled(server)

    def _valid(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(self.db.text().strip()))

    def workspace(self) -> config.Workspace:
        return config.Workspace(db=self.db.text().strip(), remote=self.remote.text().strip())

    def chosen_token(self) -> str | None:
        text = self.token.text().strip()
        return text if text and self.token.isEnabled() else None
