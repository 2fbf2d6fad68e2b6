"""Join another device: on a new machine, take a pairing code and a database, and receive everything.

``syncengine.join`` runs in a worker thread: it creates the database if absent (with
the other device's tables), receives every row with its versions, and stores the
other device's remote. The dialog then says what it got and emits ``joined``; the
controller opens the database as the workspace.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from syncengine import ConfigurationError, PairingCode, join

from .. import format as fmt
from ..services.pairing import Joined, Transfer, read_joined
from ._transfer import TransferDialog

_DB_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)"


class JoinDialog(TransferDialog):
    """Returns, through ``joined``, a :class:`~app.services.pairing.Joined`: the database and its remote."""

    side = "joiner"
    close_on_cancel = False  # a cancelled join can go on: Join again resumes while the other device waits
    joined = Signal(object)  # Joined

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join another device")
        self.setMinimumWidth(640)
        self.picker: QFileDialog | None = None  # the file picker last opened (tests drive it)
        self.result_joined: Joined | None = None
        layout = QVBoxLayout(self)
        intro = QLabel(
            "On a device that has the data, choose <b>Sync → Add a device…</b> in the Sync Manager "
            "(or run <code>syncengine pair DB</code>), then enter the code it shows. This machine gets every "
            "row with its history and becomes a device of its own."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        form = QFormLayout()
        self.code = QLineEdit()
        self.code.setPlaceholderText("SE1-…")
        self.code.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.code_hint = QLabel()
        self.code_hint.setObjectName("muted")
        self.code_hint.setWordWrap(True)
        self.db = QLineEdit()
        self.db.setPlaceholderText("a new file such as till.db, or an existing database whose tables fit")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        db_row = QWidget()
        row = QHBoxLayout(db_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.db, 1)
        row.addWidget(browse)
        self.name = QLineEdit()
        self.name.setPlaceholderText(f"{socket.gethostname()} (this machine's name, if left empty)")
        form.addRow("Pairing &code", self.code)
        form.addRow("", self.code_hint)
        form.addRow("&Database", db_row)
        form.addRow("&Name", self.name)
        layout.addLayout(form)
        self.fields = (self.code, self.db, browse, self.name)
        layout.addLayout(self.progress_section())
        self.progress.hide()  # until a join starts

        self.buttons = QDialogButtonBox()
        self.join_button = self.buttons.addButton("&Join", QDialogButtonBox.ButtonRole.AcceptRole)
        self.join_button.setDefault(True)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.join_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel_or_close)  # (the box's accepted/rejected are not used)
        layout.addWidget(self.buttons)
        self.code.textChanged.connect(self._valid)
        self.db.textChanged.connect(self._valid)
        self._valid()

    # -- the form --------------------------------------------------------------------------------

    def _browse(self) -> None:
        """A picker for a new file or an existing one (no "replace it?": joining never overwrites a row)."""
        current = self.db.text().strip()
        start = str(Path(current).parent) if current and "://" not in current else ""
        picker = QFileDialog(self, "Database for this device", start, _DB_FILTER)
        picker.setFileMode(QFileDialog.FileMode.AnyFile)
        picker.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        picker.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
        picker.setDefaultSuffix("db")
        picker.fileSelected.connect(self.db.setText)
        picker.finished.connect(picker.deleteLater)
        self.picker = picker
        picker.open()

    def parsed_code(self) -> PairingCode | None:
        text = self.code.text().strip()
        if not text:
            return None
        try:
            return PairingCode.parse(text)
        except ConfigurationError:
            return None

    def _valid(self) -> None:
        text = self.code.text().strip()
        parsed = self.parsed_code()
        if not text:
            self.code_hint.setText("The code the other device shows: it starts with SE1-.")
        elif parsed is None:
            self.code_hint.setText("Not a pairing code yet: copy it whole, as the other device shows it (SE1-…).")
        else:
            self.code_hint.setText(f"From the device at {parsed.host}, port {parsed.port}.")
        self.join_button.setEnabled(parsed is not None and bool(self.db.text().strip()) and not self.running)

    def database(self) -> str:
        """The database as typed: a URL as it is, a path made absolute (the recent list outlives the folder)."""
        text = self.db.text().strip()
        return text if "://" in text else str(Path(text).expanduser().resolve())

    # -- the flow -----------------------------------------------------------------------------------

    def start(self) -> None:
        if self.running or self.parsed_code() is None or not self.db.text().strip():
            return
        self.begin(self._join)

    async def _join(self, transfer: Transfer) -> None:
        db, code, name = self.database(), self.code.text().strip(), self.name.text().strip() or None
        self.busy("Connecting to the other device…")
        report = await asyncio.to_thread(
            join, db, code, name=name, on_progress=transfer.on_progress, cancel=transfer.cancel_event
        )
        joined = await asyncio.to_thread(read_joined, db, report)
        if not shiboken6.isValid(self):
            return
        moved = f"received {report.received:,} rows" + (f", sent {report.sent:,}" if report.sent else "")
        self.finished_status(
            f"Joined as {report.name}: {moved} in {fmt.duration(report.seconds)}.",
            "Opening it…",
        )
        self.result_joined = joined
        self.joined.emit(joined)
        self.accept()

    def running_changed(self, running: bool) -> None:
        for field in self.fields:
            field.setEnabled(not running)
        self.cancel_button.setText("Cancel")
        self.join_button.setText("&Join again" if not running and self.error is not None else "&Join")
        self._valid()
