"""Pending changes: entries not sent yet, received and not applied, and quarantined ones.

The table reads the client log a page at a time, newest first, paging by key
(``Device.log(limit=, before_id=)`` with the last id shown), so a log of a million
entries opens as fast as one of ten and the thousandth page costs what the first
did. The state, table, operation and device filters all go to the engine, so
every page it returns is a full page of matching entries.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from syncengine import LogRecord

from .. import format as fmt
from .. import resources
from ..models.log import OP_LABELS, STATE_LABELS, LogModel, row_label
from ..ops import Ops
from ..services.device import DeviceService

RESTATED = ("state", "tombstone")
RESTATED_NOTE = "A row shared again with the versions it already has (by a repair, or for a new shared log): not a new write."
KINDS = [("unshared", "Not sent yet"), ("pending", "Received, not applied"), ("quarantined", "Quarantined"), ("all", "Everything kept")]


class PendingPage(QWidget):
    """Filters on top, the entries on the left, the selected entry's values on the right."""

    def __init__(self, service: DeviceService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops = service, ops
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 12, 12, 12)
        bar = QHBoxLayout()
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.table = QComboBox()
        self.table.addItem("All tables", None)
        for name in service.device.tables:
            self.table.addItem(name, name)
        self.op = QComboBox()
        self.op.addItem("Any operation", None)
        for key, label in OP_LABELS.items():
            self.op.addItem(label, key)
        self.device = QComboBox()
        self.device.addItem("Any device", None)
        self.device.addItem("This device", service.device_id)
        self.refresh_button = QPushButton("Refresh")
        resources.themed(self.refresh_button, "refresh")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        for label, widget in (("&Show", self.kind), ("&Table", self.table), ("&Operation", self.op), ("De&vice", self.device)):
            caption = QLabel(label)
            caption.setBuddy(widget)
            bar.addWidget(caption)
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.summary)
        bar.addWidget(self.refresh_button)
        outer.addLayout(bar)

        self.model = LogModel(device_name=service.device_name, page_size=500)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setTabKeyNavigation(False)  # Tab leaves the list (arrows move in it)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in enumerate((48, 120, 76, 130, 82, 92, 120)):
            header.resizeSection(column, width)

        self.detail = QWidget()
        detail_layout = QVBoxLayout(self.detail)
        detail_layout.setContentsMargins(8, 0, 0, 0)
        self.detail_title = QLabel("Select an entry to see its values")
        self.detail_title.setObjectName("heading")
        self.detail_title.setWordWrap(True)
        self.detail_form = QFormLayout()
        self.detail_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values = QTableWidget(0, 3)
        self.values.setHorizontalHeaderLabels(["Column", "Before", "After"])
        self.values.verticalHeader().hide()
        self.values.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.values.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.values.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)  # room for the values
        self.values.setWordWrap(False)
        self.values.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a key keeps its start and end; hover shows it whole
        self.values.setAlternatingRowColors(True)
        self.values.setTabKeyNavigation(False)
        quarantine_bar = QHBoxLayout()
        self.retry_button = QPushButton("&Retry")
        self.retry_button.setToolTip("Apply this quarantined entry again (after a schema change, say)")
        self.skip_button = QPushButton("S&kip")
        self.skip_button.setToolTip("Give up on this entry; it stays in the log as skipped")
        quarantine_bar.addStretch(1)
        quarantine_bar.addWidget(self.retry_button)
        quarantine_bar.addWidget(self.skip_button)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addLayout(self.detail_form)
        detail_layout.addWidget(self.values, 1)
        detail_layout.addLayout(quarantine_bar)
        self._show_quarantine_actions(False)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("pendingSplitter")
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([780, 380])  # the list whole (its Values column too); the values beside it
        outer.addWidget(self.splitter, 1)

        for combo in (self.kind, self.table, self.op, self.device):
            combo.currentIndexChanged.connect(self.reload)
        self.refresh_button.clicked.connect(self.reload)
        self.view.selectionModel().selectionChanged.connect(self._selected)
        self.model.pageLoaded.connect(self._update_summary)
        self.model.modelReset.connect(self._update_summary)
        self.model.failed.connect(lambda exc: ops.failed.emit("Reading the log", exc))
        self.retry_button.clicked.connect(self.retry)
        self.skip_button.clicked.connect(self.skip)
        service.logChanged.connect(self.reload)
        service.devicesChanged.connect(self._devices)
        service.identityChanged.connect(lambda new: self.device.setItemData(1, new))  # "This device"

    # -- loading -------------------------------------------------------------------------

    def reload(self) -> None:
        """Start again from the newest entry with the current filters."""
        kind = self.kind.currentData()
        table = self.table.currentData()
        op = self.op.currentData()
        device = self.device.currentData()

        async def fetch(_offset: int, last: LogRecord | None, limit: int) -> list[LogRecord]:
            before = None if last is None else last.id
            found = await self.service.log_page(kind, limit=limit, before_id=before, table=table, op=op, device_id=device)
            await self._read_labels(found)
            return found

        self.model.set_source(fetch)
        self._show_detail(None)
        self.model.fetchMore()

    async def _read_labels(self, records: list[LogRecord]) -> None:
        """Read the names of rows whose entries carry none (a partial update, a delete) from their tables."""
        unnamed = [
            (r.table, tuple(r.pk))
            for r in records
            if r.table and isinstance(r.pk, (list, tuple)) and not (fmt.label_of(r.data) or fmt.label_of(r.old))
        ]
        if unnamed:
            self.model.labels.update(await self.service.row_labels(unnamed))

    def _update_summary(self, *_: Any) -> None:
        n = self.model.rowCount()
        more = "" if self.model.exhausted else " — more load as you scroll"
        self.summary.setText(f"{n:,} shown{more}")

    def _devices(self, devices: list[Any]) -> None:
        current = self.device.currentData()
        self.device.blockSignals(True)
        while self.device.count() > 2:
            self.device.removeItem(2)
        for info in devices:
            if info.device_id != self.service.device_id:
                self.device.addItem(info.name, info.device_id)
        index = self.device.findData(current)
        self.device.setCurrentIndex(max(0, index))
        self.device.blockSignals(False)

    # -- the detail pane ---------------------------------------------------------------------

    def _selected(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        self._show_detail(self.model.row_item(rows[0].row()) if rows else None)

    def selected_record(self) -> LogRecord | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.row_item(rows[0].row()) if rows else None

    def _show_detail(self, record: LogRecord | None) -> None:
        while self.detail_form.rowCount():
            self.detail_form.removeRow(0)
        self.values.setRowCount(0)
        if record is None:
            self.detail_title.setText("Select an entry to see its values")
            self._show_quarantine_actions(False)
            return
        op = OP_LABELS.get(record.op, record.op)
        self.detail_title.setText(f"{op} of {record.table or '?'} {row_label(record, self.model.labels)}")
        rows = [
            ("Entry", f"#{record.id}"),
            ("Key", fmt.key(record.pk)),
            ("State", STATE_LABELS.get(record.state, record.state)),
            ("Device", self.service.device_name(record.device_id) if record.device_id else "this device"),
            ("Written", fmt.stamp(fmt.version_time(record.version)) if record.version else "not stamped yet"),
        ]
        if record.reason:
            rows.append(("Reason", record.reason))
        if record.op in RESTATED:
            rows.append(("Note", RESTATED_NOTE))
        for label, text in rows:
            value = QLabel(text)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.detail_form.addRow(label, value)
        new = record.data if isinstance(record.data, dict) else {}
        old = record.old if isinstance(record.old, dict) else {}
        if record.op == "tombstone":  # the values a deleted row last held: before, and deleted after
            new, old = {}, new
        columns = list(dict.fromkeys([*new.keys(), *old.keys()]))
        self.values.setRowCount(len(columns))
        for i, column in enumerate(columns):
            before = fmt.value(old.get(column)) if column in old else ("" if record.op in ("insert", "state") else "?")
            after = fmt.value(new.get(column)) if column in new else ("deleted" if record.op in ("delete", "tombstone") else "unchanged")
            for j, text in enumerate((column, before, after)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if j == 2 and column in old and column in new and old.get(column) != new.get(column):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.values.setItem(i, j, item)
        self._show_quarantine_actions(record.state == "quarantined")

    def _show_quarantine_actions(self, on: bool) -> None:
        self.retry_button.setVisible(on)
        self.skip_button.setVisible(on)

    @asyncSlot()
    async def retry(self) -> None:
        record = self.selected_record()
        if record is not None:
            await self.ops.run(
                "Retrying a quarantined entry",
                lambda: self.service.retry_quarantined([record.id]),
                [self.retry_button, self.skip_button],
            )

    @asyncSlot()
    async def skip(self) -> None:
        record = self.selected_record()
        if record is not None:
            await self.ops.run(
                "Skipping a quarantined entry",
                lambda: self.service.skip_quarantined([record.id]),
                [self.retry_button, self.skip_button],
            )
