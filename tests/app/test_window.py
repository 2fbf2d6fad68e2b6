"""The Sync Manager on real SQLite devices: open, look, sync, decide, close mid-sync, go offline."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import stamina
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app import config
from app.demo import build_demo, products
from app.window import MainWindow
from syncengine import Device, SqlSharedLog, new_id

from .helpers import close_window, open_window


def _demo(qtbot, run, tmp_path) -> MainWindow:
    return open_window(qtbot, run, build_demo(tmp_path / "demo"))


def _row(device_path: str, **where: object) -> dict | None:
    device = Device.open(device_path)
    try:
        with device.engine.connect() as conn:
            query = sa.select(products)
            for column, value in where.items():
                query = query.where(products.c[column] == value)
            found = conn.execute(query).mappings().first()
            return dict(found) if found else None
    finally:
        device.close()


def _select_group(qtbot, window: MainWindow, label: str) -> None:
    page = window.conflicts
    row = next(i for i, g in enumerate(page.model.items()) if g.label == label)
    page.view.selectRow(row)
    qtbot.waitUntil(lambda: page.panel.title.text().startswith(label), timeout=5000)


def _decided(qtbot, window: MainWindow, click) -> None:
    before = window.conflicts.model.open_count
    with qtbot.waitSignal(window.conflicts.countChanged, timeout=10000, check_params_cb=lambda n: n < before):
        click()
    qtbot.waitUntil(lambda: not window.conflicts._reloading, timeout=10000)


def test_the_demo_opens_with_every_view_populated(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    status = window.service.status
    assert status is not None
    assert (status.unshared, status.pending, status.quarantined, status.conflicts) == (3, 5, 2, 5)
    assert window.overview.conflicts_card.number.text() == "5"
    assert window.tabs.tabText(window.tabs.indexOf(window.conflicts)) == "Conflicts (5)"
    assert window.tray.count == 5
    kinds = {c.kind for c in window.conflicts.model.cache.values()}
    assert kinds == {"edit/edit", "delete/edit", "create/create", "constraint"}
    assert window.conflicts.history.rowCount() == 1
    assert window.devices.model.rowCount() == 3
    marked = [window.devices.model.data(window.devices.model.index(r, 0)) for r in range(3)]
    assert "shop-north  (this device)" in marked
    assert window.activity.model.rowCount() >= 4
    assert window.overview.reach_label.text() == "Reachable"
    qtbot.waitUntil(lambda: window.pending.model.rowCount() == 3, timeout=5000)  # not sent yet
    for index, expected in ((1, 5), (2, 2)):
        window.pending.kind.setCurrentIndex(index)
        qtbot.waitUntil(lambda e=expected: window.pending.model.rowCount() == e and window.pending.model.exhausted, timeout=5000)
    window.pending.view.selectRow(0)
    form = window.pending.detail_form
    reason = next(form.itemAt(r, form.ItemRole.FieldRole).widget() for r in range(form.rowCount()) if form.itemAt(r, form.ItemRole.LabelRole).widget().text() == "Reason")
    assert "unknown table 'suppliers'" in reason.text()
    close_window(qtbot, window)


def test_pending_filters_by_operation_and_device(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page = window.pending
    page.kind.setCurrentIndex(1)  # received
    qtbot.waitUntil(lambda: page.model.rowCount() == 5 and page.model.exhausted, timeout=5000)
    page.op.setCurrentIndex(page.op.findData("insert"))
    qtbot.waitUntil(lambda: page.model.exhausted and page.model.rowCount() == 1, timeout=5000)
    page.op.setCurrentIndex(0)
    east = next(d.device_id for d in window.service.devices if d.name == "shop-east")
    page.device.setCurrentIndex(page.device.findData(east))
    qtbot.waitUntil(lambda: page.model.exhausted and page.model.rowCount() == 2, timeout=5000)
    page.view.selectRow(0)
    assert page.values.rowCount() >= 1 and page.values.item(0, 1).text() != page.values.item(0, 2).text()
    # "This device": entries not sent yet carry no device id until stamped, and still count as this device's
    page.device.setCurrentIndex(page.device.findData(window.service.device_id))
    page.kind.setCurrentIndex(0)  # not sent yet
    qtbot.waitUntil(lambda: page.model.exhausted and page.model.rowCount() == 3, timeout=5000)
    page.kind.setCurrentIndex(3)  # everything kept
    qtbot.waitUntil(lambda: page.model.exhausted and not page.model.loading, timeout=5000)
    mine = page.model.items()
    assert {r.device_id for r in mine} <= {None, window.service.device_id}
    assert sum(r.state == "unshared" for r in mine) == 3
    assert [r.id for r in mine] == sorted((r.id for r in mine), reverse=True)
    close_window(qtbot, window)


def test_sync_now_sends_applies_and_updates_the_counts(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    overview = window.overview
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:
        qtbot.mouseClick(overview.sync_button, Qt.MouseButton.LeftButton)
        assert not overview.sync_button.isEnabled() and overview.cancel_button.isEnabled()
    report, error = finished.args
    assert error is None and report.sent == 3 and report.applied == 5
    qtbot.waitUntil(lambda: overview.unshared_card.number.text() == "0" and overview.pending_card.number.text() == "0", timeout=5000)
    assert overview.sync_button.isEnabled() and not overview.cancel_button.isEnabled()
    assert overview.progress_label.text().startswith("Done: sent 3")
    activity = window.activity.model  # reloaded after the sync: empty until its first page is in
    qtbot.waitUntil(lambda: activity.rowCount() > 0 and activity.row_item(0).report.get("sent") == 3, timeout=5000)
    assert window.activity.model.row_item(0).error is None  # the engine's own history (Device.history)
    assert window.service.status.conflicts == 5  # held conflicts wait for a person
    close_window(qtbot, window)


def test_deciding_conflicts_in_the_view_reaches_the_database_and_the_other_shops(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    page = window.conflicts
    db = window.service.workspace.db
    # take the remote price of the kettle
    _select_group(qtbot, window, "Kettle")
    [choice] = page.panel.choices
    choice.combo.setCurrentIndex(choice.combo.findData("remote"))
    _decided(qtbot, window, lambda: qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton))
    assert _row(db, sku="K-100")["price"] == Decimal("23.50")
    # a custom name for the toaster, typed into the editor
    _select_group(qtbot, window, "Toaster, 2-slice")
    [choice] = page.panel.choices
    choice.combo.setCurrentIndex(choice.combo.findData("custom"))
    editor = choice.editors[""].widget
    assert editor.isEnabled()
    editor.clear()
    qtbot.keyClicks(editor, "Toaster deluxe")
    _decided(qtbot, window, lambda: qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton))
    assert _row(db, sku="T-200")["name"] == "Toaster deluxe"
    # accept the automatic result of the delete/edit: the mug goes
    _select_group(qtbot, window, "Mug (set of 4)")
    assert page.panel.accept_button.isEnabled()
    _decided(qtbot, window, lambda: qtbot.mouseClick(page.panel.accept_button, Qt.MouseButton.LeftButton))
    assert _row(db, sku="M-300") is None
    # the constraint conflict: give the incoming glass jug its own SKU
    _select_group(qtbot, window, "Glass jug")
    [choice] = page.panel.choices
    assert not page.panel.accept_button.isEnabled()  # no automatic result for a constraint conflict
    assert choice.take == "custom"
    sku = choice.editors["sku"].widget
    sku.clear()
    qtbot.keyClicks(sku, "G-701")
    _decided(qtbot, window, lambda: qtbot.mouseClick(page.panel.apply_button, Qt.MouseButton.LeftButton))
    assert _row(db, sku="G-701")["name"] == "Glass jug" and _row(db, sku="G-700")["name"] == "Glass carafe"
    assert page.model.open_count == 1 and page.history.rowCount() == 5
    # share the decisions; the other shops take them as plain updates
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000):
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    close_window(qtbot, window)
    folder = Path(db).parent
    shared = SqlSharedLog(str(folder / "shared.db"))
    south = Device.open(str(folder / "shop-south.db"))
    try:
        south.sync(shared)
        assert south.status().conflicts == 0
    finally:
        south.close()
        shared.close()
    south_db = str(folder / "shop-south.db")
    assert _row(south_db, sku="K-100")["price"] == Decimal("23.50")
    assert _row(south_db, sku="T-200")["name"] == "Toaster deluxe"
    assert _row(south_db, sku="M-300") is None
    assert _row(south_db, sku="G-701")["name"] == "Glass jug"


def test_conflicts_can_be_decided_from_the_keyboard_and_in_bulk(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    window.show_view("conflicts")
    page = window.conflicts
    _select_group(qtbot, window, "Kettle")
    page.view.setFocus()
    _decided(qtbot, window, lambda: qtbot.keyClick(page.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier))
    assert page.model.open_count == 4
    page.bulk_actions["auto"].trigger()
    _confirm(qtbot, page, "Decide 3")  # of the 4 open, the constraint conflict has no automatic result
    # the constraint conflict has no automatic result: it is left open, and the banner says so
    qtbot.waitUntil(lambda: window.banner.isVisible() and "left open" in window.banner.text.text(), timeout=10000)
    qtbot.waitUntil(lambda: page.model.open_count == 1 and not page._reloading, timeout=10000)
    _decided(qtbot, window, lambda: (page.bulk_actions["local"].trigger(), _confirm(qtbot, page, "Decide 1")))
    assert page.model.open_count == 0 and window.tray.count == 0
    assert window.tabs.tabText(window.tabs.indexOf(page)) == "Conflicts"
    close_window(qtbot, window)


def _confirm(qtbot, page, button: str) -> None:
    """Press ``button`` in the question "Decide all…" asks before deciding (see test_conflicts_bulk.py)."""
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "bulkConfirm") is not None, timeout=5000)
    box = page.findChild(QMessageBox, "bulkConfirm")
    qtbot.mouseClick(next(b for b in box.buttons() if b.text() == button), Qt.MouseButton.LeftButton)


def _big_device(tmp_path: Path, rows: int) -> tuple[str, str]:
    meta = sa.MetaData()
    sa.Table("items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("n", sa.Integer))
    device = Device.init(str(tmp_path / "big.db"), metadata=meta, name="big")
    device.set_setting("sync.enabled", False)
    items = meta.tables["items"]
    with device.engine.begin() as conn:
        conn.execute(items.insert(), [{"id": new_id(), "n": i} for i in range(rows)])
    device.close()
    SqlSharedLog(str(tmp_path / "shared.db")).close()  # the window never creates a shared log without asking
    return str(tmp_path / "big.db"), str(tmp_path / "shared.db")


def test_closing_mid_sync_cancels_cleanly_and_loses_nothing(qtbot, run, tmp_path) -> None:
    db, remote = _big_device(tmp_path, 30_000)
    window = open_window(qtbot, run, config.Workspace(db=db, remote=remote))
    with qtbot.waitSignal(window.service.syncProgress, timeout=20000, check_params_cb=lambda stage, done, total: stage == "share" and done > 0):
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.service.syncFinished, timeout=30000) as finished:
        window.close()
    report, error = finished.args
    assert error is None and report.cancelled and 0 < report.sent < 30_000
    qtbot.waitUntil(lambda: window._shut_down, timeout=30000)
    # nothing lost: a second device ends up with every row
    device, shared = Device.open(db), SqlSharedLog(remote)
    other = Device.init(str(tmp_path / "other.db"), tables=(), metadata=_items_meta(), name="other")
    try:
        assert device.status().unshared == 30_000 - report.sent
        device.sync(shared)
        other.sync(shared)
        with other.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM items")).scalar_one() == 30_000
    finally:
        for closable in (device, shared, other):
            closable.close()


def _items_meta() -> sa.MetaData:
    meta = sa.MetaData()
    sa.Table("items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("n", sa.Integer))
    return meta


def test_an_unreachable_server_is_shown_as_offline_and_keeps_local_changes(qtbot, run, tmp_path) -> None:
    stamina.set_testing(True)  # no retry waits
    try:
        db, _ = _big_device(tmp_path, 3)
        config.save_token("http://127.0.0.1:9", "t0ken")  # what the open dialog does; the service reads it back
        window = open_window(qtbot, run, config.Workspace(db=db, remote="http://127.0.0.1:9"))
        assert window.service.reachability.value == "offline"
        assert window.banner.isVisible() and window.banner.level == "offline"
        assert window.state_label.text() == "Offline"
        retry = window.overview.attention.buttons()["remote_unreachable"]  # a finding too, whose fix is a sync
        assert retry.text() == "Retry sync"
        with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:
            qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
        assert finished.args[0] is None and finished.args[1] is not None
        assert window.banner.level == "offline" and window.overview.sync_button.isEnabled()
        assert window.service.status.unshared == 3
        qtbot.waitUntil(lambda: window.activity.model.rowCount() == 1, timeout=5000)
        assert window.activity.model.row_item(0).error is not None
        assert window.activity.model.data(window.activity.model.index(0, 7)).startswith("Failed: ")
        close_window(qtbot, window)
    finally:
        stamina.set_testing(False)
    token_file = config.config_dir() / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert config.load_token("http://127.0.0.1:9") == "t0ken"


def test_automatic_sync_and_review_policy_from_the_overview(qtbot, run, tmp_path) -> None:
    window = _demo(qtbot, run, tmp_path)
    overview = window.overview
    assert not overview.auto_check.isChecked() and overview.interval.value() == 300
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000):
        overview.auto_check.setChecked(True)  # the scheduler syncs once when it starts
    assert window.service.auto_sync_running
    qtbot.waitUntil(lambda: window.activity.model.rowCount() == 6, timeout=5000)  # the demo's five, and this one
    overview.auto_check.setChecked(False)
    qtbot.waitUntil(lambda: not window.service.auto_sync_running, timeout=10000)
    with qtbot.waitSignal(window.ops.finished, timeout=5000, check_params_cb=lambda what: what == "Review policy"):
        overview.review_check.setChecked(False)
    device = Device.open(window.service.workspace.db)
    try:
        assert device.review_policy()("products") is False
        assert device.setting("sync.enabled") is False
    finally:
        device.close()
    close_window(qtbot, window)


def test_the_window_layout_and_recent_workspaces_are_remembered(qtbot, run, tmp_path, config_dir) -> None:
    workspace = build_demo(tmp_path / "demo")
    window = open_window(qtbot, run, workspace)
    window.resize(1000, 640)
    window.show_view("devices")
    window.pending.splitter.setSizes([333, 444])
    sizes = window.pending.splitter.sizes()
    close_window(qtbot, window)
    assert (config_dir / "settings.ini").is_file()
    config.remember(workspace)
    assert config.recent()[0] == workspace
    again = open_window(qtbot, run, workspace)
    assert again.tabs.currentWidget() is again.devices
    assert again.height() == 640  # (the offscreen screen is 800 px wide: Qt clamps the width)
    assert again.pending.splitter.sizes() == sizes
    close_window(qtbot, again)


def test_sync_manager_demo_starts_as_a_process(tmp_path) -> None:
    env = {**os.environ, "SYNC_MANAGER_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "app", "--demo", str(tmp_path / "demo"), "--smoke-test"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "shop-north.db").is_file()
    assert config.Workspace(db=str((tmp_path / "demo" / "shop-north.db").resolve()), remote=str((tmp_path / "demo" / "shared.db").resolve())) in [
        w for w in _recent_in(tmp_path / "config")
    ]


def _recent_in(folder: Path) -> list[config.Workspace]:
    import json

    return [config.Workspace(**w) for w in json.loads((folder / "recent.json").read_text())]


@pytest.mark.parametrize("platform", [None, ""], ids=["platform-unset", "platform-empty"])
def test_without_a_display_the_demo_runs_offscreen_and_ends(tmp_path, platform) -> None:
    """The README's main job on a machine with no screen: it must not crash in Qt's display plugin."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    if platform is not None:  # QT_QPA_PLATFORM= (set, empty) chooses no platform either
        env["QT_QPA_PLATFORM"] = platform
    env["SYNC_MANAGER_CONFIG_DIR"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-m", "app", "--demo", str(tmp_path / "demo")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "no display found" in done.stderr
    assert (tmp_path / "demo" / "shop-north.db").is_file()


def test_without_a_display_a_database_that_cannot_open_says_why_on_stderr(tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("milk, eggs\n" * 100)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["SYNC_MANAGER_CONFIG_DIR"] = str(tmp_path / "config")
    for db in (str(notes), str(tmp_path / "nosuch.db")):
        done = subprocess.run([sys.executable, "-m", "app", db], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "sync-manager: Cannot open" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "nosuch.db").exists()
