"""The conflict detail, driven as a person would: custom prices, the smallest window, the keyboard, constraints.

Each test opens the demo's shop-north (real SQLite databases) in a real window,
acts through the widgets (keyboard included) and checks what the person sees and
what the database holds afterwards.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit, QWidget

from app.demo import build_demo, products
from app.widgets.elided import ElidedLabel
from app.window import MainWindow
from syncengine import Device

from .helpers import close_window, open_window

LONG_NAME = "Mug (set of 4), stoneware, hand-glazed in the north, dishwasher safe, " * 2


def _demo(qtbot, run, tmp_path: Path, *, before=None) -> MainWindow:
    workspace = build_demo(tmp_path / "demo")
    if before is not None:
        before(workspace.db)
    window = open_window(qtbot, run, workspace)
    window.show_view("conflicts")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    return window


def _row(db: str, **where: object) -> dict[str, Any] | None:
    device = Device.open(db)
    try:
        with device.engine.connect() as conn:
            query = sa.select(products)
            for column, value in where.items():
                query = query.where(products.c[column] == value)
            found = conn.execute(query).mappings().first()
            return dict(found) if found else None
    finally:
        device.close()


def _select(qtbot, window: MainWindow, label: str) -> None:
    page = window.conflicts
    row = next(i for i, g in enumerate(page.model.items()) if g.label.startswith(label))
    page.view.selectRow(row)
    qtbot.waitUntil(lambda: page.panel.title.text().startswith(label) and bool(page.panel.choices), timeout=5000)


def _decide(qtbot, window: MainWindow, act) -> None:
    page = window.conflicts
    before = page.model.open_count
    with qtbot.waitSignal(page.countChanged, timeout=10000, check_params_cb=lambda n: n < before):
        act()
    qtbot.waitUntil(lambda: not page._reloading, timeout=10000)


def _type_into(qtbot, editor: QWidget, text: str) -> None:
    assert isinstance(editor, QLineEdit) and editor.isEnabled()
    editor.selectAll()
    qtbot.keyClicks(editor, text)


def _custom(choice) -> None:
    choice.combo.setCurrentIndex(choice.combo.findData("custom"))


# -- 1. a custom price --------------------------------------------------------------


def test_a_custom_price_is_saved_for_a_field_and_for_a_whole_row(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    _select(qtbot, window, "Kettle")  # edit/edit on the price, a Numeric(10, 2)
    [choice] = page.panel.choices
    _custom(choice)
    _type_into(qtbot, choice.editors[""].widget, "23.00")
    _decide(qtbot, window, lambda: qtbot.keyClick(choice.editors[""].widget, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier))
    assert _row(db, sku="K-100")["price"] == Decimal("23.00")
    assert not window.banner.isVisible()

    _select(qtbot, window, "Cafetière")  # create/create: one decision for the row
    [choice] = page.panel.choices
    _custom(choice)
    _type_into(qtbot, choice.editors["price"].widget, "21.75")
    _decide(qtbot, window, lambda: qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton))
    row = _row(db, sku="C-600")
    assert (row["price"], row["name"]) == (Decimal("21.75"), "Cafetiere 1l")  # the other columns as shown
    decided = page.history.row_item(0)
    assert (decided.decision, decided.decided_value["price"]) == ("custom", Decimal("21.75"))
    close_window(qtbot, window)


def test_what_was_typed_stays_when_the_database_refuses_it(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    _select(qtbot, window, "Glass jug")
    [choice] = page.panel.choices
    _type_into(qtbot, choice.editors["name"].widget, "Glass jug XL")  # but the SKU still clashes
    _type_into(qtbot, choice.editors["price"].widget, "17.25")
    with qtbot.waitSignal(window.service.conflictsChanged, timeout=10000):
        qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.banner.isVisible() and not page._reloading, timeout=10000)
    message = window.banner.text.text()
    assert "UNIQUE" in message and message.count("refused") <= 1 and message.count("UNIQUE") == 1
    [choice] = page.panel.choices  # shown again, as the person left it
    assert choice.take == "custom"
    assert choice.editors["name"].widget.text() == "Glass jug XL"
    assert choice.editors["price"].widget.text() == "17.25"
    assert page.model.open_count == 5
    assert _row(db, sku="G-700")["name"] == "Glass carafe" and _row(db, name="Glass jug XL") is None
    close_window(qtbot, window)


def test_the_undo_line_names_a_constraint_conflicts_row_as_the_list_does(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page = window.conflicts
    _select(qtbot, window, "Glass jug")  # a row this device lacks: named from the received change
    [choice] = page.panel.choices
    _type_into(qtbot, choice.editors["sku"].widget, "G-701-b")
    with qtbot.waitSignal(window.service.conflictsChanged, timeout=10000):
        qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.undo_bar.isVisible, timeout=10000)
    assert page.undo_bar.text.text().startswith("Decided Glass jug (whole row).")  # not by its key
    close_window(qtbot, window)


# -- 4. whole-row conflicts at the smallest window -------------------------------------


def _long_mug_name(db: str) -> None:
    with sqlite3.connect(db) as conn:  # a local edit, as another program would make it
        conn.execute("UPDATE products SET name = ? WHERE sku = 'M-300'", (LONG_NAME,))


def _inside(widget: QWidget, area: QWidget) -> bool:
    top_left = widget.mapTo(area, QPoint(0, 0))
    return top_left.x() >= 0 and top_left.x() + widget.width() <= area.width()


def test_whole_row_conflicts_fit_the_smallest_window(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path, before=_long_mug_name)
    page = window.conflicts
    window.resize(window.minimumSize())
    qtbot.waitUntil(lambda: window.size() == window.minimumSize(), timeout=5000)
    for label in ("Mug", "Cafetière", "Glass jug", "Kettle"):
        _select(qtbot, window, label)
        panel = page.panel
        cells = [panel.grid.itemAt(i).widget() for i in range(panel.grid.count())]
        qtbot.waitUntil(lambda p=panel, cs=cells: all(_inside(c, p.scroller.viewport()) for c in cs), timeout=5000)  # laid out
        assert not panel.scroller.horizontalScrollBar().isVisible()
        heights = {c.height() for c in cells if isinstance(c, ElidedLabel)}
        assert max(heights) < 2 * min(heights), label  # no row stretches (the id row did)
        words = [c for c in cells if isinstance(c, QLabel) and not isinstance(c, ElidedLabel)]
        assert all(c.width() >= c.sizeHint().width() for c in words), label  # "keep the row" was cut
    # the list shows each of its columns whole or elided, never past its edge
    assert not page.view.horizontalScrollBar().isVisible()
    header = page.view.horizontalHeader()
    last = max(range(4), key=lambda c: -1 if page.view.isColumnHidden(c) else header.sectionViewportPosition(c))
    assert header.sectionViewportPosition(last) + header.sectionSize(last) <= page.view.viewport().width()
    # a long value is elided, and its whole text is on hover
    _select(qtbot, window, "Mug")
    name = next(
        page.panel.grid.itemAtPosition(r, 2).widget()
        for r in range(page.panel.grid.rowCount())
        if page.panel.grid.itemAtPosition(r, 0) and page.panel.grid.itemAtPosition(r, 0).widget().text().strip() == "name"
    )
    assert name.is_elided() and name.text() == LONG_NAME and name.toolTip() == LONG_NAME
    close_window(qtbot, window)


# -- 5. the keyboard ----------------------------------------------------------------------


def test_tab_leaves_the_list_for_the_decision_and_its_editor(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    _select(qtbot, window, "Kettle")
    page.view.setFocus()
    qtbot.waitUntil(page.view.hasFocus, timeout=5000)
    selected = page.selected_group()
    qtbot.keyClick(page.view, Qt.Key.Key_Tab)
    [choice] = page.panel.choices
    qtbot.waitUntil(lambda: QApplication.focusWidget() is choice.combo, timeout=5000)
    assert page.selected_group() is selected  # Tab left the list without moving in it
    for _ in range(3):  # Automatic result → Keep → Take theirs → Custom value
        qtbot.keyClick(choice.combo, Qt.Key.Key_Down)
    assert choice.take == "custom"
    qtbot.keyClick(choice.combo, Qt.Key.Key_Tab)
    editor = choice.editors[""].widget
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor, timeout=5000)
    editor.selectAll()
    qtbot.keyClicks(editor, "24.10")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.panel.accept_button, timeout=5000)
    qtbot.keyClick(page.panel.accept_button, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.panel.apply_button, timeout=5000)
    _decide(qtbot, window, lambda: qtbot.keyClick(page.panel.apply_button, Qt.Key.Key_Space))
    assert _row(db, sku="K-100")["price"] == Decimal("24.10")
    close_window(qtbot, window)


# -- 6. constraint conflicts ---------------------------------------------------------------


def _cells_of(panel, name: str) -> list[QWidget]:
    for r in range(panel.grid.rowCount()):
        first = panel.grid.itemAtPosition(r, 0)
        if first is not None and first.widget().text().strip().startswith(name):
            return [panel.grid.itemAtPosition(r, c).widget() for c in range(4) if panel.grid.itemAtPosition(r, c)]
    raise AssertionError(f"no line for {name}")


def test_a_constraint_conflict_shows_the_row_in_the_way_and_only_choices_that_can_succeed(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    _select(qtbot, window, "Glass jug")
    panel = page.panel
    [choice] = panel.choices
    # both rows side by side: this device's Glass carafe holds the SKU the incoming Glass jug wants
    assert "Glass carafe already has sku G-700" in panel.subtitle.text()
    qtbot.waitUntil(lambda: panel.grid.itemAtPosition(0, 3).widget().text() == "shop-south", timeout=10000)  # named
    [choice] = panel.choices
    assert [c.text() for c in _cells_of(panel, "name")][2:] == ["Glass carafe", "Glass jug"]
    assert [c.text() for c in _cells_of(panel, "price")][2:] == ["16.90", "15.00"]
    sku = _cells_of(panel, "sku")
    assert "⚠" in sku[0].text() and all(c.styleSheet() for c in (sku[0], sku[2], sku[3]))  # marked
    assert panel.grid.itemAtPosition(1, 2).widget().text() == "Glass carafe"  # not just "held"
    # only choices that can succeed
    enabled = [choice.combo.itemData(i) for i in range(choice.combo.count()) if _enabled(choice.combo, i)]
    assert enabled == ["local", "custom"]
    assert "cannot apply while Glass carafe already has sku G-700" in choice.combo.itemData(2, Qt.ItemDataRole.ToolTipRole)
    # the cursor waits in the SKU's editor, its text selected: typing replaces it
    editor = choice.editors["sku"].widget
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor, timeout=5000)
    assert editor.selectedText() == "G-700"
    page.view.setFocus()  # from the list, Tab goes to the clashing column first
    qtbot.waitUntil(page.view.hasFocus, timeout=5000)
    qtbot.keyClick(page.view, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is editor, timeout=5000)
    assert editor.selectedText() == "G-700"
    qtbot.keyClicks(editor, "G-701")
    _decide(qtbot, window, lambda: qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier))
    assert _row(db, sku="G-701")["name"] == "Glass jug" and _row(db, sku="G-700")["name"] == "Glass carafe"
    close_window(qtbot, window)


def _enabled(combo: QComboBox, index: int) -> bool:
    model = combo.model()
    return bool(model.flags(model.index(index, 0)) & Qt.ItemFlag.ItemIsEnabled)


def test_tab_leaves_the_history_too(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page = window.conflicts
    page.tabs.setCurrentIndex(1)
    view = page.history_view
    qtbot.waitUntil(lambda: view.isVisible() and page.history.rowCount() > 0, timeout=5000)
    view.setFocus()
    view.setCurrentIndex(page.history.index(0, 0))
    qtbot.waitUntil(view.hasFocus, timeout=5000)
    qtbot.keyClick(view, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not view, timeout=5000)
    assert view.currentIndex().column() == 0  # Tab did not move along the row
    close_window(qtbot, window)


def test_the_detail_names_the_other_device_once_the_device_list_is_read(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, service = window.conflicts, window.service
    known = list(service.devices)
    south = next(d for d in known if d.name == "shop-south")
    service.devices = []  # as before the shared log ever answered: only ids are known
    service.device.set_setting("device_names", None)  # (no name kept from an earlier listing either)
    run(service.refresh_status())
    _select(qtbot, window, "Kettle")
    head = page.panel.grid.itemAtPosition(0, 3).widget()
    page._show_soon()
    qtbot.waitUntil(lambda: head.isVisible() and page.panel.grid.itemAtPosition(0, 3).widget().text() == south.device_id[:8], timeout=5000)
    run(service.check_remote())  # the list is read: devicesChanged redraws the open detail, no new selection needed
    qtbot.waitUntil(lambda: page.panel.grid.itemAtPosition(0, 3).widget().text() == "shop-south", timeout=10000)
    assert page.panel.title.text().startswith("Kettle")
    close_window(qtbot, window)
