"""End-to-end encryption from the Sync Manager: the lock, the Encryption… dialog and the banner of a locked-out device.

Two real SQLite devices share a real ``SqlSharedLog`` file. Device A sets encryption
up through the dialog; device B, refused by its sync, is unlocked through the banner
(a wrong passphrase first, said inline), syncs, and has A's row, while the shared
log's file holds no byte of it. Rotation (chained, then one that other devices must
follow with the passphrase) and a new passphrase go through the dialog too.

Keys go to files in a folder of the test's own (``SYNCENGINE_CONFIG_DIR``), and
Argon2id runs at a low cost (the service's ``COST`` hook) so the tests stay quick.
Every wait is on a signal or a condition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt

from app import config
from app.dialogs.encryption import PASSPHRASE, ROTATE, SETUP, UNLOCK, EncryptionDialog
from app.services import encryption as encryption_service
from app.services.encryption import LockState, check_new, lock_state
from app.widgets.lock import EncryptionUi, install
from app.window import MainWindow
from syncengine import Device, KeyMissing, KeyStatus, SqlSharedLog, new_id

from .helpers import close_window, open_window

CHEAP = {"memory_kib": 1024, "iterations": 1, "lanes": 1}
SECRET = "Sesame-7f3a-private-recipe"
PASS = "correct horse battery staple"
NEW_PASS = "purple elephant juggles seven lanterns"

meta = sa.MetaData()
notes = sa.Table("notes", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("text", sa.String(80)))


@pytest.fixture(autouse=True)
def key_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keys go to files in the test's own folder (never the system keyring); Argon2id is cheap."""
    folder = tmp_path / "engine-config"
    monkeypatch.setenv("SYNCENGINE_CONFIG_DIR", str(folder))
    monkeypatch.setattr(encryption_service, "COST", CHEAP)
    return folder


@pytest.fixture
def world(tmp_path: Path) -> dict[str, str]:
    """Two devices (automatic sync off, so only the test syncs) and an empty shared-log file."""
    paths = {"a": str(tmp_path / "a.db"), "b": str(tmp_path / "b.db"), "shared": str(tmp_path / "shared.db")}
    for name in ("a", "b"):
        device = Device.init(paths[name], metadata=meta, name=f"device-{name}")
        device.set_setting("sync.enabled", False)
        device.close()
    SqlSharedLog(paths["shared"]).close()
    return paths


def _write(path: str, text: str) -> None:
    device = Device.open(path)
    try:
        with device.engine.begin() as conn:
            conn.execute(notes.insert().values(id=new_id(), text=text))
    finally:
        device.close()


def _texts(path: str) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(sa.select(notes.c.text))}
    finally:
        engine.dispose()


def _file_bytes(path: str) -> bytes:
    """The shared log's database file as anyone holding it could read it (its WAL too)."""
    found = Path(path).read_bytes()
    wal = Path(path + "-wal")
    return found + (wal.read_bytes() if wal.exists() else b"")


def _open(qtbot: Any, run: Any, world: dict[str, str], name: str) -> tuple[MainWindow, EncryptionUi]:
    window = open_window(qtbot, run, config.Workspace(db=world[name], remote=world["shared"]))
    ui = install(window)
    qtbot.waitUntil(lambda: ui.keys.status is not None, timeout=10000)
    return window, ui


def _sync(qtbot: Any, window: MainWindow) -> Any:
    """Press Sync now; return the error the sync ended with (None when it succeeded), once the window has shown it."""
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:
        qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Sync" not in window.ops.running, timeout=10000)
    return finished.args[1]


def _type(qtbot: Any, field: Any, text: str) -> None:
    field.clear()
    qtbot.keyClicks(field, text)


def _submit(qtbot: Any, dialog: EncryptionDialog, field: Any, text: str) -> None:
    """Type ``text`` into ``field`` and press Return; wait until the dialog said how it went."""
    _type(qtbot, field, text)
    dialog.say("", "info")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.message.isVisible() and dialog.task is not None and dialog.task.done(), timeout=20000)


