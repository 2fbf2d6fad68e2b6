"""The devices registered in the shared log: when each was last seen and how far behind it is."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from syncengine import DeviceInfo

from .. import format as fmt
from ._paged import ListTableModel

BEHIND_COLUMN = 2
BehindRole = Qt.ItemDataRole.UserRole + 2  # (entries behind or None, the most any device is behind)


def last_seen(item: DeviceInfo) -> float | None:
    """When the shared log last heard from the device (its last push or pull)."""
    times = [t for t in (item.last_push_at, item.last_pull_at) if t is not None]
    return max(times) if times else None


def behind_text(behind: int | None) -> str:
    if behind is None:
        return fmt.DASH
    return "up to date" if behind == 0 else f"{fmt.plural(behind, 'entry')} behind"


class DevicesModel(ListTableModel[DeviceInfo]):
    """One row a device; the one this window has open is marked and bold."""

    headers = ("Device", "Last seen", "Behind", "Last push", "Last pull", "Id", "Registered")

    def __init__(self, this_device: str = "") -> None:
        super().__init__()
        self.this_device = this_device

    def most_behind(self) -> int:
        return max((d.behind or 0 for d in self._rows), default=0)

    def cell(self, item: DeviceInfo, column: int, role: int) -> Any:
        mine = item.device_id == self.this_device
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(item, column, mine)
        if role == BehindRole and column == BEHIND_COLUMN:
            return (item.behind, self.most_behind())
        if role == Qt.ItemDataRole.FontRole and mine:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (1, 3, 4):
                return fmt.stamp({1: last_seen(item), 3: item.last_push_at, 4: item.last_pull_at}[column])
            if column == 0:
                return "Double-click for this device's details"
            if column in (5, 6):  # whole, where the column is too narrow for it
                return self._text(item, column, mine)
        return None

    def _text(self, item: DeviceInfo, column: int, mine: bool) -> str:
        if column == 0:
            return f"{item.name}  (this device)" if mine else item.name
        if column == 1:
            seen = last_seen(item)
            return fmt.when(seen) if seen else "never"
        if column == BEHIND_COLUMN:
            return behind_text(item.behind)
        if column == 3:
            return fmt.when(item.last_push_at) if item.last_push_at else "never"
        if column == 4:
            return fmt.when(item.last_pull_at) if item.last_pull_at else "never"
        if column == 5:
            return item.device_id
        return fmt.stamp(item.created_at)


class BehindDelegate(QStyledItemDelegate):
    """Draws how far behind a device is as a bar (full: the device furthest behind) under its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        whole = QStyleOptionViewItem(option)
        self.initStyleOption(whole, index)
        whole.text = ""
        style = whole.widget.style() if whole.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, whole, painter, whole.widget)  # the cell's background
        text = QStyleOptionViewItem(option)
        text.rect = option.rect.adjusted(0, 1, 0, -8)  # the text above, the bar below
        super().paint(painter, text, index)
        data = index.data(BehindRole)
        if not data:
            return
        behind, most = data
        if behind is None:
            return
        rect: QRect = option.rect.adjusted(6, option.rect.height() - 9, -6, -5)
        palette: QPalette = option.palette
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QColor(palette.color(QPalette.ColorRole.Mid))
        track.setAlpha(90)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, 2, 2)
        if behind and most:
            filled = QRect(rect)
            filled.setWidth(max(3, int(rect.width() * behind / most)))
            painter.setBrush(QColor(230, 140, 30))
            painter.drawRoundedRect(filled, 2, 2)
        elif behind == 0:
            painter.setBrush(QColor(46, 160, 67))
            painter.drawRoundedRect(rect, 2, 2)
        painter.restore()

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.state &= ~QStyle.StateFlag.State_HasFocus
