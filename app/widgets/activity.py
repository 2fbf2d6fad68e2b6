"""Activity: past syncs of this device, newest first, with their counts and errors.

The engine keeps the history (``Device.history``: the last thousand syncs, failed
ones included); the table reads it a page at a time as it scrolls.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QAbstractItemView, QLabel, QPlainTextEdit, QSplitter, QTableView, QVBoxLayout, QWidget

from syncengine import SyncRecord

from .. import format as fmt
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
        for column in range(1, 7):
            self.view.horizontalHeader().resizeSection(column, 100)
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
        self.model.pageLoaded.connect(self._update_summary)
        self.model.modelReset.connect(self._update_summary)
        self.model.failed.connect(lambda exc: ops.failed.emit("Reading the activity", exc))
        service.activityChanged.connect(self.schedule_reload)

    def schedule_reload(self) -> None:
        self.ops.start("Reading the activity", self.reload)

    async def reload(self) -> None:
        """Read the history again from the newest sync; returns when the first page is in."""

        async def fetch(offset: int, _last: SyncRecord | None, limit: int) -> list[SyncRecord]:
            return await self.service.history(limit=limit, offset=offset)

        self.model.set_source(fetch)
        self.detail.clear()
        await self.model.load_more()

    def _update_summary(self, *_: Any) -> None:
        items = self.model.items()
        failed = sum(1 for r in items if r.error is not None)
        more = "" if self.model.exhausted else "+"
        self.summary.setText(
            f"{len(items)}{more} sync{'s' if len(items) != 1 else ''} recorded" + (f", {failed} failed" if failed else "")
        )

    def _selected(self, *_: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        if not rows:
            self.detail.clear()
            return
        record = self.model.row_item(rows[0].row())
        head = [f"Started   {fmt.stamp(record.started_at)}", f"Finished  {fmt.stamp(record.finished_at)}"]
        if record.error is not None:
            head.append(f"Error     {record.error}")
        self.detail.setPlainText("\n".join(head) + "\n\n" + json.dumps(record.report, indent=2, default=str))
