"""Past syncs of the open device, newest first."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from .. import format as fmt
from ._paged import ListTableModel

REASONS = {"forced": "Sync now", "interval": "Automatic", "changes": "After local changes", "automatic": "Automatic"}


def result_text(item: dict[str, Any]) -> str:
    """Return a one-line summary of a sync's outcome."""
    if not item.get("ok", True):
        return "Failed: " + str(item.get("error") or "unknown error")
    if item.get("cancelled"):
        return "Cancelled"
    if item.get("stopped_early"):
        return "Stopped early"
    return "OK"


class ActivityModel(ListTableModel[dict[str, Any]]):
    """One row a sync: when, why, counts and the result."""

    headers = ("When", "Trigger", "Sent", "Received", "Applied", "Conflicts", "Quarantined", "Duration", "Result")
    _COUNTS: ClassVar[dict[int, str]] = {2: "sent", 3: "received", 4: "applied", 5: "conflicts", 6: "quarantined"}

    def cell(self, item: dict[str, Any], column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return fmt.stamp(item.get("at"))
            if column == 1:
                return REASONS.get(str(item.get("reason")), str(item.get("reason") or ""))
            if column in self._COUNTS:
                n = item.get(self._COUNTS[column])
                return fmt.DASH if n is None else f"{int(n):,}"
            if column == 7:
                seconds = item.get("seconds")
                return fmt.DASH if seconds is None else f"{float(seconds):.2f} s"
            if column == 8:
                return result_text(item)
        if role == Qt.ItemDataRole.ForegroundRole and column == 8 and not item.get("ok", True):
            return QColor(214, 69, 65)
        if role == Qt.ItemDataRole.ToolTipRole and column == 8:
            return item.get("error") or None
        if role == Qt.ItemDataRole.TextAlignmentRole and 2 <= column <= 7:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
