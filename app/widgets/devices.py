"""Devices: every device registered in the shared log; this one marked.

A device registers at its first sync: one that just joined by pairing is not listed
until then. :meth:`DevicesPage.expect` remembers its id, says so, and selects it once
the list holds it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget
from qasync import asyncSlot

from syncengine import DeviceInfo

from .. import format, resources
from ..models.devices import DevicesModel
from ..ops import Ops
from ..services.device import DeviceService


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
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setWordWrap(False)
        for column, width in enumerate((210, 270, 150, 150, 100)):
            self.view.horizontalHeader().resizeSection(column, width)
        layout.addWidget(self.view, 1)
        self.refresh_button.clicked.connect(self.refresh)
        self.add_button.clicked.connect(self.addRequested)
        service.devicesChanged.connect(self.show_devices)

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