def test_set_up_on_one_device_unlock_another_through_the_banner_and_the_log_keeps_no_secret(qtbot, run, world, key_folder) -> None:
    window, ui = _open(qtbot, run, world, "a")
    assert ui.lock.state is LockState.OPEN and ui.lock.text() == "Not encrypted"
    assert not ui.banner.isVisible()
    assert ui.action in window.menuBar().actions()[1].menu().actions()  # Sync → Encryption…

    ui.action.trigger()
    dialog = ui.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.current() == SETUP and dialog.available() == {SETUP}
    # too short: refused, said live; weak: said, allowed; the two must match
    qtbot.keyClicks(dialog.new, "abc")
    assert not dialog.setup_page.button.isEnabled() and "Too short" in dialog.setup_strength.text()
    _type(qtbot, dialog.new, "password1")
    _type(qtbot, dialog.repeat, "password1")
    assert dialog.setup_page.button.isEnabled() and "Weak passphrase" in dialog.setup_strength.text()
    _type(qtbot, dialog.new, PASS)
    assert not dialog.setup_page.button.isEnabled() and "differ" in dialog.setup_strength.text()
    assert "Weak" not in dialog.setup_strength.text()
    _submit(qtbot, dialog, dialog.repeat, PASS)
    key_id = ui.keys.status.key_id
    assert "encrypted from now on, with key " + key_id in dialog.message.text()
    assert dialog.message.property("level") == "info"
    kept = str(key_folder / "keys")
    assert kept in dialog.message.text() and kept in dialog.summary.text()
    assert dialog.new.text() == dialog.repeat.text() == ""  # no passphrase stays in a widget
    assert dialog.available() == {UNLOCK, ROTATE, PASSPHRASE}
    assert ui.lock.state is LockState.ENCRYPTED and ui.lock.text() == f"Encrypted · {key_id[:8]}"
    assert kept in ui.lock.toolTip()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)

    _write(world["a"], SECRET)
    assert _sync(qtbot, window) is None
    close_window(qtbot, window)

    # B: the log is encrypted and B has no key: locked, with a banner, before any sync
    window, ui = _open(qtbot, run, world, "b")
    _write(world["b"], "written on b")
    qtbot.waitUntil(ui.banner.isVisible, timeout=10000)
    assert ui.lock.state is LockState.LOCKED and ui.lock.text() == "Locked — no key"
    assert "has no key" in ui.banner.text.text()
    error = _sync(qtbot, window)
    assert isinstance(error, KeyMissing)
    assert ui.banner.isVisible() and "syncengine key join" in ui.banner.toolTip()
    assert not window.banner.isVisible()  # one banner says it, the one with Unlock…
    assert _texts(world["b"]) == {"written on b"}  # its own writes kept

    qtbot.mouseClick(ui.banner.unlock_button, Qt.MouseButton.LeftButton)
    dialog = ui.dialog
    assert dialog is not None and dialog.current() == UNLOCK and dialog.available() == {UNLOCK}
    _submit(qtbot, dialog, dialog.unlock_field, "correct horse battery stable")
    assert dialog.message.property("level") == "error"
    assert dialog.message.text().startswith("the passphrase does not unlock the shared log's keys")
    assert "Traceback" not in dialog.message.text() and not window.banner.isVisible()
    assert dialog.unlock_field.text() == "correct horse battery stable"  # kept, selected for another try
    assert dialog.unlock_field.selectedText() == dialog.unlock_field.text()
    assert ui.banner.isVisible()

    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:  # unlocking syncs at once
        _submit(qtbot, dialog, dialog.unlock_field, PASS)
    assert finished.args[1] is None
    assert dialog.message.text().startswith(f"Unlocked: this device holds key {key_id} now, kept in the file ")
    assert str(key_folder / "keys") in dialog.summary.text()
    qtbot.waitUntil(lambda: not ui.banner.isVisible(), timeout=10000)
    assert ui.lock.state is LockState.ENCRYPTED
    assert _texts(world["b"]) == {SECRET, "written on b"}
    close_window(qtbot, window)

    shared = _file_bytes(world["shared"])
    assert SECRET.encode() not in shared and b"written on b" not in shared
    assert len(shared) > 0


