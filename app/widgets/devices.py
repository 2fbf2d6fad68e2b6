"""Devices: every device registered in the shared log; this one marked."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget
from qasync import asyncSlot

from syncengine import DeviceInfo

from .. import format, resources
from ..models.devices import DevicesModel
from ..ops import Ops
from ..services.device import DeviceService


class DevicesPage(QWidget):
    def __init__(self, service: DeviceService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops = service, ops
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        bar = QHBoxLayout()
        self.summary = QLabel("Devices are read from the remote.")
        self.summary.setObjectName("muted")
        self.refresh_button = QPushButton("&Refresh")
        resources.themed(self.refresh_button, "refresh")
        bar.addWidget(self.summary, 1)
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
        service.devicesChanged.connect(self.show_devices)

    def show_devices(self, devices: list[DeviceInfo]) -> None:
        self.model.this_device = self.service.device_id  # it changes when the database takes a new identity
        self.model.set_items(devices)
        behind = sum(1 for d in devices if d.behind)
        self.summary.setText(
            f"{len(devices)} device{'s' if len(devices) != 1 else ''} share {format.location(self.service.workspace.remote)}"
            + (f"; {behind} behind" if behind else "; all up to date")
        )

    @asyncSlot()
    async def refresh(self) -> None:
        await self.ops.run("Reading devices", self.service.check_remote, [self.refresh_button])
