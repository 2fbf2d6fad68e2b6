"""Progress that means something: the bar fills by the backlog known at the start, the cards move during
the sync, and Cancel or Pause stops automatic sync instead of letting it start again a second later."""

from __future__ import annotations

import sqlalchemy as sa
from PySide6.QtCore import Qt

from app import config
from app.services.progress import WAITING, SyncProgress
from syncengine import Device, SqlSharedLog, new_id

from .helpers import close_window, open_window

ROWS = 30_000


def test_the_reading_counts_against_the_backlog_with_rate_and_time_left() -> None:
    progress = SyncProgress(to_receive=1_000, to_send=3_000, started_at=100.0)
    first = progress.update("receive", 1_000, now=100.2)
    assert (first.value, first.maximum) == (1_000, 4_000)
    assert first.text == "Receiving… 1,000 of 4,000 entries"  # too early for a rate
    later = progress.update("share", 1_000, now=102.0)
    assert (later.value, later.maximum) == (2_000, 4_000)
    assert later.text == "Sending… 2,000 of 4,000 entries · 1,000/s · about 2 s left"
    applying = progress.update("reconcile", 5, now=103.0)
    assert applying.maximum == 0 and applying.text == "Applying… 5 entries"


def test_an_unknown_backlog_to_receive_shows_a_busy_bar_until_sending() -> None:
    progress = SyncProgress(to_receive=None, to_send=10, started_at=0.0)
    assert progress.update("receive", 3, now=1.0).maximum == 0
    sending = progress.update("share", 5, now=2.0)
    assert (sending.value, sending.maximum) == (8, 13)  # what arrived counts too, once it is known


def _big(tmp_path) -> config.Workspace:
    meta = sa.MetaData()
    items = sa.Table("items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("n", sa.Integer))
    device = Device.init(str(tmp_path / "big.db"), metadata=meta, name="big")
    device.set_setting("sync.enabled", False)
    with device.engine.begin() as conn:
        conn.execute(items.insert(), [{"id": new_id(), "n": i} for i in range(ROWS)])
    device.close()
    SqlSharedLog(str(tmp_path / "shared.db")).close()
    return config.Workspace(db=str(tmp_path / "big.db"), remote=str(tmp_path / "shared.db"))


def test_the_bar_fills_by_the_entries_waiting_and_the_card_counts_down(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, _big(tmp_path))
    overview = window.overview
    assert overview.unshared_card.number.text() == f"{ROWS:,}"
    seen: list[tuple[int, int, str, str]] = []

    def look(stage: str, done: int, _total: int) -> None:
        if stage == "share" and done:
            seen.append((overview.progress.value(), overview.progress.maximum(), overview.progress_label.text(), overview.unshared_card.number.text()))

    window.service.syncProgress.connect(look)
    with qtbot.waitSignal(window.service.syncFinished, timeout=60000) as finished:
        qtbot.mouseClick(overview.sync_button, Qt.MouseButton.LeftButton)
    report, error = finished.args
    assert error is None and report.sent == ROWS
    mid = [s for s in seen if s[0] < ROWS]
    assert mid, "the bar was seen part-filled"
    value, maximum, text, card = mid[0]
    assert maximum == ROWS and 0 < value < ROWS
    assert text.startswith(f"Sending… {value:,} of {ROWS:,} entries")
    assert int(card.replace(",", "")) == ROWS - value  # the card counted down with the sync
    qtbot.waitUntil(lambda: overview.unshared_card.number.text() == "0", timeout=10000)
    close_window(qtbot, window)


def test_cancel_pauses_automatic_sync_until_resume_and_pause_sits_beside_cancel(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, _big(tmp_path))
    overview, service = window.overview, window.service
    assert not overview.pause_button.isVisible() and not window.pause_action.isEnabled()  # automatic sync is off
    with qtbot.waitSignal(service.syncProgress, timeout=30000, check_params_cb=lambda stage, done, _t: stage == "share" and done > 0):
        overview.auto_check.setChecked(True)  # the scheduler syncs at once
    assert overview.pause_button.isVisible() and overview.pause_button.text() == "&Pause"
    assert window.pause_action.isEnabled() and window.pause_action.shortcut().toString() == "Ctrl+Shift+P"
    assert overview.pause_button.parentWidget() is overview.cancel_button.parentWidget()
    with qtbot.waitSignal(service.syncFinished, timeout=30000) as finished:
        qtbot.mouseClick(overview.cancel_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].cancelled
    qtbot.waitUntil(lambda: not service.auto_sync_running, timeout=10000)
    # the scheduler is gone (not waiting to sync the entries left a second later): paused, and it says so
    assert service.paused and overview.pause_button.text() == "&Resume"
    assert window.pause_action.text() == "&Resume automatic sync"  # the Sync menu says the same
    assert overview.progress_label.text() == "Cancelled — nothing is lost — automatic sync paused until you resume it"
    assert overview.auto_check.isChecked()  # the stored setting is unchanged
    assert 0 < finished.args[0].sent < ROWS
    qtbot.waitUntil(lambda: service.status.unshared == ROWS - finished.args[0].sent, timeout=10000)
    left = service.status.unshared
    with qtbot.waitSignal(service.syncFinished, timeout=60000) as finished:
        qtbot.mouseClick(overview.pause_button, Qt.MouseButton.LeftButton)  # Resume
    assert not service.paused and service.auto_sync_running and finished.args[0].sent == left
    close_window(qtbot, window)


def test_a_sync_waiting_for_another_programs_says_so() -> None:
    progress = SyncProgress(to_receive=10, to_send=5, started_at=0.0)
    reading = progress.update(WAITING, 0, 1.0)
    assert reading.maximum == 0 and "another program's sync of this database" in reading.text
    assert progress.moved == 0  # waiting moved nothing
