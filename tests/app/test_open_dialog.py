"""File → Open: a file from the picker or a URL, recent workspaces remembered, a server token kept private."""

from __future__ import annotations

import json
import stat

import stamina
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QPushButton

from app import config
from app.demo import build_demo
from app.dialogs.open_workspace import OpenDialog
from app.main import Controller

from .helpers import close_window


def _open_button(dialog: OpenDialog) -> QPushButton:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Open)


def _browse_buttons(dialog: OpenDialog) -> list[QPushButton]:
    return [b for b in dialog.findChildren(QPushButton) if b.text() == "Browse…"]


def test_the_file_picker_fills_in_the_database_and_the_remote(qtbot, tmp_path) -> None:
    shop, shared = tmp_path / "shop.db", tmp_path / "shared.db"
    shop.write_bytes(b"")
    shared.write_bytes(b"")
    dialog = OpenDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert not _open_button(dialog).isEnabled()  # nothing chosen yet
    for button, line, path in zip(_browse_buttons(dialog), (dialog.db, dialog.remote), (shop, shared), strict=True):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        picker = dialog.picker
        assert isinstance(picker, QFileDialog) and picker.isVisible()
        assert picker.fileMode() == QFileDialog.FileMode.ExistingFile
        picker.setDirectory(str(tmp_path))
        picker.selectFile(str(path))
        with qtbot.waitSignal(picker.fileSelected, timeout=5000):
            picker.accept()
        assert line.text() == str(path)
    assert _open_button(dialog).isEnabled()
    assert not dialog.token.isEnabled()  # a shared-log file needs no token
    assert dialog.workspace() == config.Workspace(db=str(shop), remote=str(shared))
    assert dialog.chosen_token() is None
    # the next picker starts in the folder of what is there now
    qtbot.mouseClick(_browse_buttons(dialog)[0], Qt.MouseButton.LeftButton)
    assert dialog.picker.directory().absolutePath() == str(tmp_path)
    dialog.picker.reject()


def test_urls_are_typed_and_a_server_remote_asks_for_a_token(qtbot) -> None:
    dialog = OpenDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.db, "postgresql://me@db.example.com/shop")
    qtbot.keyClicks(dialog.remote, "postgresql://me@db.example.com/shared")
    assert not dialog.token.isEnabled() and not dialog.remember.isEnabled()
    dialog.remote.clear()
    qtbot.keyClicks(dialog.remote, "https://sync.example.com")
    assert dialog.token.isEnabled() and dialog.remember.isEnabled()
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password
    qtbot.keyClicks(dialog.token, "  s3cret  ")
    assert dialog.workspace() == config.Workspace(db="postgresql://me@db.example.com/shop", remote="https://sync.example.com")
    assert dialog.chosen_token() == "s3cret" and dialog.remember_token()
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        qtbot.mouseClick(_open_button(dialog), Qt.MouseButton.LeftButton)


def test_recent_workspaces_live_in_the_config_folder_and_fill_the_dialog(qtbot, config_dir) -> None:
    older = config.Workspace(db="/data/shop-a.db", remote="/data/shared.db")
    newer = config.Workspace(db="postgresql://me@host/shop", remote="https://sync.example.com")
    config.remember(older)
    config.remember(newer)
    config.remember(older)  # opened again: first, and listed once
    saved = json.loads((config_dir / "recent.json").read_text(encoding="utf-8"))
    assert [item["db"] for item in saved] == [older.db, newer.db]
    config.save_token(newer.remote, "t0ken")
    dialog = OpenDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.recent.isVisible() and dialog.recent.count() == 2
    dialog.recent.setCurrentRow(1)
    assert dialog.workspace() == newer and dialog.token.text() == "t0ken"  # the stored token comes back
    dialog.recent.setCurrentRow(0)
    assert dialog.workspace() == older and dialog.token.text() == "" and not dialog.token.isEnabled()


def test_opening_from_the_dialog_remembers_the_workspace_and_keeps_the_token_private(qtbot, loop, tmp_path, config_dir) -> None:
    stamina.set_testing(True)  # the server below refuses connections: no retry waits
    controller = Controller()
    try:
        demo = build_demo(tmp_path / "demo")
        dialog = controller.choose()  # deletes itself once answered
        qtbot.keyClicks(dialog.db, demo.db)
        qtbot.keyClicks(dialog.remote, "http://127.0.0.1:9")
        qtbot.keyClicks(dialog.token, "t0ken-42")
        qtbot.mouseClick(_open_button(dialog), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: controller.window is not None and controller.window.service.status is not None, timeout=20000)
        window = controller.window
        assert window is not None
        qtbot.waitUntil(lambda: window.service.reachability.value == "offline", timeout=20000)
        assert config.recent()[0] == config.Workspace(db=demo.db, remote="http://127.0.0.1:9")
        tokens = config_dir / "tokens.json"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        assert json.loads(tokens.read_text(encoding="utf-8")) == {f"http://127.0.0.1:9 for {demo.db}": "t0ken-42"}
        assert "t0ken" not in (config_dir / "recent.json").read_text(encoding="utf-8")
        close_window(qtbot, window)
        qtbot.waitUntil(controller.done.is_set, timeout=5000)
    finally:
        stamina.set_testing(False)
