"""The client log (unshared, pending, quarantined entries), newest first, loaded page by page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from syncengine import LogRecord

from .. import format as fmt
from .. import resources
from ._paged import Fetch, PagedTableModel

STATE_LABELS = {
    "unshared": "Not sent yet",
    "shared": "Sent",
    "pending": "Received",
    "done": "Applied",
    "quarantined": "Quarantined",
    "skipped": "Skipped",
    "held": "Held",
}
OP_LABELS = {
    "insert": "Insert",
    "update": "Update",
    "delete": "Delete",
    # a row's registers shared again with the versions it has (a new shared log, a repair): not a new write
    "state": "Restated",
    "tombstone": "Restated (deleted)",
}
STATE_ICONS = {"unshared": "outbox", "shared": "outbox", "pending": "pending", "done": "check", "quarantined": "warning", "skipped": "close", "held": "conflicts"}
_RESTATED = QColor(128, 128, 128)
_OP_COLOURS = {
    "insert": QColor(46, 160, 67),
    "update": QColor(47, 111, 222),
    "delete": QColor(214, 69, 65),
    "state": _RESTATED,
    "tombstone": _RESTATED,
}


def row_label(item: LogRecord, labels: dict[tuple[str, tuple[Any, ...]], str]) -> str:
    """Return how a person names the entry's row: its name (from the entry's values, or read from the table), else its key."""
    found = fmt.label_of(item.data) or fmt.label_of(item.old)
    if not found and item.table and item.pk is not None:
        found = labels.get((item.table, tuple(item.pk) if isinstance(item.pk, (list, tuple)) else (item.pk,)), "")
    return found or fmt.key(item.pk)


def _without_key(item: LogRecord) -> Any:
    """The entry's values without its key's columns (the Row column names the row already)."""
    if not isinstance(item.data, dict):
        return item.data
    key = set(map(str, item.pk)) if isinstance(item.pk, (list, tuple)) else {str(item.pk)}
    return {k: v for k, v in item.data.items() if str(v) not in key}


class LogModel(PagedTableModel[LogRecord]):
    """Entries of the client log; ``device_name`` turns device ids into names.

    A row is named by its human column (a product's name) when the entry's values
    or :attr:`labels` (filled by the page's fetch from the table) have one; its key
    is in the tooltip.
    """

    headers = ("#", "State", "Table", "Row", "Operation", "Device", "Written", "Values")
    IdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, fetch: Fetch[LogRecord] | None = None, *, device_name: Callable[[str | None], str] = lambda d: d or "", page_size: int = 200) -> None:
        super().__init__(fetch, page_size=page_size)
        self.device_name = device_name
        self.labels: dict[tuple[str, tuple[Any, ...]], str] = {}

    def cell(self, item: LogRecord, column: int, role: int) -> Any:
        if role == self.IdRole:
            return item.id
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(item.id)
            if column == 1:
                return STATE_LABELS.get(item.state, item.state)
            if column == 2:
                return item.table or fmt.DASH
            if column == 3:
                return row_label(item, self.labels)
            if column == 4:
                return OP_LABELS.get(item.op, item.op or fmt.DASH)
            if column == 5:
                return self.device_name(item.device_id) if item.device_id else "this device"
            if column == 6:
                return fmt.stamp(fmt.version_time(item.version)) if item.version else "not stamped yet"
            if column == 7:
                return item.reason if item.state == "quarantined" else fmt.value(_without_key(item), limit=60)
        if role == Qt.ItemDataRole.ForegroundRole and column == 4:
            return _OP_COLOURS.get(item.op)
        if role == Qt.ItemDataRole.DecorationRole and column == 1 and item.state in STATE_ICONS:
            return resources.icon(STATE_ICONS[item.state])
        if role == Qt.ItemDataRole.ToolTipRole and column == 3:
            return f"Key: {fmt.key(item.pk)}"
        if role == Qt.ItemDataRole.ToolTipRole and column == 7:
            return item.reason or fmt.value(item.data, limit=400)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
