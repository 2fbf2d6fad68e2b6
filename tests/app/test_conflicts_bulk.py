"""Deciding in bulk asks first, with the count; the last decision can be undone until a sync sends it.

Driven through the real widgets on the demo's shop-north (real SQLite databases);
each test checks what the person reads and what the database holds.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app import config
from app.demo import build_demo, products
from app.widgets.bulk import question
from app.window import MainWindow
from syncengine import Conflict, Device, RemoteValue, SqlSharedLog

from .helpers import close_window, open_window


def _demo(qtbot, run, tmp_path: Path) -> MainWindow:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.show_view("conflicts")
    return window


def _table(db: str) -> list[dict[str, Any]]:
    device = Device.open(db)
    try:
        with device.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(products).order_by(products.c.id)).mappings()]
    finally:
        device.close()


def _unsent(db: str) -> int:
    device = Device.open(db)
    try:
        return device.status().unshared
    finally:
        device.close()


def _price(db: str, sku: str) -> Decimal:
    return next(r["price"] for r in _table(db) if r["sku"] == sku)


def _question(qtbot, page) -> QMessageBox:
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "bulkConfirm") is not None, timeout=5000)
    box = page.findChild(QMessageBox, "bulkConfirm")
    assert box.isVisible()
    return box


def _press(qtbot, box: QMessageBox, text: str) -> None:
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == text), Qt.MouseButton.LeftButton)


def _settled(qtbot, page, count: int) -> None:
    qtbot.waitUntil(lambda: page.model.open_count == count and not page._reloading, timeout=10000)


def test_decide_all_asks_with_the_count_and_cancel_changes_nothing(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    before = _table(db)
    page.bulk_actions["local"].trigger()
    box = _question(qtbot, page)
    assert box.text() == "Decide all 5 open conflicts in every table?"
    assert "keeps this device's value" in box.informativeText()
    _press(qtbot, box, "Cancel")
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "bulkConfirm") is None, timeout=5000)
    assert page.model.open_count == 5 and _table(db) == before

    kettle = next(c for c in page.model.cache.values() if c.field == "price")
    page.bulk_actions["auto"].trigger()
    box = _question(qtbot, page)
    assert "1 constraint conflict has no automatic result and stays open" in box.informativeText()
    _press(qtbot, box, "Decide 4")  # the button counts what it decides, not the one that stays open
    _settled(qtbot, page, 1)
    assert [c.kind for c in page.model.cache.values()] == ["constraint"]
    assert _price(db, "K-100") == kettle.auto == Decimal("23.50")  # the kettle's automatic result: south wrote last
    close_window(qtbot, window)


def test_the_last_decision_is_undone_until_a_sync_sends_it(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    row = next(i for i, g in enumerate(page.model.items()) if g.label == "Kettle")
    page.view.selectRow(row)
    qtbot.waitUntil(lambda: page.panel.title.text().startswith("Kettle") and bool(page.panel.choices), timeout=5000)
    [choice] = page.panel.choices
    choice.combo.setCurrentIndex(choice.combo.findData("remote"))
    qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton)
    _settled(qtbot, page, 4)
    assert _price(db, "K-100") == Decimal("23.50")
    qtbot.waitUntil(page.undo_bar.isVisible, timeout=5000)
    assert page.undo_bar.text.text().startswith("Decided Kettle (price).") and page.undo_bar.button.isVisible()

    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Z
    _settled(qtbot, page, 5)
    assert _price(db, "K-100") == Decimal("22.90")  # this device's price, as before
    qtbot.waitUntil(lambda: page.undo_bar.text.text().startswith("Undone"), timeout=5000)
    assert not page.undo_bar.button.isVisible()
    qtbot.waitUntil(lambda: page.panel.title.text().startswith("Kettle"), timeout=5000)  # shown again to decide

    # decided again, then sent by a sync: the line says plainly that it cannot be undone
    [choice] = page.panel.choices
    choice.combo.setCurrentIndex(choice.combo.findData("remote"))
    qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton)
    _settled(qtbot, page, 4)
    qtbot.waitUntil(lambda: page.undo_bar.button.isVisible(), timeout=5000)
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000):
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "can no longer be undone" in page.undo_bar.text.text(), timeout=10000)
    assert not page.undo_bar.button.isVisible()
    assert _price(db, "K-100") == Decimal("23.50")
    close_window(qtbot, window)


def test_a_bulk_decision_is_undone_as_a_whole(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page, db = window.conflicts, window.service.workspace.db
    before, unsent = _table(db), _unsent(db)
    page.bulk_actions["local"].trigger()
    _press(qtbot, _question(qtbot, page), "Decide 5")
    _settled(qtbot, page, 0)
    assert _unsent(db) == unsent + 5  # five decisions wait to be sent
    qtbot.waitUntil(lambda: page.undo_bar.button.isVisible(), timeout=5000)
    assert page.undo_bar.text.text().startswith("Decided 5 conflicts at once.")
    qtbot.mouseClick(page.undo_bar.button, Qt.MouseButton.LeftButton)
    _settled(qtbot, page, 5)
    assert _table(db) == before and _unsent(db) == unsent
    assert window.service.status is not None
    qtbot.waitUntil(lambda: window.service.status.conflicts == 5, timeout=5000)
    close_window(qtbot, window)


def _checked_shop(tmp_path: Path) -> str:
    """Two devices of a catalogue whose stock may not go below zero; "here" holds conflicts on a name and a stock."""
    meta = sa.MetaData()
    items = sa.Table(
        "items",
        meta,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("stock", sa.Integer, sa.CheckConstraint("stock >= 0"), nullable=False),
    )
    shared = SqlSharedLog(str(tmp_path / "shared.db"))
    here = Device.init(str(tmp_path / "here.db"), metadata=meta, name="here")
    there = Device.init(str(tmp_path / "there.db"), metadata=meta, name="there")
    try:
        here.set_review(True)
        here.set_setting("sync.enabled", False)
        with here.engine.begin() as conn:
            conn.execute(items.insert().values(id="i1", name="Whisk", stock=3))
        here.sync(shared)
        there.sync(shared)
        with there.engine.begin() as conn:
            conn.execute(items.update().values(name="Balloon whisk", stock=4))
        with here.engine.begin() as conn:
            conn.execute(items.update().values(name="Whisk, steel", stock=5))
        there.sync(shared)
        here.sync(shared)
        assert len(here.conflicts()) == 2
    finally:
        for closable in (here, there, shared):
            closable.close()
    return str(tmp_path / "here.db")


def test_decisions_made_before_a_refusal_can_be_undone(qtbot, run, tmp_path) -> None:
    db = _checked_shop(tmp_path)
    window = open_window(qtbot, run, config.Workspace(db=db, remote=str(tmp_path / "shared.db")))
    window.show_view("conflicts")
    page = window.conflicts
    qtbot.waitUntil(lambda: len(page.panel.choices) == 2, timeout=5000)
    by_field = {c.conflict.field: c for c in page.panel.choices}
    by_field["name"].combo.setCurrentIndex(by_field["name"].combo.findData("remote"))
    stock = by_field["stock"]
    stock.combo.setCurrentIndex(stock.combo.findData("custom"))
    stock.editors[""].widget.setValue(-1)  # the database's CHECK refuses it
    qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.banner.isVisible() and page.model.open_count == 1 and not page._reloading, timeout=10000)
    assert "CHECK" in window.banner.text.text() or "check" in window.banner.text.text()
    qtbot.waitUntil(lambda: page.undo_bar.button.isVisible(), timeout=5000)  # the name was decided: it can be undone
    assert page.undo_bar.text.text().startswith("Decided Whisk, steel (name).")
    qtbot.mouseClick(page.undo_bar.button, Qt.MouseButton.LeftButton)
    _settled(qtbot, page, 2)
    device = Device.open(db)
    try:
        with device.engine.connect() as conn:
            assert tuple(conn.execute(sa.text("SELECT name, stock FROM items")).one()) == ("Whisk, steel", 5)
    finally:
        device.close()
    close_window(qtbot, window)


def _open_conflict(i: int, kind: str) -> Conflict:
    return Conflict(
        id=i, kind=kind, status="open", held=True, table="products", pk=(f"p{i}",), field=None, base=None, local=None,
        local_version=None, remote={"sku": "S"}, remotes=(RemoteValue({"sku": "S"}, "v2", "dev-b"),), auto=None,
        reason=None, created_at=0.0, updated_at=0.0, decision=None, decided_value=None, decided_by=None,
        decided_how=None, decided_at=None,
    )  # fmt: skip


def test_the_question_says_which_conflicts_stay_open() -> None:
    open_ = [_open_conflict(1, "create/create"), _open_conflict(2, "constraint")]
    assert question("remote", open_, "products") == (
        "Decide all 2 open conflicts of products?",
        "Each takes the other device's value. 1 constraint conflict stays open while the other device's row "
        "still breaks the constraint. The decisions are shared with the other devices at the next sync.",
        "Decide 2",
    )
    assert "no automatic result" in question("auto", open_, None)[1]
    assert question("auto", open_, None)[2] == "Decide 1"  # the constraint conflict stays open
    assert "stays open" not in question("local", open_, None)[1]
