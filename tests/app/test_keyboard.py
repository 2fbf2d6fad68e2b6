"""No table keeps the keyboard: in every view, Tab leaves each list for the next control, and Shift+Tab comes back.

A ``QTableView`` moves along its cells on Tab by default, so a person using the
keyboard could never get past it (the README says everything can be done from the
keyboard). Each test opens the demo's shop-north in a real window, puts the cursor
in a table with a row selected, presses Tab, and checks where the focus went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QApplication, QWidget

from app.demo import build_demo
from app.window import MainWindow

from .helpers import close_window, open_window


def _tables(window: MainWindow) -> dict[str, Callable[[], list[QAbstractItemView]]]:
    return {
        "pending": lambda: [window.pending.view, window.pending.values],
        "devices": lambda: [window.devices.view],
        "activity": lambda: [window.activity.view, window.activity.log_view],
        "history": lambda: [window.conflicts.history_view],
        "conflicts": lambda: [window.conflicts.view],
    }


def _show(qtbot, window: MainWindow, view: str) -> None:
    window.show_view("conflicts" if view == "history" else view)
    if view == "history":
        window.conflicts.tabs.setCurrentIndex(1)
    if view == "activity":  # a line in the engine's log, so that its table has a row to move along
        logging.getLogger("syncengine").warning("a line for the keyboard test")
    if view == "pending":  # an entry selected: its values fill the table on the right
        table = window.pending.view
        qtbot.waitUntil(lambda: table.model().rowCount() > 0, timeout=10000)
        table.selectRow(0)
        qtbot.waitUntil(lambda: window.pending.values.rowCount() > 0, timeout=10000)


@pytest.mark.parametrize("view", ["pending", "devices", "activity", "history", "conflicts"])
def test_tab_leaves_every_table_and_shift_tab_comes_back(qtbot, run, tmp_path, view: str) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    _show(qtbot, window, view)
    for table in _tables(window)[view]():
        qtbot.waitUntil(lambda t=table: t.isVisible() and t.model().rowCount() > 0, timeout=10000)
        assert not table.tabKeyNavigation()
        table.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(table.hasFocus, timeout=5000)
        table.setCurrentIndex(table.model().index(0, 0))
        qtbot.keyClick(table, Qt.Key.Key_Tab)
        qtbot.waitUntil(lambda t=table: QApplication.focusWidget() is not t, timeout=5000)
        landed = QApplication.focusWidget()
        assert isinstance(landed, QWidget) and landed.isVisible() and landed.window() is window, landed
        assert table.currentIndex().column() == 0  # Tab did not move along the row
        qtbot.keyClick(landed, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
        qtbot.waitUntil(lambda t=table: QApplication.focusWidget() is t, timeout=5000)
    close_window(qtbot, window)
