"""Activity: past syncs of this device, newest first, with their counts and errors."""

from __future__ import annotations

import json

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QLabel, QPlainTextEdit, QSplitter, QTableView, QVBoxLayout, QWidget

from .. import config
from ..models.activity import ActivityModel
from ..ops import Ops
from ..services.device import DeviceService


class ActivityPage(QWidget):
    def __init__(self, service: DeviceService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops = service, ops
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        layout.addWidget(self.summary)
        self.model = ActivityModel()
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.horizontalHeader().resizeSection(0, 150)
        self.view.horizontalHeader().resizeSection(1, 130)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.detail.setPlaceholderText("Select a sync to see its full report.")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("activitySplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)
        self.view.selectionModel().selectionChanged.connect(self._selected)
        service.activityChanged.connect(self.schedule_reload)

    def schedule_reload(self) -> None:
        self.ops.start("Reading the activity", self.reload)

    async def reload(self) -> None:
        items = await self.service.run(config.activity, self.service.device_id)
        self.model.set_items(items)
        failed = sum(1 for i in items if not i.get("ok", True))
        self.summary.setText(f"{len(items)} sync{'s' if len(items) != 1 else ''} recorded" + (f", {failed} failed" if failed else ""))

    def _selected(self, *_: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            self.detail.clear()
            return
        self.detail.setPlainText(json.dumps(self.model.row_item(rows[0].row()), indent=2, default=str))
