"""A shared log that is not there: the window opens anyway, nothing is created without asking, and the person chooses.

The three ways out of the question (create, choose another, work offline) are driven
on a real window over a real SQLite device; the shared log's file is checked on disk.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app import config
from app.main import Controller
from syncengine import Device, SqlSharedLog

from .helpers import close_window


def _device(tmp_path: Path) -> str:
    import sqlalchemy as sa

    meta = sa.MetaData()
    sa.Table("notes", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("text", sa.String(80)))
    path = str(tmp_path / "laptop.db")
    Device.init(path, metadata=meta, name="laptop").close()
    return path


def _open(qtbot, run, workspace: config.Workspace):
    controller = Controller()
    window = run(controller.open(workspace))
    assert window is not None and window.isVisible()  # a window, whatever the remote
    qtbot.waitUntil(lambda: window.missing_box is not None and window.missing_box.isVisible(), timeout=10000)
    return controller, window


@pytest.mark.parametrize("where", ["file", "folder"])
def test_a_missing_log_is_not_created_and_work_offline_keeps_the_window(qtbot, run, tmp_path, where) -> None:
    remote = tmp_path / "shared.db" if where == "file" else tmp_path / "usb-stick" / "shared.db"
    controller, window = _open(qtbot, run, config.Workspace(db=_device(tmp_path), remote=str(remote)))
    box = window.missing_box
    assert "There is no shared log at" in box.text()
    assert [b.text() for b in (box.create_button, box.choose_button, box.offline_button)] == [
        "&Create a new shared log", "C&hoose another…", "Work &offline",
    ]
    qtbot.keyClick(box, Qt.Key.Key_Escape)  # Escape: work offline
    qtbot.waitUntil(lambda: window.missing_box is None, timeout=5000)
    qtbot.waitUntil(lambda: window._loaded, timeout=10000)
    assert window.isVisible()
    assert window.overview.reach_label.text() == "No shared log there — working offline"
    assert window.state_label.text() == "No shared log — working offline"
    assert window.banner.isVisible() and "No shared log" in window.banner.text.text()
    qtbot.waitUntil(lambda: "log_missing" in window.overview.attention.buttons(), timeout=10000)
    assert not remote.exists() and not remote.parent.joinpath("shared.db-wal").exists()
    # Sync now looks again, and asks again rather than pushing into a new log
    qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.missing_box is not None and window.missing_box.isVisible(), timeout=10000)
    assert not remote.exists()
    qtbot.mouseClick(window.missing_box.offline_button, Qt.MouseButton.LeftButton)
    close_window(qtbot, window)
    assert controller.done.is_set()


def test_create_makes_the_log_and_its_folder_only_when_asked(qtbot, run, tmp_path) -> None:
    remote = tmp_path / "new-folder" / "shared.db"
    _controller, window = _open(qtbot, run, config.Workspace(db=_device(tmp_path), remote=str(remote)))
    assert not remote.exists()
    qtbot.mouseClick(window.missing_box.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.service.reachability.value == "reachable", timeout=10000)
    assert remote.is_file()
    assert window.overview.reach_label.text() == "Reachable"
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    assert finished.args[1] is None
    qtbot.waitUntil(lambda: "1 device shares" in window.devices.summary.text(), timeout=10000)
    close_window(qtbot, window)
    shared = SqlSharedLog(str(remote), create=False)
    try:
        assert [d.name for d in shared.devices()] == ["laptop"]
    finally:
        shared.close()


def test_choose_another_opens_the_chooser_on_this_database_and_opens_the_right_log(qtbot, run, tmp_path) -> None:
    db = _device(tmp_path)
    right = tmp_path / "real" / "shared.db"
    right.parent.mkdir()
    SqlSharedLog(str(right)).close()
    controller, window = _open(qtbot, run, config.Workspace(db=db, remote=str(tmp_path / "typo.db")))
    qtbot.mouseClick(window.missing_box.choose_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.chooser is not None and controller.chooser.isVisible(), timeout=5000)
    dialog = controller.chooser
    assert dialog.db.text() == db and dialog.remote.text().endswith("typo.db")
    dialog.remote.setText(str(right))
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Open), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.window is not None and controller.window is not window, timeout=10000)
    opened = controller.window
    qtbot.waitUntil(lambda: opened.service.reachability.value == "reachable", timeout=10000)
    assert not (tmp_path / "typo.db").exists()
    close_window(qtbot, opened)


def test_a_database_that_cannot_open_leads_to_the_chooser_not_to_a_process_without_a_window(qtbot, loop, tmp_path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("milk, eggs\n" * 100)
    controller = Controller()
    opening = asyncio.ensure_future(controller.open(config.Workspace(db=str(notes), remote="")))
    qtbot.waitUntil(opening.done, timeout=10000)
    assert opening.result() is None
    dialog = controller.chooser
    assert dialog is not None and dialog.isVisible()
    assert "is not an SQLite database" in dialog.note.text() and dialog.db.text() == str(notes)
    dialog.reject()  # nothing else open: the app ends rather than idling without a window
    qtbot.waitUntil(controller.done.is_set, timeout=5000)


def test_a_log_moved_away_while_open_asks_again_and_a_copy_put_back_syncs(qtbot, run, tmp_path) -> None:
    remote = tmp_path / "shared.db"
    SqlSharedLog(str(remote)).close()
    controller = Controller()
    window = run(controller.open(config.Workspace(db=_device(tmp_path), remote=str(remote))))
    qtbot.waitUntil(lambda: window.service.reachability.value == "reachable", timeout=10000)
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as first:
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    assert first.args[1] is None
    backup = tmp_path / "backup.db"
    remote.rename(backup)  # moved away while the window holds it open
    qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.missing_box is not None and window.missing_box.isVisible(), timeout=20000)
    assert "There is no shared log at" in window.missing_box.text()
    assert window.state_label.text() == "No shared log — working offline" and not remote.exists()
    qtbot.mouseClick(window.missing_box.offline_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.missing_box is None, timeout=5000)
    backup.rename(remote)  # the backup restored: Sync now finds it and syncs
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as again:
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    assert again.args[1] is None
    qtbot.waitUntil(lambda: window.service.reachability.value == "reachable", timeout=10000)
    close_window(qtbot, window)
    assert controller.done.is_set()


def test_a_database_opened_without_a_remote_syncs_with_the_one_it_remembers(qtbot, run, tmp_path) -> None:
    db, remote = _device(tmp_path), tmp_path / "shared.db"
    SqlSharedLog(str(remote)).close()
    device = Device.open(db)
    device.set_remote(str(remote))  # as `syncengine init --remote` or `config --remote` leave it
    device.close()
    controller = Controller()
    window = run(controller.open(config.Workspace(db=db, remote="")))  # `sync-manager laptop.db`
    qtbot.waitUntil(lambda: window.service.reachability.value == "reachable", timeout=10000)
    assert window.service.workspace.remote == str(remote)
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as done:
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    assert done.args[1] is None
    assert config.recent()[0] == config.Workspace(db=db, remote=str(remote))  # the next start finds it too
    close_window(qtbot, window)
