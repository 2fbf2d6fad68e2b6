"""Past syncs of the open device, newest first, read page by page from the engine's history."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from syncengine import SyncRecord

from .. import format as fmt
from ._paged import Fetch, PagedTableModel


def result_text(record: SyncRecord) -> str:
    """Return a one-line summary of a sync's outcome."""
    if record.error is not None:
        return "Failed: " + record.error
    if record.report.get("cancelled"):
        return "Cancelled"
    if record.report.get("stopped_early"):
        return "Stopped early"
    return "OK"


class ActivityModel(PagedTableModel[SyncRecord]):
    """One row a sync (``Device.history``): when, counts, duration and the result."""

    headers = ("When", "Sent", "Received", "Applied", "Conflicts", "Quarantined", "Duration", "Result")
    _COUNTS: ClassVar[dict[int, str]] = {1: "sent", 2: "received", 3: "applied", 4: "conflicts", 5: "quarantined"}

    def __init__(self, fetch: Fetch[SyncRecord] | None = None, *, page_size: int = 100) -> None:
        super().__init__(fetch, page_size=page_size)

    def cell(self, item: SyncRecord, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return fmt.stamp(item.started_at)
            if column in self._COUNTS:
                n = item.report.get(self._COUNTS[column])
                return fmt.DASH if n is None else f"{int(n):,}"
            if column == 6:
                return f"{max(0.0, item.finished_at - item.started_at):.2f} s"
            if column == 7:
                return result_text(item)
        if role == Qt.ItemDataRole.ForegroundRole and column == 7 and item.error is not None:
            return QColor(214, 69, 65)
        if role == Qt.ItemDataRole.ToolTipRole and column == 7:
            return item.error
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= column <= 6:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
