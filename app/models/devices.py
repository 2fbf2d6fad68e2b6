"""The devices registered in the shared log."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from syncengine import DeviceInfo

from .. import format as fmt
from ._paged import ListTableModel


class DevicesModel(ListTableModel[DeviceInfo]):
    """One row a device; the one this window has open is marked and bold."""

    headers = ("Device", "Id", "Last push", "Last pull", "Behind", "Registered")

    def __init__(self, this_device: str = "") -> None:
        super().__init__()
        self.this_device = this_device

    def cell(self, item: DeviceInfo, column: int, role: int) -> Any:
        mine = item.device_id == self.this_device
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return f"{item.name}  (this device)" if mine else item.name
            if column == 1:
                return item.device_id
            if column == 2:
                return fmt.when(item.last_push_at) if item.last_push_at else "never"
            if column == 3:
                return fmt.when(item.last_pull_at) if item.last_pull_at else "never"
            if column == 4:
                if item.behind is None:
                    return fmt.DASH
                return "up to date" if item.behind == 0 else f"{item.behind:,} entr{'y' if item.behind == 1 else 'ies'}"
            if column == 5:
                return fmt.stamp(item.created_at)
        if role == Qt.ItemDataRole.FontRole and mine:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and column in (2, 3):
            return fmt.stamp(item.last_push_at if column == 2 else item.last_pull_at)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
