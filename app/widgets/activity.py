"""Activity: past syncs of this device, newest first, with their counts and errors; the engine's log.

The engine keeps the history (``Device.history``: the last thousand syncs, failed
ones included); the table reads it a page at a time as it scrolls. Below it, the
engine's log lines (logger "syncengine") since the window opened, newest first:
an :class:`EngineLogHandler` brings them to the UI thread, the page keeps the
last 5,000, and a level filter shows warnings only, info (the default) or debug.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from syncengine import SyncRecord

from ..models.activity import ActivityModel, report_html
from ..models.engine_log import EngineLogModel, LevelFilter
from ..ops import Ops
from ..services.device import DeviceService
from ..services.engine_log import EngineLogHandler

LOG_LEVELS = (("Info", logging.INFO), ("Warnings", logging.WARNING), ("Debug", logging.DEBUG))
LOG_LINES_KEPT = 5000


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
        self.view.setTabKeyNavigation(False)  # Tab leaves the list (arrows move in it)
        self.view.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((140, 56, 76, 68, 76, 96, 72)):
            self.view.horizontalHeader().resizeSection(column, width)
        self.detail = QTextBrowser()
        self.detail.setObjectName("syncReport")
        self.detail.setPlaceholderText("Select a sync to see its full report.")
        self.top = QSplitter(Qt.Orientation.Horizontal)  # the syncs, and the selected one's report beside them
        self.top.setObjectName("activityTopSplitter")
        self.top.addWidget(self.view)
        self.top.addWidget(self.detail)
        self.top.setStretchFactor(0, 3)
        self.top.setStretchFactor(1, 2)
        self.top.setSizes([700, 420])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("activitySplitter")
        self.splitter.addWidget(self.top)
        self.splitter.addWidget(self._log_panel())
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.addWidget(self.splitter, 1)
        self.view.selectionModel().selectionChanged.connect(self._selected)
        self.model.pageLoaded.connect(self._update_summary)
        self.model.modelReset.connect(self._update_summary)
        self.model.failed.connect(lambda exc: ops.failed.emit("Reading the activity", exc))
        service.activityChanged.connect(self.schedule_reload)

    def _log_panel(self) -> QWidget:
        panel = QWidget()
        box = QVBoxLayout(panel)
        box.setContentsMargins(0, 6, 0, 0)
        box.setSpacing(4)
        head = QHBoxLayout()
        title = QLabel("<b>Engine log</b>")
        self.log_summary = QLabel()
        self.log_summary.setObjectName("muted")
        self.log_level = QComboBox()
        self.log_level.setAccessibleName("Engine log level")
        for label, level in LOG_LEVELS:
            self.log_level.addItem(label, level)
        head.addWidget(title)
        head.addWidget(self.log_summary, 1)
        head.addWidget(QLabel("Show:"))
        head.addWidget(self.log_level)
        box.addLayout(head)
        self.log_model = EngineLogModel(LOG_LINES_KEPT)
        self.log_filter = LevelFilter(logging.INFO)
        self.log_filter.setSourceModel(self.log_model)
        self.log_view = QTableView()
        self.log_view.setObjectName("engineLog")
        self.log_view.setModel(self.log_filter)
        self.log_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.log_view.verticalHeader().hide()
        self.log_view.setShowGrid(False)
        self.log_view.setAlternatingRowColors(True)
        self.log_view.setWordWrap(False)
        self.log_view.setTabKeyNavigation(False)
        self.log_view.horizontalHeader().setStretchLastSection(True)
        self.log_view.horizontalHeader().resizeSection(0, 180)
        self.log_view.horizontalHeader().resizeSection(1, 80)
        box.addWidget(self.log_view, 1)
        self.log_handler = EngineLogHandler(logging.INFO, capacity=LOG_LINES_KEPT)
        self.log_handler.records.connect(self.log_model.append)
        self.log_level.currentIndexChanged.connect(self._log_level_chosen)
        for signal in (self.log_filter.rowsInserted, self.log_filter.rowsRemoved, self.log_filter.modelReset):
            signal.connect(self._update_log_summary)
        self._update_log_summary()
        return panel

    def _log_level_chosen(self, index: int) -> None:
        level = int(self.log_level.itemData(index))
        self.log_handler.setLevel(level)  # capture what is chosen from now on
        self.log_filter.set_min_level(level)  # and hide what is below it

    def _update_log_summary(self, *_: Any) -> None:
        shown, kept = self.log_filter.rowCount(), self.log_model.rowCount()
        if not kept:
            self.log_summary.setText("— nothing logged since the window opened")
        else:
            hidden = kept - shown
            self.log_summary.setText(f"— {shown:,} line{'s' if shown != 1 else ''}" + (f" ({hidden:,} below the level hidden)" if hidden else ""))

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
        self.detail.setHtml(report_html(self.model.row_item(rows[0].row()), self.service.device_name))
