"""Add a device: show a pairing code (text and QR) and send everything to the device that joins with it.

The open device listens (``Device.pair``) and waits for one joiner (``Pairing.serve``)
in a worker thread of its service. The dialog shows the code until a device joins,
then the transfer's progress, then who joined. The joined device registers with the
shared log at its first sync: until then the Devices view cannot list it, so the
dialog asks the shared log again every few seconds while it stays open and says when
the device is listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import shiboken6
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase, QFontMetrics
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from syncengine import DeviceInfo, PairProgress, PairReport, SyncEngineError

from .. import format as fmt
from ..services.device import DeviceService
from ..services.pairing import Transfer
from ..widgets.qr import QrCode
from ._transfer import TransferDialog

CODE_MINUTES = 10


class AddDeviceDialog(TransferDialog):
    """Pairs the open device with a new one; ``joined`` says who joined, ``listed`` when Devices shows it."""

    side = "sender"
    close_on_cancel = True
    codeShown = Signal(str)
    joined = Signal(object)  # PairReport
    listed = Signal(str)  # the joined device's id, once the shared log lists it

    def __init__(
        self,
        service: DeviceService,
        parent: QWidget | None = None,
        *,
        host: str | None = None,
        timeout: float = CODE_MINUTES * 60.0,
        poll_ms: int = 3000,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.host = host
        self.timeout = timeout
        self.code = ""
        self.report: PairReport | None = None
        self.is_listed = False
        self._looking = False
        self.setWindowTitle("Add a device")

        layout = QVBoxLayout(self)
        intro = QLabel(
            "On the new machine, choose <b>File → Join another device…</b> in the Sync Manager "
            "(or run <code>syncengine join NEW.db CODE</code>) and enter this code, or scan it. "
            "The new device gets every row of this one, straight over the network."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        self.qr = QrCode(200)
        grid.addWidget(self.qr, 0, 0, 4, 1)
        caption = QLabel("Pairing &code")
        self.code_field = QLineEdit()
        self.code_field.setReadOnly(True)
        self.code_field.setPlaceholderText("making a code…")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(mono.pointSizeF() * 1.15)  # read aloud or typed across a room
        self.code_field.setFont(mono)
        # wide enough for a whole code (38 letters in groups of five, after SE1-)
        self.code_field.setMinimumWidth(QFontMetrics(mono).horizontalAdvance("SE1-" + "WWWWW-" * 8 + "WWWW") + 16)
        caption.setBuddy(self.code_field)
        self.copy_button = QPushButton("C&opy")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_code)
        self.expiry = QLabel()
        self.expiry.setObjectName("muted")
        self.expiry.setWordWrap(True)
        grid.addWidget(caption, 0, 1, 1, 2)
        grid.addWidget(self.code_field, 1, 1)
        grid.addWidget(self.copy_button, 1, 2)
        grid.addWidget(self.expiry, 2, 1, 1, 2)
        grid.setRowStretch(3, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        layout.addLayout(self.progress_section())

        self.buttons = QDialogButtonBox()
        self.again_button = self.buttons.addButton("&New code", QDialogButtonBox.ButtonRole.ActionRole)
        self.again_button.hide()
        self.again_button.clicked.connect(self.start)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.cancel_button.clicked.connect(self.cancel_or_close)  # (the box's rejected signal is not used)
        layout.addWidget(self.buttons)

        self.poll = QTimer(self)
        self.poll.setInterval(poll_ms)
        self.poll.timeout.connect(self._look_for_joined)
        self.finished.connect(self.poll.stop)
        self._look_task: asyncio.Future[None] | None = None
        service.devicesChanged.connect(self._devices)

    # -- the flow ------------------------------------------------------------------------------

    def start(self) -> None:
        """Make a code and wait for a device (again, after a failure)."""
        if self.running:
            return
        self.report = None
        self.is_listed = False
        self.again_button.hide()
        self.begin(self._offer)

    async def _offer(self, transfer: Transfer) -> None:
        self.busy("Making a pairing code…")
        pairing = await self.service.pair(host=self.host, timeout=self.timeout)
        if not shiboken6.isValid(self):
            pairing.close()
            return
        self.show_code(str(pairing.code), time.time() + self.timeout)
        self.busy("Waiting for a device…")
        try:
            report = await self.service.serve(pairing, transfer.on_progress, transfer.cancel_event)
        finally:
            if shiboken6.isValid(self):
                self.hide_code()
        if shiboken6.isValid(self):
            self._joined(report)

    def show_code(self, code: str, until: float) -> None:
        self.code = code
        self.code_field.setText(code)
        self.code_field.setEnabled(True)
        self.copy_button.setEnabled(True)
        self.qr.show_text(code)
        self.expiry.setText(
            f"It works once, until {time.strftime('%H:%M', time.localtime(until))} "
            f"({fmt.duration(self.timeout)}), and only on a network that reaches this machine."
        )
        self.codeShown.emit(code)

    def hide_code(self) -> None:
        """The code no longer works (used, expired or cancelled): nothing left to copy or scan."""
        self.code_field.clear()
        self.code_field.setPlaceholderText("this code no longer works")
        self.code_field.setEnabled(False)
        self.copy_button.setEnabled(False)
        self.qr.clear_code()
        self.expiry.clear()

    def copy_code(self) -> None:
        QApplication.clipboard().setText(self.code)
        self.detail.setText("Copied.")

    def progress_text(self, event: PairProgress) -> str:
        if event.direction == "sending":
            return f"Sending {event.rows:,} / {event.total:,} rows…"
        return f"Receiving {event.rows:,} / {event.total:,} rows the new device already held…"

    def _joined(self, report: PairReport) -> None:
        self.report = report
        moved = f"sent {report.sent:,} rows" + (f", received {report.received:,}" if report.received else "")
        n = report.conflicts
        conflicts = f"; {n:,} conflict{'s' if n != 1 else ''} to look at" if n else ""
        later = (
            "It is listed under Devices after its first sync with the shared log."
            if self.service.remote is not None
            else "This workspace has no shared log: sync both devices with one to keep them in step."
        )
        self.finished_status(
            f"{report.name or 'The new device'} joined: {moved} in {fmt.duration(report.seconds)}{conflicts}.",
            f"Device id {report.device_id}. {later}",
        )
        self.joined.emit(report)
        self._devices(self.service.devices)
        if not self.is_listed and self.service.remote is not None:
            self.poll.start()

    def show_error(self, error: BaseException) -> None:
        super().show_error(error)
        self.again_button.setVisible(not self._close_when_done)

    def running_changed(self, running: bool) -> None:
        self.cancel_button.setText("Cancel" if running else "Close")

    # -- waiting for the shared log to list the joined device ------------------------------------

    def _look_for_joined(self) -> None:
        if self._looking or self.service.closed or self.is_listed:
            return
        self._looking = True

        async def look() -> None:
            try:
                with contextlib.suppress(SyncEngineError):  # offline: the window shows that state
                    await self.service.check_remote()
            finally:
                self._looking = False

        task = asyncio.ensure_future(look())
        self._look_task = task  # the loop keeps only a weak reference

    def _devices(self, devices: list[DeviceInfo]) -> None:
        if self.report is None or self.is_listed or not shiboken6.isValid(self):
            return
        found = next((d for d in devices if d.device_id == self.report.device_id), None)
        if found is None:
            return
        self.is_listed = True
        self.poll.stop()
        self.detail.setText(f"Device id {found.device_id}. {found.name} is listed under Devices.")
        self.listed.emit(found.device_id)
