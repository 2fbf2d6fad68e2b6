"""Add a device and Join another device in the Sync Manager, over real pairing on loopback (issue 13).

A shop of 12,000 rows syncs through an SQLite shared log. The side the window does
not play runs the engine in a test thread (``syncengine.join``, or ``Pairing.serve``
of a ``Device.pair``), so every transfer is a real one over TLS on 127.0.0.1. Waiting
is on the dialogs' signals and on conditions, never on time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import segno
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog

from app import config
from app.dialogs.add_device import AddDeviceDialog
from app.dialogs.join_device import JoinDialog
from app.dialogs.open_workspace import OpenDialog
from app.main import Controller
from app.services.pairing import Joined
from app.widgets.qr import BORDER
from app.window import MainWindow
from syncengine import Device, PairReport, RemoteUnavailable, SqlSharedLog, join

from .helpers import close_window, open_window

ROWS = 12_000  # several pages (they grow from 8 rows): progress is seen between them


def _shop(tmp_path: Path, rows: int = ROWS) -> dict[str, str]:
    """A shop device with ``rows`` products, synced once through an SQLite shared log; automatic sync off."""
    paths = {"shop": str(tmp_path / "shop.db"), "log": str(tmp_path / "shared.db")}
    con = sqlite3.connect(paths["shop"])
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"p{i:06d}", f"item {i}", i / 4) for i in range(rows)])
    con.commit()
    con.close()
    shop = Device.init(paths["shop"], ["products"], name="shop-north")
    shared = SqlSharedLog(paths["log"])
    try:
        shop.set_setting("sync.enabled", False)  # the window syncs only when the test says
        shop.sync(shared)
    finally:
        shop.close()
        shared.close()
    return paths


def _count(path: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM products").fetchone()[0])
    finally:
        con.close()


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``work`` in a thread; its result or exception lands in the returned dict."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["result"] = work()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _wrong_secret(code: str) -> str:
    """The code with one letter of its secret changed (letters 10-22 of the body carry the secret)."""
    body = list(code[len("SE1-") :].replace("-", ""))
    body[12] = "A" if body[12] != "A" else "B"
    text = "".join(body)
    return "SE1-" + "-".join(text[i : i + 5] for i in range(0, len(text), 5))


def _open_add(qtbot, window: MainWindow) -> AddDeviceDialog:
    window.pair_host = "127.0.0.1"
    window.add_action.trigger()
    dialog = window.add_dialog
    assert isinstance(dialog, AddDeviceDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: bool(dialog.code), timeout=10000)
    return dialog


def _qr_modules(dialog: AddDeviceDialog) -> list[list[bool]]:
    """Read the QR code back from the pixels the dialog shows: dark or not, module by module."""
    image = dialog.qr.pixmap().toImage()
    scale = dialog.qr.scale
    size = image.width() // scale - 2 * BORDER
    return [
        [
            image.pixelColor((c + BORDER) * scale + scale // 2, (r + BORDER) * scale + scale // 2).lightness() < 128
            for c in range(size)
        ]
        for r in range(size)
    ]


# -- Add a device ----------------------------------------------------------------------------------


def test_add_a_device_shows_a_code_that_joins_with_progress_and_the_new_device_ends_in_devices(
    qtbot, run, tmp_path
) -> None:
    paths = _shop(tmp_path)
    window = open_window(qtbot, run, config.Workspace(db=paths["shop"], remote=paths["log"]))
    dialog = _open_add(qtbot, window)
    code = dialog.code
    assert code.startswith("SE1-") and dialog.code_field.text() == code
    assert dialog.status.text() == "Waiting for a device…"
    expected = segno.make(code, error="m", micro=False).matrix
    assert _qr_modules(dialog) == [[bool(m) for m in row] for row in expected]  # the QR holds exactly the code
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == code

    seen: list[tuple[str, int, str, int]] = []
    assert dialog.transfer is not None
    dialog.transfer.progress.connect(
        lambda p: seen.append((p.direction, p.rows, dialog.status.text(), dialog.progress.value()))
    )
    dialog.poll.setInterval(50)  # ask the shared log often for the joined device (3 s in use)
    new = str(tmp_path / "till.db")
    with qtbot.waitSignal(dialog.joined, timeout=60000) as joined:
        thread, out = _in_thread(lambda: join(new, code, name="shop-till"))
    thread.join(60)
    assert "error" not in out, out.get("error")
    report: PairReport = joined.args[0]
    assert report.name == "shop-till" and report.sent == ROWS and report.device_id == out["result"].device_id
    partway = [
        (rows, text, value) for direction, rows, text, value in seen if direction == "sending" and 0 < rows < ROWS
    ]
    assert partway, seen  # progress shown between pages, the bar and the line agreeing
    assert all(text == f"Sending {rows:,} / 12,000 rows…" and value == rows for rows, text, value in partway)
    assert seen[-1][:2] == ("sending", ROWS)
    assert dialog.status.text().startswith("shop-till joined: sent 12,000 rows in ")
    assert "listed under Devices after its first sync" in dialog.detail.text()
    assert not dialog.code_field.text() and dialog.qr.pixmap().isNull()  # a used code is not shown any more
    assert dialog.cancel_button.text() == "Close"
    assert window.tabs.currentWidget() is window.devices
    assert "shop-till joined this device by pairing" in window.banner.text.text()
    assert "listed after its first sync" in window.devices.summary.text()
    assert _count(new) == ROWS

    till = Device.open(new)  # the joined device took the window's remote with the rows
    assert till.remote_settings() == {"url": str(Path(paths["log"]).absolute()), "user": None}
    with qtbot.waitSignal(dialog.listed, timeout=20000):
        shared = SqlSharedLog(paths["log"])
        try:
            assert till.sync(shared).received == 0  # its first sync registers it, and fetches only what came after
        finally:
            shared.close()
            till.close()
    assert dialog.detail.text().endswith("shop-till is listed under Devices.")
    devices = window.devices
    names = [devices.model.row_item(r).name for r in range(devices.model.rowCount())]
    assert sorted(names) == ["shop-north", "shop-till"]
    selected = devices.view.selectionModel().selectedRows()
    assert [devices.model.row_item(i.row()).device_id for i in selected] == [report.device_id]
    assert "listed after its first sync" not in devices.summary.text()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)  # Close
    qtbot.waitUntil(lambda: window.add_dialog is None or not window.add_dialog.isVisible(), timeout=5000)
    close_window(qtbot, window)


def test_cancel_while_waiting_stops_listening_so_the_code_no_longer_works(qtbot, run, tmp_path) -> None:
    paths = _shop(tmp_path, rows=10)
    window = open_window(qtbot, run, config.Workspace(db=paths["shop"], remote=paths["log"]))
    dialog = _open_add(qtbot, window)
    code = dialog.code
    with qtbot.waitSignal(dialog.rejected, timeout=10000):
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        assert dialog.status.text() == "Cancelling…"
    assert not window.service._cancels  # the serve has ended, and the listener with it
    with pytest.raises(RemoteUnavailable, match="cannot reach the device that made the code"):
        join(str(tmp_path / "late.db"), code, timeout=5)
    assert not (tmp_path / "late.db").exists()
    close_window(qtbot, window)


def test_closing_the_window_while_a_code_waits_stops_the_pairing(qtbot, run, tmp_path) -> None:
    paths = _shop(tmp_path, rows=10)
    window = open_window(qtbot, run, config.Workspace(db=paths["shop"], remote=paths["log"]))
    dialog = _open_add(qtbot, window)
    code = dialog.code
    close_window(qtbot, window)  # within its timeout, not after the code's ten minutes
    with pytest.raises(RemoteUnavailable):
        join(str(tmp_path / "late.db"), code, timeout=5)


def test_an_expired_code_says_so_in_a_sentence_and_new_code_makes_another(qtbot, run, tmp_path) -> None:
    paths = _shop(tmp_path, rows=10)
    window = open_window(qtbot, run, config.Workspace(db=paths["shop"], remote=paths["log"]))
    dialog = AddDeviceDialog(window.service, window, host="127.0.0.1", timeout=0.5)
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.error_row.isVisible(), timeout=20000)
    assert dialog.error_label.text() == "The pairing code expired before a device joined; make a new one."
    assert "RemoteUnavailable" in dialog.details and dialog.details_button.isVisible()
    assert not dialog.code_field.text() and dialog.again_button.isVisible() and dialog.cancel_button.text() == "Close"
    first = dialog.code
    dialog.timeout = 600
    qtbot.mouseClick(dialog.again_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.code != first and dialog.status.text() == "Waiting for a device…", timeout=10000)
    assert not dialog.error_row.isVisible() and not dialog.again_button.isVisible()
    with qtbot.waitSignal(dialog.rejected, timeout=10000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # closing cancels
    close_window(qtbot, window)


# -- Join another device -----------------------------------------------------------------------------


def _sender(
    tmp_path: Path, rows: int = ROWS, *, remote: bool = True
) -> tuple[dict[str, str], Any, threading.Thread, dict[str, Any]]:
    """A shop that shows a code (on 127.0.0.1) and serves it in a thread; with ``remote`` it hands its shared log over."""
    paths = _shop(tmp_path, rows)
    shop = Device.open(paths["shop"])
    if remote:
        shop.set_remote(paths["log"])
    pairing = shop.pair(host="127.0.0.1", timeout=120)

    def serve() -> PairReport:
        try:
            return pairing.serve()
        finally:
            shop.close()

    thread, out = _in_thread(serve)
    out["code"] = str(pairing.code)
    return paths, pairing, thread, out


def _fill(qtbot, dialog: JoinDialog, code: str, db: str | None = None, name: str = "") -> None:
    dialog.code.clear()
    qtbot.keyClicks(dialog.code, code)
    if db is not None:
        dialog.db.clear()
        qtbot.keyClicks(dialog.db, db)
    if name:
        qtbot.keyClicks(dialog.name, name)


def test_join_another_device_creates_the_database_opens_it_and_lists_it_in_devices(qtbot, loop, tmp_path) -> None:
    paths, _pairing, thread, out = _sender(tmp_path)
    controller = Controller()
    dialog = controller.join()  # a new machine: nothing open yet (the controller deletes the dialog once answered)
    assert not dialog.join_button.isEnabled()
    _fill(qtbot, dialog, out["code"], name="shop-till")
    assert dialog.code_hint.text().startswith("From the device at 127.0.0.1, port ")
    # Browse… for a file that does not exist yet
    browse = next(b for b in dialog.findChildren(type(dialog.join_button)) if b.text() == "Browse…")
    qtbot.mouseClick(browse, Qt.MouseButton.LeftButton)
    picker = dialog.picker
    assert isinstance(picker, QFileDialog) and picker.isVisible()
    picker.setDirectory(str(tmp_path))
    picker.selectFile(str(tmp_path / "till.db"))
    with qtbot.waitSignal(picker.fileSelected, timeout=5000):
        picker.accept()
    new = str(tmp_path / "till.db")
    assert dialog.db.text() == new and dialog.join_button.isEnabled()

    seen: list[str] = []
    dialog.progress.valueChanged.connect(lambda _v: seen.append(dialog.status.text()))
    with qtbot.waitSignal(dialog.joined, timeout=60000) as joined:
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
        assert not dialog.code.isEnabled() and not dialog.join_button.isEnabled()
    thread.join(60)
    assert "error" not in out, out.get("error")
    assert any(
        t.startswith("Receiving ") and t.endswith(" / 12,000 rows…") and t != "Receiving 12,000 / 12,000 rows…"
        for t in seen
    ), seen
    assert joined.args[0].report.received == ROWS and joined.args[0].remote == paths["log"]
    assert _count(new) == ROWS
    qtbot.waitUntil(lambda: controller.window is not None, timeout=20000)
    window = controller.window
    assert window is not None and window.service.workspace == config.Workspace(db=new, remote=paths["log"])
    assert window.tabs.currentWidget() is window.devices
    # its first sync registers it with the shared log: the Devices view lists it, selected
    devices = window.devices
    me = window.service.device_id
    assert me == out["result"].device_id
    qtbot.waitUntil(
        lambda: any(devices.model.row_item(r).device_id == me for r in range(devices.model.rowCount())), timeout=20000
    )
    assert sorted(devices.model.row_item(r).name for r in range(devices.model.rowCount())) == [
        "shop-north",
        "shop-till",
    ]
    selected = devices.view.selectionModel().selectedRows()
    assert [devices.model.row_item(i.row()).device_id for i in selected] == [me]
    assert config.recent()[0].db == new
    close_window(qtbot, window)
    qtbot.waitUntil(controller.done.is_set, timeout=5000)


def test_a_wrong_code_shows_a_sentence_and_the_right_one_then_joins(qtbot, loop, tmp_path) -> None:
    _paths, _pairing, thread, out = _sender(tmp_path, rows=50)
    dialog = JoinDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    new = tmp_path / "till.db"
    _fill(qtbot, dialog, "SE1-NOT-A-CODE", str(new))
    assert not dialog.join_button.isEnabled() and dialog.code_hint.text().startswith("Not a pairing code yet")
    _fill(qtbot, dialog, _wrong_secret(out["code"]))
    assert dialog.join_button.isEnabled()
    qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.error_row.isVisible(), timeout=30000)
    shown = dialog.error_label.text()
    assert shown.startswith("The other device refused: wrong pairing code") and shown.endswith(".")
    assert "Traceback" not in shown and "Traceback" in dialog.details and dialog.details_button.isVisible()
    assert not new.exists()  # nothing written
    assert dialog.join_button.text() == "&Join again" and dialog.code.isEnabled()
    qtbot.mouseClick(dialog.details_button, Qt.MouseButton.LeftButton)
    assert dialog._details_dialog is not None and "RemoteError" in dialog._details_dialog.text.toPlainText()
    _fill(qtbot, dialog, out["code"])  # the sender still waits after one wrong try
    with qtbot.waitSignal(dialog.accepted, timeout=60000):
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    thread.join(60)
    assert "error" not in out and _count(str(new)) == 50
    assert not dialog.error_row.isVisible()


def test_cancel_stops_a_join_mid_transfer_and_join_again_resumes(qtbot, loop, tmp_path) -> None:
    _paths, _pairing, thread, out = _sender(tmp_path)
    dialog = JoinDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    new = str(tmp_path / "till.db")
    _fill(qtbot, dialog, out["code"], new)
    qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    transfer = dialog.transfer
    assert transfer is not None
    forward = transfer.on_progress

    def cancel_after_the_first_batch(event) -> None:  # the transfer's thread: no race with its speed
        forward(event)
        transfer.cancel_event.set()

    transfer.on_progress = cancel_after_the_first_batch  # type: ignore[method-assign]  # before the join starts
    qtbot.waitUntil(lambda: dialog.error_row.isVisible(), timeout=30000)
    assert dialog.error_label.text().startswith("Cancelled. What arrived is kept: join again with the same code")
    assert dialog.isVisible() and dialog.join_button.text() == "&Join again"
    # a new database arrives as one file and appears once it is a whole device; what arrived waits beside it
    assert not Path(new).exists() and list(tmp_path.glob("till.db.joining-*"))
    with qtbot.waitSignal(dialog.joined, timeout=60000) as joined:
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    thread.join(60)
    assert joined.args[0].report.resumed and _count(new) == ROWS
    assert out["result"].device_id == joined.args[0].report.device_id


def test_a_join_that_brings_no_remote_asks_for_one_in_the_open_dialog(qtbot, loop, tmp_path) -> None:
    _paths, _pairing, thread, out = _sender(tmp_path, rows=20, remote=False)
    controller = Controller()
    dialog = controller.join()
    new = str(tmp_path / "till.db")
    _fill(qtbot, dialog, out["code"], new)
    with qtbot.waitSignal(dialog.joined, timeout=60000):
        qtbot.mouseClick(dialog.join_button, Qt.MouseButton.LeftButton)
    thread.join(60)

    def asking() -> OpenDialog | None:
        found = [w for w in QApplication.topLevelWidgets() if isinstance(w, OpenDialog) and w.isVisible()]
        return found[0] if found else None

    qtbot.waitUntil(lambda: asking() is not None, timeout=10000)
    chooser = asking()
    assert chooser is not None
    assert chooser.db.text() == new and chooser.remote.text() == ""
    assert chooser.note.text().startswith("The other device had no shared log to hand over")
    chooser.done(QDialog.DialogCode.Rejected)
    qtbot.waitUntil(controller.done.is_set, timeout=5000)  # nothing open: the app would end


# -- what a joined database needs ------------------------------------------------------------------


def test_a_joined_database_asks_for_a_remote_it_cannot_use_here(tmp_path: Path) -> None:
    report = PairReport("d1", "till")
    here = tmp_path / "shared.db"
    here.write_bytes(b"")

    def joined(remote: str) -> Joined:
        return Joined(str(tmp_path / "till.db"), report, remote, "default")

    assert joined(str(here)).needs_asking() == ""
    assert joined(f"sqlite:///{here}").needs_asking() == ""
    assert joined("postgresql://me@db.example.com/sync").needs_asking() == ""
    assert joined("").needs_asking().startswith("The other device had no shared log")
    assert "is not on this machine" in joined(str(tmp_path / "elsewhere.db")).needs_asking()
    assert "token" in joined("https://sync.example.com").needs_asking()
    config.save_token("https://sync.example.com", "t0ken")
    assert joined("https://sync.example.com").needs_asking() == ""