def _encrypted_world(world: dict[str, str]) -> str:
    """A sets encryption up and B joins, through the API; both have synced once. Returns the key id."""
    shared = SqlSharedLog(world["shared"])
    a, b = Device.open(world["a"]), Device.open(world["b"])
    try:
        key_id = a.setup_encryption(shared, PASS, cost=CHEAP).key_id
        b.join_encryption(shared, PASS)
        a.sync(shared)
        b.sync(shared)
        assert key_id is not None
        return key_id
    finally:
        for closable in (a, b, shared):
            closable.close()


def _status_of(world: dict[str, str], name: str, sync: bool = False) -> KeyStatus:
    shared = SqlSharedLog(world["shared"])
    device = Device.open(world[name])
    try:
        if sync:
            device.sync(shared)
        return device.encryption_status(shared)
    finally:
        device.close()
        shared.close()


def test_rotate_and_change_the_passphrase_from_the_dialog(qtbot, run, world) -> None:
    first = _encrypted_world(world)
    window, ui = _open(qtbot, run, world, "a")
    assert ui.lock.state is LockState.ENCRYPTED
    dialog = ui.open_dialog()
    assert dialog.current() == ROTATE and not dialog.rotate_page.button.isEnabled()

    _submit(qtbot, dialog, dialog.rotate_field, "not the passphrase")
    assert dialog.message.property("level") == "error" and "does not unlock" in dialog.message.text()
    assert ui.keys.status.key_id == first and dialog.rotate_field.text() == "not the passphrase"
    _submit(qtbot, dialog, dialog.rotate_field, PASS)  # chained: the others follow by themselves
    second = ui.keys.status.key_id
    assert second != first
    assert dialog.message.text().startswith(f"New batches are encrypted with key {second}; other devices take it")
    assert ui.lock.text() == f"Encrypted · {second[:8]}"
    assert _status_of(world, "b", sync=True).key_id == second

    # after a device was lost: a new passphrase, then a key the others must type for
    dialog.show_page(PASSPHRASE)
    _type(qtbot, dialog.old, "wrong old passphrase")
    _type(qtbot, dialog.changed_new, NEW_PASS)
    _submit(qtbot, dialog, dialog.changed_repeat, NEW_PASS)
    assert "does not unlock" in dialog.message.text() and dialog.changed_new.text() == NEW_PASS
    assert dialog.old.selectedText() == "wrong old passphrase"
    _type(qtbot, dialog.old, PASS)
    _submit(qtbot, dialog, dialog.changed_repeat, NEW_PASS)
    assert dialog.message.text().startswith("The passphrase is changed")

    dialog.show_page(ROTATE)
    qtbot.keyClick(dialog.unchained, Qt.Key.Key_Space)
    assert dialog.unchained.isChecked()
    _submit(qtbot, dialog, dialog.rotate_field, NEW_PASS)
    third = ui.keys.status.key_id
    assert third not in (first, second)
    assert "every other device needs Unlock with the passphrase" in dialog.message.text()
    assert not dialog.unchained.isChecked()
    _write(world["a"], SECRET)
    assert _sync(qtbot, window) is None
    close_window(qtbot, window)

    # B holds the old keys but cannot take the new one: refused, banner, unlock with the new passphrase
    window, ui = _open(qtbot, run, world, "b")
    assert ui.lock.state is LockState.ENCRYPTED  # as far as it knows, until a sync says otherwise
    assert isinstance(_sync(qtbot, window), KeyMissing)
    qtbot.waitUntil(ui.banner.isVisible, timeout=10000)
    assert "key was replaced" in ui.banner.text.text() and ui.lock.state is LockState.LOCKED
    dialog = ui.open_dialog()
    assert dialog.current() == UNLOCK
    _submit(qtbot, dialog, dialog.unlock_field, PASS)
    assert "does not unlock" in dialog.message.text()
    with qtbot.waitSignal(window.service.syncFinished, timeout=20000) as finished:
        _submit(qtbot, dialog, dialog.unlock_field, NEW_PASS)
    assert finished.args[1] is None and ui.keys.status.key_id == third
    qtbot.waitUntil(lambda: not ui.banner.isVisible(), timeout=10000)
    assert SECRET in _texts(world["b"])
    close_window(qtbot, window)
    assert SECRET.encode() not in _file_bytes(world["shared"])


