"""The tray icon: a badge with the number of open conflicts, one notice when a sync brings new ones."""

from __future__ import annotations

import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from app import resources
from app.demo import build_demo, products
from syncengine import Device, SqlSharedLog

from .helpers import close_window, open_window


def _image(icon) -> QImage:
    return icon.pixmap(32, 32).toImage()


def test_the_badge_counts_open_conflicts_and_new_ones_bring_one_notice(qtbot, run, tmp_path) -> None:
    workspace = build_demo(tmp_path / "demo")
    window = open_window(qtbot, run, workspace)
    tray = window.tray
    assert tray.count == 5 and tray.icon.toolTip() == "Sync Manager — 5 open conflicts"
    assert _image(tray.icon.icon()) == _image(resources.badge_icon(5))
    assert _image(tray.icon.icon()) != _image(resources.badge_icon(0))
    assert tray.notified == 0  # conflicts already there when the window opened are no news

    # shop-south changes two prices that shop-north has also changed and not sent yet
    south = Device.open(str(tmp_path / "demo" / "shop-south.db"))
    shared = SqlSharedLog(workspace.remote)
    try:
        with south.engine.begin() as conn:
            conn.execute(sa.update(products).where(products.c.sku.in_(["J-540"])).values(price=47))
        south.sync(shared)
    finally:
        south.close()
        shared.close()
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000):
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tray.notified == 1, timeout=5000)
    assert tray.last_message == "1 new conflict waits for your decision"
    qtbot.waitUntil(lambda: tray.count == 6, timeout=5000)
    assert tray.icon.toolTip() == "Sync Manager — 6 open conflicts"
    assert _image(tray.icon.icon()) == _image(resources.badge_icon(6))

    # deciding them all clears the badge; no notice for that
    page = window.conflicts
    page.bulk_actions["local"].trigger()  # asks first, with the count
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "bulkConfirm") is not None, timeout=5000)
    box = window.findChild(QMessageBox, "bulkConfirm")
    decide = next(b for b in box.buttons() if b.text().startswith("Decide "))
    qtbot.mouseClick(decide, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tray.count == 0, timeout=10000)
    assert tray.icon.toolTip() == "Sync Manager — no open conflicts"
    assert _image(tray.icon.icon()) == _image(resources.badge_icon(0))
    assert tray.notified == 1
    close_window(qtbot, window)
