"""The conflict history: rows named by their product, the newest decision first, every column sortable.

The window tests open the demo's shop-north (real SQLite databases) with several
conflicts decided beforehand, in the reverse order of their ids, so the newest
decision is not the newest conflict; they sort by clicking headers and from the
keyboard (the menu key in the list). The model tests check that a sort covers the
whole history, not only its first page, and how far that goes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMenu

from app.demo import build_demo, products
from app.models import HistoryModel
from app.window import MainWindow
from syncengine import Conflict, Device

from .helpers import close_window, open_window


def _decide_all_backwards(db: str) -> list[int]:
    """Decide every open conflict but the constraint one, newest conflict first; their ids, oldest decision first."""
    device = Device.open(db)
    try:
        ids = sorted((c.id for c in device.conflicts() if c.kind != "constraint"), reverse=True)
        for conflict_id in ids:
            device.resolve(conflict_id, "local")
        return ids
    finally:
        device.close()


def _history_window(qtbot, run, tmp_path: Path) -> tuple[MainWindow, list[int]]:
    workspace = build_demo(tmp_path / "demo")
    decided = _decide_all_backwards(workspace.db)
    window = open_window(qtbot, run, workspace)
    window.show_view("conflicts")
    page = window.conflicts
    page.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: page.history_view.isVisible() and page.history.exhausted, timeout=10000)
    return window, decided


def _id_of(device: Device, sku: str) -> str:
    with device.engine.connect() as conn:
        return str(conn.execute(sa.select(products.c.id).where(products.c.sku == sku)).scalar_one())


def _column(window: MainWindow, column: int) -> list[str]:
    model = window.conflicts.history
    return [model.data(model.index(row, column)) for row in range(model.rowCount())]


def _click_header(qtbot, window: MainWindow, column: int) -> None:
    header = window.conflicts.history_view.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


def test_history_names_rows_and_shows_the_newest_decision_first(qtbot, run, tmp_path) -> None:
    window, decided = _history_window(qtbot, run, tmp_path)
    model = window.conflicts.history
    kettle = _id_of(window.service.device, "K-100")
    assert model.rowCount() == len(decided) + 1  # and the demo's own decided conflict
    ids = [model.row_item(row).id for row in range(model.rowCount())]
    assert ids[: len(decided)] == decided[::-1]  # the last decided (the oldest conflict) on top, not by id
    stamps = [model.row_item(row).decided_at for row in range(model.rowCount())]
    assert stamps == sorted(stamps, reverse=True)
    names = _column(window, 2)
    keys = {str(model.row_item(row).pk[0]) for row in range(model.rowCount())}
    assert not keys & set(names)  # every row is named, none by its UUID
    price = next(row for row in range(model.rowCount()) if model.row_item(row).pk[0] == kettle)
    assert model.row_item(price).field == "price" and names[price] == "Kettle"  # a price carries no name: the table's is read
    assert model.data(model.index(price, 2), Qt.ItemDataRole.ToolTipRole).endswith(str(model.row_item(price).pk[0]))
    header = window.conflicts.history_view.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (0, Qt.SortOrder.DescendingOrder)
    close_window(qtbot, window)


def test_clicking_a_header_sorts_the_history_by_it(qtbot, run, tmp_path) -> None:
    window, _ = _history_window(qtbot, run, tmp_path)
    model = window.conflicts.history
    header = window.conflicts.history_view.horizontalHeader()
    for column in range(len(model.headers)):
        _click_header(qtbot, window, column)
        if column == 0:  # the dates' first click keeps them newest first… (already so: it reverses them)
            _click_header(qtbot, window, column)
        first = Qt.SortOrder.DescendingOrder if column == 0 else Qt.SortOrder.AscendingOrder
        qtbot.waitUntil(lambda c=column, f=first: (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (c, f), timeout=5000)
        keys = [model.sort_key(model.row_item(row), column) for row in range(model.rowCount())]
        assert keys == sorted(keys, reverse=column == 0), (model.headers[column], keys)
        _click_header(qtbot, window, column)  # again: the other way round
        qtbot.waitUntil(lambda f=first: header.sortIndicatorOrder() != f, timeout=5000)
        keys = [model.sort_key(model.row_item(row), column) for row in range(model.rowCount())]
        assert keys == sorted(keys, reverse=column != 0), (model.headers[column], keys)
    _click_header(qtbot, window, 2)  # Row A→Z: by the names shown
    names = _column(window, 2)
    assert names == sorted(names, key=str.casefold) and "Kettle" in names
    close_window(qtbot, window)


def test_the_history_sorts_from_the_keyboard(qtbot, run, tmp_path) -> None:
    window, _ = _history_window(qtbot, run, tmp_path)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    page = window.conflicts
    view = page.history_view
    view.setFocus()
    qtbot.waitUntil(view.hasFocus, timeout=5000)
    qtbot.keyClick(view, Qt.Key.Key_Menu)  # the menu key (or Shift+F10) opens "Sort by…"
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu), timeout=5000)
    menu = QApplication.activePopupWidget()
    assert [a.text() for a in menu.actions()][:3] == ["Sort by Decided (descending)", "Sort by Table", "Sort by Row"]
    for _ in range(3):  # down to "Sort by Row"
        qtbot.keyClick(menu, Qt.Key.Key_Down)
    qtbot.keyClick(menu, Qt.Key.Key_Return)
    header = view.horizontalHeader()
    qtbot.waitUntil(lambda: (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (2, Qt.SortOrder.AscendingOrder), timeout=5000)
    names = _column(window, 2)
    assert names == sorted(names, key=str.casefold)
    page.sort_history(2)  # the same column again: reversed
    assert _column(window, 2) == sorted(names, key=str.casefold, reverse=True)
    close_window(qtbot, window)


# -- the model: a sort covers every page, up to its limit -----------------------------------------------


def _decided(n: int) -> list[Conflict]:
    """``n`` decided price conflicts, newest id first, decided in the reverse order of their ids."""
    return [
        Conflict(
            id=i, kind="edit/edit", status="decided", held=False, table="products", pk=[f"p{i}"], field="price",
            base=None, local=Decimal(i), local_version=None, remote=Decimal(i + 1), remotes=(), auto=None, reason=None,
            created_at=0.0, updated_at=0.0, decision="local", decided_value=Decimal(i % 7), decided_by="dev",
            decided_how="person", decided_at=10_000.0 - i,
        )
        for i in range(n, 0, -1)
    ]


def _fetch(rows: list[Conflict], pages: list[int]):
    async def fetch(offset: int, _last: Conflict | None, limit: int) -> list[Conflict]:
        pages.append(offset)
        await asyncio.sleep(0)
        return rows[offset : offset + limit]

    return fetch


def test_the_history_model_reads_and_sorts_every_page(qtbot, qtmodeltester, run) -> None:
    pages: list[int] = []
    model = HistoryModel(_fetch(_decided(250), pages), page_size=100)
    qtmodeltester.check(model)
    run(model.load_more())  # one call reads every page: a sort needs them all
    assert model.rowCount() == 250 and pages == [0, 100, 200] and model.exhausted and not model.truncated
    assert model.row_item(0).id == 1  # the newest decision, on the last page the engine gave
    model.sort(6, Qt.SortOrder.AscendingOrder)  # by value: numbers as numbers, over all 250
    values = [model.row_item(r).decided_value for r in range(250)]
    assert values == sorted(values)
    qtmodeltester.check(model)


def test_the_history_model_says_when_it_sorts_only_the_newest(qtbot, run) -> None:
    pages: list[int] = []
    model = HistoryModel(_fetch(_decided(250), pages), page_size=50, limit=100)
    run(model.load_more())
    assert model.rowCount() == 100 and pages == [0, 50] and model.truncated and not model.canFetchMore()
    assert model.row_item(0).id == 151  # the newest decision among the newest 100 conflicts


def test_the_history_model_names_rows_from_labels_then_values_then_keys(qtbot) -> None:
    [conflict] = _decided(1)
    model = HistoryModel()
    assert model.row_name(conflict) == "p1"
    assert model.row_name(dataclasses.replace(conflict, field=None, kind="delete/edit", local={"name": "Mug"}, decided_value=None)) == "Mug"
    model.labels[("products", ("p1",))] = "Teapot"
    assert model.row_name(conflict) == "Teapot"


def test_the_activity_lists_the_newest_sync_first(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.show_view("activity")
    model = window.activity.model
    qtbot.waitUntil(lambda: model.rowCount() > 2 and not model.loading, timeout=10000)
    syncs = [model.row_item(row) for row in range(model.rowCount())]
    assert [s.started_at for s in syncs] == sorted((s.started_at for s in syncs), reverse=True)
    assert [s.id for s in syncs] == sorted((s.id for s in syncs), reverse=True)
    close_window(qtbot, window)


def test_devices_keep_their_names_when_the_shared_log_cannot_be_reached(qtbot, run, tmp_path) -> None:
    workspace = build_demo(tmp_path / "demo")
    window = open_window(qtbot, run, workspace)
    service = window.service
    qtbot.waitUntil(lambda: len(service.devices) >= 3, timeout=10000)  # listed from the shared log
    others = {d.device_id: d.name for d in service.devices if d.device_id != service.device_id}
    service.devices = []  # as when the shared log is out of reach: no live list
    assert {i: service.device_name(i) for i in others} == others  # not their short ids
    close_window(qtbot, window)
