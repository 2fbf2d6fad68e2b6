"""The pending view opens a client log of 1,000,000 entries in under a second and scrolls page by page."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from app import config
from syncengine import Device

from .helpers import close_window, open_window

ENTRIES = 1_000_000


def _big_log(tmp_path: Path) -> str:
    """A device whose log holds a million received entries, written with one INSERT … SELECT (seconds, not minutes)."""
    meta = sa.MetaData()
    sa.Table("items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("n", sa.Integer))
    path = str(tmp_path / "big.db")
    device = Device.init(path, metadata=meta, name="big")
    device.set_setting("sync.enabled", False)
    device.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
            INSERT INTO syncengine_log (state, tbl, pk, op, data, old, version, device_id)
            SELECT 3, 'items', '["item-' || i || '"]', 'U', '{"n": ' || i || '}', '{"n": ' || (i - 1) || '}',
                   printf('%013x-%06x-%s', 1700000000000 + i, 0, 'ffffffffffffffffffffffffffffffff'),
                   'ffffffffffffffffffffffffffffffff'
            FROM n
            """.replace(":count", str(ENTRIES))
        )
    engine.dispose()
    return path


def test_the_pending_view_opens_a_million_entries_in_under_a_second(qtbot, run, tmp_path) -> None:
    db = _big_log(tmp_path)
    window = open_window(qtbot, run, config.Workspace(db=db))
    assert window.service.status.pending == ENTRIES
    page = window.pending
    window.show_view("pending")
    page.kind.blockSignals(True)
    page.kind.setCurrentIndex(1)  # received, not applied
    page.kind.blockSignals(False)
    started = time.perf_counter()
    with qtbot.waitSignal(page.model.pageLoaded, timeout=5000):
        page.reload()
    opened = time.perf_counter() - started
    print(f"\npending view: first page of {ENTRIES:,} entries in {opened * 1000:.0f} ms")
    assert opened < 1.0
    assert page.model.rowCount() == page.model.page_size and page.model.canFetchMore()
    assert page.model.data(page.model.index(0, 3)) == f"item-{ENTRIES}"  # newest first
    # scrolling to the end of what is loaded fetches the next page, also fast
    for _ in range(3):
        before = page.model.rowCount()
        started = time.perf_counter()
        with qtbot.waitSignal(page.model.pageLoaded, timeout=5000):
            page.view.scrollToBottom()
        assert time.perf_counter() - started < 1.0
        assert page.model.rowCount() == before + page.model.page_size
    # pages go by key (before_id), so one near the far end of the log costs what the first did
    started = time.perf_counter()
    deep = run(window.service.log_page("pending", limit=500, before_id=1_500))
    assert time.perf_counter() - started < 1.0
    assert [r.id for r in deep] == list(range(1_499, 999, -1))
    close_window(qtbot, window)
