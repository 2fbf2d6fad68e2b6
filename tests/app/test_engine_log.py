"""The engine's log in the Activity view: a bounded newest-first model, a handler that hands records to the UI thread, a real sync."""

from __future__ import annotations

import logging
import threading

from PySide6.QtCore import Qt, QThread

from app.demo import build_demo, products
from app.models.engine_log import EngineLogEntry, EngineLogModel, LevelFilter
from app.services.engine_log import EngineLogHandler
from syncengine import Device, SqlSharedLog

from .helpers import close_window, news_for_north, open_window

ENGINE = logging.getLogger("syncengine")


def entry(i: int, level: int = logging.INFO) -> EngineLogEntry:
    return EngineLogEntry(1_700_000_000.0 + i, level, f"line {i}")


def ours() -> list[logging.Handler]:
    return [h for h in ENGINE.handlers if isinstance(h, EngineLogHandler)]


def test_the_log_model_is_newest_first_and_keeps_the_last_lines(qtmodeltester) -> None:
    model = EngineLogModel(capacity=10)
    inserted: list[tuple[int, int]] = []
    removed: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))
    qtmodeltester.check(model)  # empty
    model.append([entry(1), entry(2, logging.WARNING), entry(3, logging.DEBUG)])
    qtmodeltester.check(model)
    assert [model.data(model.index(r, 2)) for r in range(3)] == ["line 3", "line 2", "line 1"]
    assert model.data(model.index(1, 1)) == "Warning" and model.data(model.index(2, 1)) == "Info"
    assert model.data(model.index(0, 0)).count(":") == 2  # a local time with milliseconds
    model.append([entry(i) for i in range(4, 13)])  # 12 lines in all: the two oldest go
    assert model.rowCount() == 10
    assert removed == [(1, 2)] and inserted == [(0, 2), (0, 8)]  # the 2 oldest of the 3 rows there; last rows inclusive
    assert model.entry(0).message == "line 12" and model.entry(9).message == "line 3"
    model.append([entry(i) for i in range(100, 125)])  # more than the capacity at once
    assert [e.message for e in model.entries()] == [f"line {i}" for i in range(124, 114, -1)]
    qtmodeltester.check(model)
    model.clear()
    assert model.rowCount() == 0


def test_the_level_filter_hides_lines_below_the_level(qtmodeltester) -> None:
    model = EngineLogModel()
    model.append([entry(1, logging.DEBUG), entry(2), entry(3, logging.WARNING), entry(4, logging.DEBUG)])
    shown = LevelFilter(logging.INFO)
    shown.setSourceModel(model)
    qtmodeltester.check(shown)
    assert [shown.data(shown.index(r, 2)) for r in range(shown.rowCount())] == ["line 3", "line 2"]
    shown.set_min_level(logging.WARNING)
    assert shown.rowCount() == 1
    shown.set_min_level(logging.DEBUG)
    assert shown.rowCount() == 4
    model.append([entry(5, logging.WARNING)])
    assert shown.data(shown.index(0, 2)) == "line 5"


def test_records_from_a_worker_thread_reach_the_ui_thread_in_order(qtbot) -> None:
    level_before = ENGINE.level
    handler = EngineLogHandler(logging.INFO)
    model = EngineLogModel()
    threads: list[bool] = []

    def receive(entries: list[EngineLogEntry]) -> None:
        threads.append(QThread.currentThread() is model.thread())
        model.append(entries)

    handler.records.connect(receive)
    handler.install()
    try:
        assert ENGINE.getEffectiveLevel() == logging.INFO  # records at INFO are made at all
        worker = threading.Thread(target=lambda: [ENGINE.info("from the worker %d", i) for i in range(300)] + [ENGINE.debug("not shown")])
        worker.start()
        worker.join()
        ENGINE.warning("from the UI thread")
        assert model.rowCount() == 0  # nothing is handed over inside emit()
        qtbot.waitUntil(lambda: model.rowCount() == 301, timeout=5000)
    finally:
        handler.remove()
    assert threads and all(threads)  # the model was only ever touched on its own (the UI) thread
    assert model.entry(0).message == "from the UI thread" and model.entry(0).level == logging.WARNING
    assert [e.message for e in model.entries()[1:]] == [f"from the worker {i}" for i in range(299, -1, -1)]
    assert ours() == [] and ENGINE.level == level_before
    handler.remove()  # twice is fine


