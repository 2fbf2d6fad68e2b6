"""The engine's log lines (Python ``logging``, logger "syncengine"), newest first, the last few thousand kept.

The rows live in memory only: oldest first in a list, shown reversed, so a new
line is an insert at row 0 and dropping the oldest is a removal at the bottom.
:class:`LevelFilter` hides the lines below a level without forgetting them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from ._paged import _INVALID, Index, RowsTableModel

LEVEL_LABELS = {
    logging.DEBUG: "Debug",
    logging.INFO: "Info",
    logging.WARNING: "Warning",
    logging.ERROR: "Error",
    logging.CRITICAL: "Critical",
}
_WARNING_COLOUR = QColor(196, 110, 0)
_ERROR_COLOUR = QColor(214, 69, 65)
_DEBUG_COLOUR = QColor(128, 128, 128)


@dataclass(frozen=True, slots=True)
class EngineLogEntry:
    """One log record, reduced to what the table shows."""

    created: float  # Unix time
    level: int  # logging.INFO, …
    message: str


def level_label(level: int) -> str:
    return LEVEL_LABELS.get(level, logging.getLevelName(level).title())


def clock(ts: float) -> str:
    """Return a local time with milliseconds: ``2024-05-01 14:02:03.123``."""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class EngineLogModel(RowsTableModel[EngineLogEntry]):
    """Log lines, newest first, at most ``capacity`` of them (the oldest go first)."""

    headers = ("Time", "Level", "Message")
    LevelRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, capacity: int = 5000) -> None:
        super().__init__()
        self.capacity = capacity  # self._rows is oldest first: row 0 shows the last one

    def append(self, entries: Iterable[EngineLogEntry]) -> None:
        """Add lines (oldest first, as they were logged) at the top; drop the oldest beyond the capacity."""
        new = list(entries)[-self.capacity :] if self.capacity > 0 else []
        if not new:
            return
        overflow = len(self._rows) + len(new) - self.capacity
        if overflow > 0:
            n = len(self._rows)
            self.beginRemoveRows(_INVALID, n - overflow, n - 1)  # the oldest are the bottom rows
            del self._rows[:overflow]
            self.endRemoveRows()
        self.beginInsertRows(_INVALID, 0, len(new) - 1)  # the last row is inclusive
        self._rows.extend(new)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.endResetModel()

    def row_item(self, row: int) -> EngineLogEntry:
        """Return the line shown at ``row`` (0 is the newest)."""
        return self._rows[len(self._rows) - 1 - row]

    def items(self) -> list[EngineLogEntry]:
        """Return the lines as shown: newest first."""
        return self._rows[::-1]

    entry = row_item
    entries = items

    # -- the table ------------------------------------------------------------------

    def cell(self, item: EngineLogEntry, column: int, role: int) -> Any:
        if role == self.LevelRole:
            return item.level
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return clock(item.created)
            if column == 1:
                return level_label(item.level)
            return item.message.split("\n", 1)[0]
        if role == Qt.ItemDataRole.ToolTipRole and column == 2:
            return item.message
        if role == Qt.ItemDataRole.ForegroundRole and column in (1, 2):
            if item.level >= logging.ERROR:
                return _ERROR_COLOUR
            if item.level >= logging.WARNING:
                return _WARNING_COLOUR
            if item.level < logging.INFO:
                return _DEBUG_COLOUR
        return None


class LevelFilter(QSortFilterProxyModel):
    """Shows the lines at ``min_level`` or above (the rest stay in the source model)."""

    def __init__(self, min_level: int = logging.INFO) -> None:
        super().__init__()
        self._min_level = min_level

    @property
    def min_level(self) -> int:
        return self._min_level

    def set_min_level(self, level: int) -> None:
        if level != self._min_level:
            if hasattr(self, "endFilterChange"):  # Qt 6.10 and later
                self.beginFilterChange()
                self._min_level = level
                self.endFilterChange()
            else:
                self._min_level = level
                self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        source = self.sourceModel()
        level = source.data(source.index(source_row, 0, source_parent), EngineLogModel.LevelRole)
        return level is None or int(level) >= self._min_level
