"""What the views say reads as a person would say it: names not UUIDs, a formatted report, no "(s)"."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon

from app import format as fmt
from app.demo import build_demo

from .helpers import close_window, open_window

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def _image(icon: QIcon):
    return icon.pixmap(20, 20).toImage()


def test_pending_rows_are_named_by_their_product_and_not_sent_yet_has_its_own_icon(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    page = window.pending
    qtbot.waitUntil(lambda: page.model.rowCount() == 3, timeout=10000)  # not sent yet: the default
    rows = [page.model.data(page.model.index(r, 3)) for r in range(3)]
    assert rows == ["Napkin rings", "Cutting board", "Juicer"]
    assert page.model.data(page.model.index(0, 1)) == "Not sent yet"
    assert page.model.data(page.model.index(0, 3), Qt.ItemDataRole.ToolTipRole).startswith("Key: ")
    not_sent = page.model.data(page.model.index(0, 1), Qt.ItemDataRole.DecorationRole)
    page.view.selectRow(0)
    assert page.detail_title.text() == "Insert of products Napkin rings"
    key = page.values.item(0, 2)  # the new row's id: cut in the middle to fit, whole on hover
    assert page.values.item(0, 0).text() == "id" and UUID.match(key.text()) and key.toolTip() == key.text()
    page.view.selectRow(2)
    assert page.detail_title.text() == "Update of products Juicer"
    page.kind.setCurrentIndex(page.kind.findData("pending"))
    qtbot.waitUntil(lambda: page.model.rowCount() > 0 and page.model.data(page.model.index(0, 1)) == "Received", timeout=10000)
    names = [page.model.data(page.model.index(r, 3)) for r in range(page.model.rowCount())]
    assert "Egg timer" in names and not [n for n in names if UUID.match(n)]
    received = page.model.data(page.model.index(0, 1), Qt.ItemDataRole.DecorationRole)
    assert _image(not_sent) != _image(received)
    overview = window.overview  # the cards too: "Not sent yet" and "Received, not applied" look different
    assert overview.unshared_card.icon.pixmap().toImage() != overview.pending_card.icon.pixmap().toImage()
    close_window(qtbot, window)


def test_the_activity_report_is_formatted_and_the_last_sync_mentions_held_conflicts(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    page = window.activity
    qtbot.waitUntil(lambda: page.model.rowCount() >= 3, timeout=10000)
    big = next(r for r in range(page.model.rowCount()) if page.model.row_item(r).report.get("conflicts"))
    page.view.selectRow(big)
    shown = page.detail.toPlainText()
    assert "Sent" in shown and "Received" in shown and "Conflicts found" in shown and "entries in 1 batch" in shown
    assert "{" not in shown and '"sent"' not in shown and "log_id" not in shown
    line = window.overview.last_result.text()
    assert line.startswith("OK — sent ")
    assert "5 conflicts are held for your review" in line
    assert window.devices.summary.text().startswith("3 devices share ~") or window.devices.summary.text().startswith("3 devices share /")
    close_window(qtbot, window)


def test_counts_read_without_parentheses() -> None:
    assert fmt.plural(1, "conflict") == "1 conflict"
    assert fmt.plural(2, "conflict") == "2 conflicts"
    assert fmt.plural(1, "entry") == "1 entry" and fmt.plural(1200, "entry") == "1,200 entries"
    assert fmt.plural(3, "batch", "batches") == "3 batches"
    assert fmt.label_of({"id": "x", "sku": "K-100", "name": "Kettle"}) == "Kettle"


def test_conflicts_a_bulk_decision_leaves_open_are_a_notice_not_a_red_error(qtbot, run, tmp_path) -> None:
    from PySide6.QtWidgets import QMessageBox

    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.conflicts.bulk_actions["auto"].trigger()  # the constraint conflict has no automatic result
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "bulkConfirm") is not None, timeout=5000)
    box = window.findChild(QMessageBox, "bulkConfirm")
    qtbot.mouseClick(next(b for b in box.buttons() if b.text().startswith("Decide ")), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10000)
    assert window.banner.level == "info"  # expected: said, not alarmed
    assert "1 conflict was left open" in window.banner.text.text()
    assert not window.banner.details_button.isVisible()  # no traceback behind it
    close_window(qtbot, window)
