"""Every model passes QAbstractItemModelTester, alone and then behind a view; lazy loading inserts inclusive ranges."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from app.models import ActivityModel, ConflictGroupsModel, DevicesModel, HistoryModel, LogModel
from app.models._paged import PagedTableModel
from app.models.conflicts import kind_label
from app.models.devices import BehindRole
from app.services.health import LastCheck, keys_text, summary
from syncengine import Conflict, DeviceComparison, DeviceInfo, Difference, LogRecord, RemoteValue, Verification
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
    assert model.rowCount() == 250 and offsets == [0, 100, 200]
    assert model.row_item(0).decided_at == max(c.decided_at for c in decided)  # the newest decision first
    assert model.data(model.index(0, 5)) == "Took remote" and model.data(model.index(0, 8)) == "by a person"
    qtmodeltester.check(model)


def test_devices_model_marks_this_device(qtmodeltester) -> None:
    model = DevicesModel("me")
    model.set_items([DeviceInfo("me", "shop-a", "default", time.time(), behind=0), DeviceInfo("you", "shop-b", "default", time.time(), behind=7)])
    assert model.data(model.index(0, 0)) == "shop-a  (this device)"
    assert model.data(model.index(1, 2)) == "7 entries behind"
    assert model.data(model.index(0, 2)) == "up to date"
    assert model.data(model.index(1, 2), BehindRole) == (7, 7)  # the bar: full for the device furthest behind
    assert model.data(model.index(1, 1)) == "never"  # last seen: neither pushed nor pulled
    assert model.data(model.index(0, 5), Qt.ItemDataRole.ToolTipRole) == "me"  # an id or a date cut short reads whole on hover
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


def test_conflict_groups_model_filters_by_kind_and_labels_diverged(qtmodeltester) -> None:
    diverged = dataclasses.replace(conflict(5, "d", "name"), kind="diverged", base=None)
    model = ConflictGroupsModel()
    model.set_conflicts([conflict(1, "a", "price"), conflict(2, "b", None), diverged])
    qtmodeltester.check(model)
    model.set_kind("diverged")
    assert model.rowCount() == 1 and model.open_count == 3 and model.shown_count == 1
    assert model.data(model.index(0, 2)) == "diverged"
    assert model.data(model.index(0, 2), Qt.ItemDataRole.ToolTipRole).startswith("Diverged: both devices hold this version with different values")
    qtmodeltester.check(model)
    model.set_kind("constraint")
    assert model.rowCount() == 0 and model.open_count == 3
    model.set_kind(None)
    assert model.rowCount() == 3
    assert kind_label("diverged") == "Diverged" and kind_label("some/new") == "some/new"


def test_log_model_shows_restated_rows_by_name(qtbot, qtmodeltester, loop) -> None:
    restated = [
        LogRecord(2, "pending", "products", ["p1"], "state", "v1", "dev-b", {"id": "p1", "name": "Kettle"}, None),
        LogRecord(1, "pending", "products", ["p2"], "tombstone", "v2", "dev-b", {}, None),
    ]

    async def fetch(offset: int, last: LogRecord | None, limit: int) -> list[LogRecord]:
        return restated[offset : offset + limit]

    model = LogModel(fetch)
    with qtbot.waitSignal(model.pageLoaded, timeout=5000):
        model.fetchMore()
    assert [model.data(model.index(r, 4)) for r in range(2)] == ["Restated", "Restated (deleted)"]
    assert model.data(model.index(0, 4), Qt.ItemDataRole.ForegroundRole) is not None
    qtmodeltester.check(model)


def _verification(*devices: DeviceComparison, differences: tuple[Difference, ...] = (), reason: str | None = None) -> Verification:
    return Verification(not differences, 7, tuple(devices), differences, reason)


def test_the_check_reads_in_one_line() -> None:
    south, east = DeviceComparison("s", "shop-south", 7, "same"), DeviceComparison("e", "shop-east", 5, "not comparable")
    assert summary(None) == ("unknown", "Not checked yet")
    assert summary(LastCheck(0, _verification(south))) == ("same", "In step with 1 device")
    assert summary(LastCheck(0, _verification(south, east))) == ("same", "In step with 1 device; 1 not comparable")
    assert summary(LastCheck(0, _verification(east))) == ("unknown", "1 device not comparable (they synced before or after this one)")
    assert summary(LastCheck(0, _verification())) == ("unknown", "No other device to compare with")
    assert summary(LastCheck(0, _verification(reason="sync it, then verify"))) == ("unknown", "Not comparable: sync it, then verify")
    differs = DeviceComparison("s", "shop-south", 7, "differs")
    found = (Difference("s", "products", (("p1",), ("p2",)), more=1), Difference("s", "notes", (("n1",),)))
    assert summary(LastCheck(0, _verification(differs, differences=found))) == (
        "differs",
        "Differs from shop-south in notes, products (4 keys)",
    )
    assert keys_text(LastCheck(0, _verification(differs, differences=found)), limit=1) == "products: p1 and 2 more\nnotes: n1"


def test_the_last_check_survives_its_json_form() -> None:
    check = LastCheck(
        1234.5,
        _verification(
            DeviceComparison("s", "shop-south", 7, "differs"),
            differences=(Difference("s", "lines", (("o1", 2),), more=3),),
        ),
    )
    again = LastCheck.from_json(json.loads(json.dumps(check.as_json())))
    assert again == check
    assert LastCheck.from_json({"at": 1}) is None and LastCheck.from_json("nonsense") is None