def test_the_handler_lowers_the_logger_level_only_while_installed() -> None:
    level_before = ENGINE.level
    first, second = EngineLogHandler(logging.INFO), EngineLogHandler(logging.WARNING)
    first.install()
    second.install()
    try:
        assert ENGINE.level == logging.INFO
        first.setLevel(logging.DEBUG)
        assert ENGINE.level == logging.DEBUG
        first.remove()
        assert ENGINE.level == logging.WARNING and ours() == [second]
    finally:
        first.remove()
        second.remove()
    assert ours() == [] and ENGINE.level == level_before


def _south_edits(folder, sku: str, **values: object) -> None:
    shared = SqlSharedLog(str(folder / "shared.db"))
    south = Device.open(str(folder / "shop-south.db"))
    try:
        with south.engine.begin() as conn:
            conn.execute(products.update().where(products.c.sku == sku).values(**values))
        south.sync(shared)
    finally:
        south.close()
        shared.close()


def test_a_sync_from_the_window_shows_its_log_lines_newest_first(qtbot, run, tmp_path) -> None:
    workspace = build_demo(tmp_path / "demo")
    news_for_north(tmp_path / "demo")
    window = open_window(qtbot, run, workspace)
    page = window.activity
    assert ours() == [page.log_handler]
    assert page.log_level.currentText() == "Info"
    window.show_view("activity")

    def lines() -> list[str]:
        shown = page.log_filter
        return [shown.data(shown.index(r, 2)) for r in range(shown.rowCount())]

    qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(lines()) and lines()[0].startswith("sync done"), timeout=20000)
    qtbot.waitUntil(lambda: not window.service.busy, timeout=10000)
    shown = lines()
    started = next(i for i, line in enumerate(shown) if line.startswith("sync of shop-north"))
    quarantined = next(i for i, line in enumerate(shown) if line.startswith("quarantined insert suppliers"))
    conflict = next(i for i, line in enumerate(shown) if "edit/edit conflict" in line and "held for review" in line)
    assert 0 < quarantined < started and 0 < conflict < started  # newest first: done, what happened, started
    assert "received 2" in shown[0] and "conflicts 1, quarantined 1" in shown[0]
    level_column = [page.log_filter.data(page.log_filter.index(r, 1)) for r in range(len(shown))]
    assert level_column[quarantined] == "Warning" and level_column[0] == "Info"

    # Warnings only: the info lines are hidden, not forgotten
    page.log_level.setCurrentIndex(page.log_level.findText("Warnings"))
    assert all(page.log_filter.data(page.log_filter.index(r, 1)) == "Warning" for r in range(page.log_filter.rowCount()))
    assert 0 < page.log_filter.rowCount() < page.log_model.rowCount()
    # Debug: the next sync's batches are logged too
    page.log_level.setCurrentIndex(page.log_level.findText("Debug"))
    assert ENGINE.getEffectiveLevel() == logging.DEBUG
    before = page.log_model.rowCount()
    _south_edits(tmp_path / "demo", "W-570", stock=20)
    qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.log_model.rowCount() > before and lines()[0].startswith("sync done"), timeout=20000)
    qtbot.waitUntil(lambda: not window.service.busy, timeout=10000)
    assert any(line.startswith("pulled 1 batches") for line in lines()[: page.log_model.rowCount() - before])
    close_window(qtbot, window)
    assert ours() == []  # closing the window took its handler off the engine's logger
