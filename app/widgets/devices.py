"""Devices: every device registered in the shared log, when each was last seen and how far behind it is.

A device registers at its first sync: one that just joined by pairing is not listed
until then. :meth:`DevicesPage.expect` remembers its id, says so, and selects it once
the list holds it. Double-clicking a device (or Enter) opens its details. When the
shared log cannot be read (offline, missing) and nothing is listed, the page says why.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from syncengine import DeviceInfo

from .. import format, resources
from ..dialogs.device_details import DeviceDetailsDialog
from ..models.devices import BEHIND_COLUMN, BehindDelegate, DevicesModel
from ..ops import Ops
from ..services.device import DeviceService
from ..services.remote import Reachability

WHY_EMPTY = {
    Reachability.OFFLINE.value: "No devices to show: the shared log cannot be reached now, and the devices are read from it.",
    Reachability.MISSING.value: "No devices to show: there is no shared log where this workspace says, and the devices are read from it.",
    Reachability.ERROR.value: "No devices to show: the shared log answered with an error.",
    Reachability.NONE.value: "No devices to show: this workspace has no remote (File → Open… to choose one).",
}


class _DevicesTable(QTableView):
    """The table; Enter opens the current device's details, like a double-click."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.doubleClicked.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class DevicesPage(QWidget):
    addRequested = Signal()  # "Add a device…"

    def __init__(self, service: DeviceService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops = service, ops
        self.expected: str | None = None  # a device that joined by pairing, until the list holds it
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        bar = QHBoxLayout()
        self.summary = QLabel("Devices are read from the remote.")
        self.summary.setObjectName("muted")
        self.refresh_button = QPushButton("&Refresh")
        resources.themed(self.refresh_button, "refresh")
        self.add_button = QPushButton("&Add a device…")
        resources.themed(self.add_button, "devices")
        self.add_button.setToolTip("Show a pairing code and send everything to the device that joins with it")
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.add_button)
        bar.addWidget(self.refresh_button)
        layout.addLayout(bar)
        self.model = DevicesModel(service.device_id)
        self.view = _DevicesTable()
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(BEHIND_COLUMN, BehindDelegate(self.view))
        self.details: DeviceDetailsDialog | None = None
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setWordWrap(False)
        self.view.setTabKeyNavigation(False)  # Tab leaves the list (arrows move in it)
        self.view.verticalHeader().setDefaultSectionSize(34)
        for column, width in enumerate((190, 130, 160, 130, 130, 265)):  # the id whole, and room left for Registered
            self.view.horizontalHeader().resizeSection(column, width)
        self.empty = QLabel()
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack = QStackedLayout()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)
        layout.addLayout(self.stack, 1)
        self.refresh_button.clicked.connect(self.refresh)
        self.add_button.clicked.connect(self.addRequested)
        self.view.doubleClicked.connect(self.open_details)
        service.devicesChanged.connect(self.show_devices)
        service.reachabilityChanged.connect(self._why_empty)
        self._why_empty(service.reachability.value, service.reachability_detail)

    def show_devices(self, devices: list[DeviceInfo]) -> None:
        self.model.this_device = self.service.device_id  # it changes when the database takes a new identity
        self.model.set_items(devices)
        behind = sum(1 for d in devices if d.behind)
        waiting = self.expected is not None and all(d.device_id != self.expected for d in devices)
        self.summary.setText(
            ("1 device shares " if len(devices) == 1 else f"{len(devices):,} devices share ")
            + format.location(self.service.workspace.remote)
            + (f"; {behind} behind" if behind else "; all up to date")
            + ("; the device that joined by pairing is listed after its first sync" if waiting else "")
        )
        self._select_expected()
        self._why_empty(self.service.reachability.value, self.service.reachability_detail)

    def _why_empty(self, state: str, detail: str) -> None:
        """Show the table, or, while it is empty, why."""
        if self.model.rowCount():
            self.stack.setCurrentWidget(self.view)
            return
        why = WHY_EMPTY.get(state, "No devices yet: a device is listed after its first sync with the shared log.")
        if state in (Reachability.UNKNOWN.value, Reachability.CHECKING.value):
            why = "Reading the devices from the shared log…"
        self.empty.setText(why + (f"\n\n{detail}" if detail and state != Reachability.NONE.value else ""))
        self.summary.setText(why)
        self.stack.setCurrentWidget(self.empty)

    def open_details(self, index: QModelIndex) -> DeviceDetailsDialog:
        """Show the details of the device in ``index``'s row (one dialog at a time, not modal)."""
        info = self.model.row_item(index.row())
        if self.details is not None:
            self.details.reject()
        dialog = DeviceDetailsDialog(
            info, this_device=info.device_id == self.service.device_id, status=self.service.status, parent=self
        )
        dialog.finished.connect(lambda _result, d=dialog: self._details_closed(d))
        self.details = dialog
        dialog.show()
        return dialog

    def _details_closed(self, dialog: DeviceDetailsDialog) -> None:
        if self.details is dialog:
            self.details = None
        dialog.deleteLater()

    def expect(self, device_id: str) -> None:
        """Select ``device_id`` once the shared log lists it (a device that just joined by pairing)."""
        self.expected = device_id
        self.show_devices(self.model.items())

    def _select_expected(self) -> None:
        rows = [i for i, d in enumerate(self.model.items()) if d.device_id == self.expected]
        if rows:
            self.expected = None
            self.view.selectRow(rows[0])
            self.view.scrollTo(self.model.index(rows[0], 0))

    @asyncSlot()
    async def refresh(self) -> None:
        await self.ops.run("Reading devices", self.service.check_remote, [self.refresh_button])