def test_without_a_shared_log_the_dialog_says_why_nothing_can_be_done(qtbot, run, tmp_path) -> None:
    db = str(tmp_path / "alone.db")
    Device.init(db, metadata=meta, name="alone").close()
    window = open_window(qtbot, run, config.Workspace(db=db))
    ui = install(window)
    qtbot.waitUntil(lambda: ui.keys.status is not None, timeout=10000)
    assert ui.lock.state is LockState.OPEN and not ui.banner.isVisible()
    dialog = ui.open_dialog()
    assert dialog.available() == set()
    assert "No shared log is open" in dialog.summary.text()
    assert not any(dialog.tabs.isTabEnabled(i) for i in range(dialog.tabs.count()))
    close_window(qtbot, window)


def test_the_lock_state_and_the_rules_for_a_new_passphrase() -> None:
    plain = KeyStatus(False, None, 0, None, False)
    mine = KeyStatus(True, "k1", 1, "the system keyring", True, "k1", 0)
    theirs = KeyStatus(False, None, 0, None, True, "k1", 0)
    assert lock_state(None, "") is LockState.UNKNOWN
    assert lock_state(plain, "") is LockState.OPEN
    assert lock_state(mine, "") is LockState.ENCRYPTED
    assert lock_state(theirs, "") is LockState.LOCKED
    assert lock_state(mine, "the key was replaced") is LockState.LOCKED
    assert check_new("short", "short").startswith("Use at least 8 characters")
    assert check_new("long enough", "long enougH") == "The two passphrases differ."
    assert check_new("long enough", "long enough") == ""
    assert encryption_service.strength("x" * 200)[0] >= 0  # zxcvbn refuses more than 72 characters


def test_install_is_done_once_per_window(qtbot, run, world) -> None:
    window, ui = _open(qtbot, run, world, "a")
    assert install(window) is ui
    assert window.statusBar().findChildren(type(ui.lock)) == [ui.lock]
    assert [a.text() for a in window.menuBar().actions()[1].menu().actions()].count("&Encryption…") == 1
    close_window(qtbot, window)


def test_the_passphrase_work_runs_in_a_worker_while_the_dialog_says_it_is_working(qtbot, run, world, monkeypatch) -> None:
    """Argon2id must not hold the UI thread: the engine call is held in its worker until the test saw the dialog wait."""
    import threading

    ui_thread = threading.current_thread()
    entered, release = threading.Event(), threading.Event()
    seen: list[threading.Thread] = []
    setup = Device.setup_encryption

    def held(self: Device, *args: Any, **kwargs: Any) -> KeyStatus:
        seen.append(threading.current_thread())
        entered.set()
        release.wait(20)
        return setup(self, *args, **kwargs)

    monkeypatch.setattr(Device, "setup_encryption", held)
    window, ui = _open(qtbot, run, world, "a")
    dialog = ui.open_dialog()
    _type(qtbot, dialog.new, PASS)
    _type(qtbot, dialog.repeat, PASS)
    qtbot.keyClick(dialog.repeat, Qt.Key.Key_Return)
    qtbot.waitUntil(entered.is_set, timeout=10000)  # the UI thread turns while the worker is held
    assert seen and seen[0] is not ui_thread
    assert dialog.working.isVisible() and not dialog.tabs.isEnabled()
    assert dialog.repeat.text() == PASS  # still there while it works
    release.set()
    qtbot.waitUntil(lambda: dialog.task is not None and dialog.task.done(), timeout=10000)
    assert not dialog.working.isVisible() and dialog.tabs.isEnabled()
    assert ui.lock.state is LockState.ENCRYPTED
    close_window(qtbot, window)
