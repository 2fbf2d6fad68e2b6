"""Every model passes QAbstractItemModelTester, alone and then behind a view; lazy loading inserts inclusive ranges."""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtWidgets import QTableView

from app.models import ActivityModel, ConflictGroupsModel, DevicesModel, HistoryModel, LogModel
from app.models._paged import PagedTableModel
from syncengine import Conflict, DeviceInfo, LogRecord, RemoteValue


def record(i: int) -> LogRecord:
    return LogRecord(i, "pending", "products", [f"p{i}"], "update", None, "dev-b", {"price": i}, {"price": i - 1})


def source(n: int, calls: list[tuple[int, int]] | None = None):
    async def fetch(offset: int, limit: int) -> list[LogRecord]:
        if calls is not None:
            calls.append((offset, limit))
        await asyncio.sleep(0)
        return [record(n - i) for i in range(offset, min(n, offset + limit))]

    return fetch


def conflict(i: int, pk: str, field: str | None, *, status: str = "open") -> Conflict:
    return Conflict(
        id=i, kind="edit/edit" if field else "delete/edit", status=status, held=True, table="products", pk=(pk,),
        field=field, base=1, local=2, local_version="v1", remote=3, remotes=(RemoteValue(3, "v2", "dev-b"),), auto=3,
        reason=None, created_at=time.time(), updated_at=time.time(),
        decision=None if status == "open" else "remote", decided_value=None if status == "open" else 3,
        decided_by=None if status == "open" else "dev-a", decided_how=None if status == "open" else "person",
        decided_at=None if status == "open" else time.time(),
    )


def test_log_model_fetches_pages_with_inclusive_last_rows(qtbot, qtmodeltester, loop) -> None:
    calls: list[tuple[int, int]] = []
    model = LogModel(source(450, calls), page_size=200)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    qtmodeltester.check(model)  # the tester calls fetchMore; the first page arrives asynchronously
    for _ in range(3):
        if model.canFetchMore():
            with qtbot.waitSignal(model.pageLoaded, timeout=5000):
                model.fetchMore()
    qtbot.waitUntil(lambda: model.exhausted and not model.loading, timeout=5000)
    assert model.rowCount() == 450
    assert inserted == [(0, 199), (200, 399), (400, 449)]
    assert calls[:3] == [(0, 200), (200, 200), (400, 200)]
    assert model.data(model.index(0, 0)) == "450"
    assert not model.canFetchMore()
    qtmodeltester.check(model)


def test_log_model_filters_pages_it_receives_and_resets(qtbot, qtmodeltester, loop) -> None:
    model = LogModel(page_size=100)
    model.set_source(source(1000), accept=lambda r: r.id % 10 == 0)
    with qtbot.waitSignal(model.pageLoaded, timeout=5000):
        model.fetchMore()
    assert model.rowCount() == 100 and all(model.row_item(i).id % 10 == 0 for i in range(100))
    qtmodeltester.check(model)
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.refresh()
    assert model.rowCount() == 0 and model.canFetchMore()


def test_log_model_behind_a_view_loads_as_it_scrolls(qtbot, qtmodeltester, loop) -> None:
    model = LogModel(source(5000), page_size=100)
    view = QTableView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.setModel(model)
    view.show()
    qtbot.waitUntil(lambda: model.rowCount() >= 100, timeout=5000)
    before = model.rowCount()
    view.scrollToBottom()
    qtbot.waitUntil(lambda: model.rowCount() > before, timeout=5000)
    qtmodeltester.check(model)


def test_a_failing_source_reports_through_the_failed_signal(qtbot, loop) -> None:
    async def broken(offset: int, limit: int) -> list[LogRecord]:
        raise RuntimeError("the database went away")

    model: PagedTableModel[LogRecord] = LogModel(broken)
    with qtbot.waitSignal(model.failed, timeout=5000) as blocker:
        model.fetchMore()
    assert "went away" in str(blocker.args[0])
    assert not model.canFetchMore()


def test_conflict_groups_model(qtmodeltester) -> None:
    model = ConflictGroupsModel()
    model.set_conflicts([conflict(1, "a", "price"), conflict(2, "b", None), conflict(3, "a", "name"), conflict(4, "c", "x", status="decided")])
    assert model.rowCount() == 2 and model.open_count == 3
    assert [c.id for c in model.conflicts_of(0)] == [1, 3]
    assert model.data(model.index(0, 3)) == "price, name"
    qtmodeltester.check(model)


def test_history_model_newest_first(qtmodeltester) -> None:
    model = HistoryModel()
    model.set_conflicts([conflict(1, "a", "price", status="decided"), conflict(2, "b", "price"), conflict(3, "c", "name", status="decided")])
    assert model.rowCount() == 2 and model.row_item(0).id == 3
    qtmodeltester.check(model)


def test_devices_model_marks_this_device(qtmodeltester) -> None:
    model = DevicesModel("me")
    model.set_items([DeviceInfo("me", "shop-a", "default", time.time(), behind=0), DeviceInfo("you", "shop-b", "default", time.time(), behind=7)])
    assert model.data(model.index(0, 0)) == "shop-a  (this device)"
    assert model.data(model.index(1, 4)) == "7 entries"
    qtmodeltester.check(model)


@pytest.mark.parametrize("items", [[], [{"at": 1.0, "reason": "forced", "ok": True, "sent": 3}, {"at": 2.0, "ok": False, "error": "boom"}]])
def test_activity_model(qtmodeltester, items) -> None:
    model = ActivityModel()
    model.set_items(items)
    qtmodeltester.check(model)
    if items:
        assert model.data(model.index(1, 8)) == "Failed: boom"
