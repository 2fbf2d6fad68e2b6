"""Every model passes QAbstractItemModelTester, alone and then behind a view; lazy loading inserts inclusive ranges."""

from __future__ import annotations

import asyncio
import time

import pytest
from PySide6.QtWidgets import QTableView

from app.models import ActivityModel, ConflictGroupsModel, DevicesModel, HistoryModel, LogModel
from app.models._paged import PagedTableModel
from syncengine import Conflict, DeviceInfo, LogRecord, RemoteValue
from syncengine.model import SyncRecord


def record(i: int) -> LogRecord:
    return LogRecord(i, "pending", "products", [f"p{i}"], "update", None, "dev-b", {"price": i}, {"price": i - 1})


def source(n: int, calls: list[tuple[int, int | None, int]] | None = None):
    """Entries n … 1, newest first, paged by key like ``Device.log(before_id=)``."""

    async def fetch(offset: int, last: LogRecord | None, limit: int) -> list[LogRecord]:
        if calls is not None:
            calls.append((offset, None if last is None else last.id, limit))
        await asyncio.sleep(0)
        below = n + 1 if last is None else last.id
        return [record(i) for i in range(below - 1, max(0, below - 1 - limit), -1)]

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
    calls: list[tuple[int, int | None, int]] = []
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
    assert calls[:3] == [(0, None, 200), (200, 251, 200), (400, 51, 200)]  # each page starts below the last id shown
    assert model.data(model.index(0, 0)) == "450"
    assert not model.canFetchMore()
    qtmodeltester.check(model)


def test_log_model_resets_to_a_new_source_and_drops_the_old_page(qtbot, qtmodeltester, loop) -> None:
    model = LogModel(source(1000), page_size=100)
    model.fetchMore()  # a page of the old source is under way …
    with qtbot.waitSignal(model.modelReset, timeout=1000):
        model.set_source(source(30))  # … and is dropped: only the new source's rows appear
    with qtbot.waitSignal(model.pageLoaded, timeout=5000):
        model.fetchMore()
    assert model.rowCount() == 30 and model.exhausted and model.row_item(0).id == 30
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
    async def broken(offset: int, last: LogRecord | None, limit: int) -> list[LogRecord]:
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


def test_history_model_pages_by_offset(qtbot, qtmodeltester, loop) -> None:
    decided = [conflict(i, f"p{i}", "price", status="decided") for i in range(250, 0, -1)]  # newest first
    offsets: list[int] = []

    async def fetch(offset: int, last: Conflict | None, limit: int) -> list[Conflict]:
        offsets.append(offset)
        await asyncio.sleep(0)
        return decided[offset : offset + limit]

    model = HistoryModel(fetch, page_size=100)
    qtmodeltester.check(model)
    while model.canFetchMore():
        with qtbot.waitSignal(model.pageLoaded, timeout=5000):
            model.fetchMore()
    assert model.rowCount() == 250 and offsets == [0, 100, 200] and model.row_item(0).id == 250
    assert model.data(model.index(0, 5)) == "Took remote" and model.data(model.index(0, 8)) == "by a person"
    qtmodeltester.check(model)


def test_devices_model_marks_this_device(qtmodeltester) -> None:
    model = DevicesModel("me")
    model.set_items([DeviceInfo("me", "shop-a", "default", time.time(), behind=0), DeviceInfo("you", "shop-b", "default", time.time(), behind=7)])
    assert model.data(model.index(0, 0)) == "shop-a  (this device)"
    assert model.data(model.index(1, 4)) == "7 entries"
    qtmodeltester.check(model)


def sync_record(i: int, error: str | None = None) -> SyncRecord:
    report = {"sent": 3 * i, "received": i, "applied": i, "conflicts": 0, "quarantined": 0, "cancelled": False}
    return SyncRecord(i, 1000.0 + i, 1001.5 + i, "SqlSharedLog(...)", report, error)


@pytest.mark.parametrize("n", [0, 2, 120])
def test_activity_model(qtbot, qtmodeltester, loop, n) -> None:
    records = [sync_record(i, "remote unreachable" if i == 1 else None) for i in range(n, 0, -1)]

    async def fetch(offset: int, last: SyncRecord | None, limit: int) -> list[SyncRecord]:
        await asyncio.sleep(0)
        return records[offset : offset + limit]

    model = ActivityModel(fetch, page_size=50)
    qtmodeltester.check(model)
    qtbot.waitUntil(lambda: not model.loading, timeout=5000)
    while model.canFetchMore():
        with qtbot.waitSignal(model.pageLoaded, timeout=5000):
            model.fetchMore()
    assert model.rowCount() == n
    qtmodeltester.check(model)
    if n:
        assert model.data(model.index(n - 1, 7)) == "Failed: remote unreachable"
        assert model.data(model.index(0, 7)) == "OK" and model.data(model.index(0, 1)) == f"{3 * n:,}"
        assert model.data(model.index(0, 6)) == "1.50 s"
