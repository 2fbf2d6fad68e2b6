"""One sync and its options, on real devices and a real SQL shared log.

Devices are SQLite files; the tests marked ``@every_dialect`` run on PostgreSQL and
MariaDB devices too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from syncengine import (
    ConfigurationError,
    Device,
    MemorySharedLog,
    ReconcileError,
    RemoteUnavailable,
    SqlSharedLog,
    SyncEngineError,
    SyncOptions,
    events,
)
from syncengine import sync as sync_module
from syncengine.serializer import JsonSerializer

from .helpers import add, every_dialect, metadata, no_conflicts, products, pump, rows, set_price, write


@every_dialect
def test_two_devices_exchange_inserts_updates_and_deletes(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
    add(b, ("p3", "teapot", 30))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) and [r["id"] for r in rows(a)] == ["p1", "p2", "p3"]
    write(b, products.update().where(products.c.id == "p1").values(price=25, note="on sale"))
    write(a, products.delete().where(products.c.id == "p2"))
    write(a, products.update().where(products.c.id == "p3").values(name="big teapot"))
    pump(a, b, remote=shared)
    assert (
        rows(a)
        == rows(b)
        == [
            {"id": "p1", "name": "kettle", "price": 25, "note": "on sale"},
            {"id": "p3", "name": "big teapot", "price": 30, "note": None},
        ]
    )
    assert no_conflicts(a, b)
    assert a.status().unshared == b.status().unshared == 0
    assert a.status().pending == b.status().pending == 0


def test_report_counts_each_stage(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(7)])
    sent = a.sync(shared)
    assert (sent.sent, sent.received, sent.applied) == (7, 0, 0)
    got = b.sync(shared)
    assert (got.sent, got.received, got.applied) == (0, 7, 7)
    assert set(got.timings) == {"receive", "share", "reconcile"}
    assert got.as_json()["applied"] == 7


def test_batch_sizes_bound_each_push_and_pull(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(25)])
    assert a.sync(shared, upload_batch_size=10).sent_batches == 3
    report = b.sync(shared, download_batch_size=10)
    assert report.received_batches == 3 and report.applied == 25


def test_writes_that_change_nothing_do_not_stop_the_share_short(a, b, shared, monkeypatch) -> None:
    # sharing stamps captured writes some at a time (here two); a stamp of writes that all
    # change nothing leaves nothing to send, and the writes after them must still go
    monkeypatch.setattr(sync_module, "_STAMP_AHEAD", 2)
    add(a, ("p0", "kettle", 1))
    a.sync(shared)
    write(a, sa.text("UPDATE products SET name = name WHERE id = 'p0'"))
    write(a, sa.text("UPDATE products SET name = name WHERE id = 'p0'"))
    add(a, *[(f"p{i}", "x", i) for i in range(1, 4)])
    report = a.sync(shared, upload_batch_size=2)
    assert (report.sent, report.sent_batches) == (3, 2)
    assert a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a)


def test_batches_keep_their_size_when_it_is_over_what_is_stamped_at_a_time(a, shared, monkeypatch) -> None:
    monkeypatch.setattr(sync_module, "_STAMP_AHEAD", 3)  # stands for 10,000, under a batch size of 5
    add(a, *[(f"p{i:02}", "x", i) for i in range(15)])
    sizes: list[int] = []
    report = a.sync(
        shared,
        upload_batch_size=5,
        on_event=lambda e: sizes.append(len(e.entries)) if isinstance(e, events.Sending) else None,
    )
    assert report.sent == 15 and sizes == [5, 5, 5]


def test_a_single_batch_sync_leaves_the_other_writes_for_the_next_one(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(5)])
    assert a.sync(shared, upload_batch_size=2, single_batch=True).sent == 2
    assert a.status().unshared == 3
    write(a, products.update().where(products.c.id == "p4").values(price=40))
    assert a.sync(shared).sent == 4  # the three waiting inserts, then the later update
    b.sync(shared)
    assert rows(b) == rows(a) and rows(b)[4]["price"] == 40


def test_a_batch_over_the_byte_limit_is_halved_until_it_fits(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x" * 1000, i) for i in range(16)])
    report = a.sync(shared, upload_byte_limit=5000)
    assert report.sent == 16 and report.sent_batches >= 4
    b.sync(shared)
    assert rows(b) == rows(a)


def test_a_single_entry_over_the_byte_limit_travels_alone_and_the_writes_after_it_follow(a, b, shared) -> None:
    """The limit sizes batches: one larger value must not hold back every later write for good."""
    add(a, ("p0", "small", 0), ("big", "x" * 5000, 1), ("p2", "small", 2))
    report = a.sync(shared, upload_byte_limit=2000)
    assert report.sent == 3 and report.sent_batches == 3 and a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a)


def test_single_batch_stops_after_one_batch_and_the_next_sync_goes_on(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(30)])
    first = a.sync(shared, upload_batch_size=10, single_batch=True)
    assert first.sent == 10 and first.stopped_early
    assert a.status().unshared == 20
    a.sync(shared, upload_batch_size=10)
    assert a.status().unshared == 0
    b.sync(shared)
    assert len(rows(b)) == 30


def test_should_continue_is_asked_between_batches(a, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(30)])
    seen: list[int] = []

    def go_on(report) -> bool:
        seen.append(report.sent)
        return report.sent < 20

    report = a.sync(shared, upload_batch_size=10, should_continue=go_on)
    assert report.sent == 20 and seen == [10, 20]


def test_processors_change_and_drop_entries(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20), ("secret", "hidden", 1))

    def redact(entries):
        return [e for e in entries if e.pk != ("secret",)]

    def shout(entries, batch):
        from dataclasses import replace

        return [replace(e, data={**e.data, "name": e.data["name"].upper()}) if "name" in e.data else e for e in entries]

    assert a.sync(shared, pre_send=redact).dropped == 1
    b.sync(shared, post_receive=shout)
    assert [(r["id"], r["name"]) for r in rows(b)] == [("p1", "KETTLE")]


class Rot13Serializer(JsonSerializer):
    """A reversible stand-in for encryption: the payload text is not readable JSON."""

    def dumps(self, payload):
        import codecs

        return codecs.encode(super().dumps(payload), "rot13")

    def loads(self, text):
        import codecs

        return super().loads(codecs.decode(text, "rot13"))


def test_a_custom_serializer_is_used_both_ways(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared, serializer=Rot13Serializer())
    with shared.engine.connect() as conn:
        payload = conn.exec_driver_sql("SELECT payload FROM sharedlog_batches").scalar_one()
    assert b"kettle" not in payload and b"xrggyr" in payload
    b.sync(shared, serializer=Rot13Serializer())
    assert rows(b) == rows(a)


def test_a_payload_the_serializer_cannot_read_is_quarantined_not_fatal(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared, serializer=Rot13Serializer())
    report = b.sync(shared)
    assert report.quarantined == 1 and rows(b) == []
    assert "malformed" in b.quarantined()[0].reason


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("0018F2B3C4D5E-000000-{device}", "lower-case hex"),  # upper-case hex would sort wrongly as text
        ("zzzzzzzzzzzzz-000000-{device}", "not a version"),
        ("0018f2b3c4d5e-00000-{device}", "not a version"),
    ],
)
def test_an_entry_with_a_malformed_version_is_quarantined_and_the_rest_lands(a, b, shared, version, reason) -> None:
    add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
    a.sync(shared)
    with shared.engine.begin() as conn:
        payload = orjson.loads(conn.exec_driver_sql("SELECT payload FROM sharedlog_batches").scalar_one())
        payload["entries"][0][0] = version.format(device=a.device_id)
        conn.exec_driver_sql("UPDATE sharedlog_batches SET payload = ?", (orjson.dumps(payload),))
    report = b.sync(shared)
    assert (report.received, report.applied, report.quarantined) == (2, 1, 1)  # received counts the bad one too
    assert reason in b.quarantined()[0].reason
    assert [r["id"] for r in rows(b)] == ["p2"]
    add(b, ("p3", "pot", 4))  # the clock was not moved by the bad version: b still writes and syncs
    b.sync(shared)
    a.sync(shared)
    assert [r["id"] for r in rows(a)] == ["p1", "p2", "p3"]


def test_text_that_looks_like_a_tag_travels_as_text(a, b, shared) -> None:
    names = ['{"$b": "AAAA"}', '"$n"', "$5 off", '{"$esc": 1}']
    add(a, *[(f"p{i}", name, i) for i, name in enumerate(names)])
    a.sync(shared)
    b.sync(shared)
    assert [r["name"] for r in rows(b)] == names


def test_extra_info_travels_with_each_batch(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared, extra_info=lambda entries: {"app": "shop", "count": len(entries)})
    received: list[Any] = []
    b.sync(shared, on_event=lambda e: received.append(e.batch.extra) if isinstance(e, events.Received) else None)
    assert received == [{"app": "shop", "count": 1}]


@pytest.mark.parametrize("bad", [lambda entries: [1, 2], lambda entries: {"when": object()}, [("app", "shop")]])
def test_a_bad_extra_info_fails_that_sync_alone(a, b, shared, bad) -> None:
    """The review's case: a list from the hook was kept with the batch and every later sync failed on it."""
    add(a, ("p1", "kettle", 20))
    with pytest.raises(ConfigurationError, match="extra_info must"):
        a.sync(shared, extra_info=bad)
    assert a.status().unshared == 1
    assert a.sync(shared).sent == 1  # without the hook, the write goes as if nothing had happened
    b.sync(shared)
    assert rows(a) == rows(b)


def test_events_come_in_stage_order(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared)
    add(b, ("p2", "mug", 3))
    kinds: list[str] = []
    b.sync(shared, on_event=lambda e: kinds.append(type(e).__name__))
    assert kinds[0] == "SyncStarted" and kinds[-1] == "SyncFinished"
    order = [k for k in kinds if k in ("Received", "Sending", "Reconciling", "Reconciled")]
    # receiving and reconciling in one sync integrate each batch as it arrives
    assert order == ["Received", "Reconciling", "Reconciled", "Sending"]
    staged: list[str] = []
    add(a, ("p3", "pot", 4))
    a.sync(shared)
    b.sync(shared, stages=("receive",), on_event=lambda e: staged.append(type(e).__name__))
    b.sync(shared, stages=("share", "reconcile"), on_event=lambda e: staged.append(type(e).__name__))
    assert [k for k in staged if k in ("Received", "Reconciling", "Reconciled")] == [
        "Received",
        "Reconciling",
        "Reconciled",
    ]


def test_cancel_stops_at_a_batch_boundary_and_nothing_is_lost(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(30)])
    cancel = threading.Event()

    def on_event(event) -> None:
        if isinstance(event, events.Sending):
            cancel.set()

    report = a.sync(shared, upload_batch_size=10, cancel=cancel, on_event=on_event)
    assert report.cancelled and report.sent == 10
    a.sync(shared)
    b.sync(shared)
    assert len(rows(b)) == 30


def test_sync_async_does_not_block_the_event_loop(a, b, shared) -> None:
    add(a, *[(f"p{i:04}", "x", i) for i in range(3000)])

    async def main() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        report = await a.sync_async(shared)
        await b.sync_async(shared)
        task.cancel()
        return report.sent, ticks

    sent, ticks = asyncio.run(main())
    assert sent == 3000 and ticks > 3
    assert len(rows(b)) == 3000


def test_cancelling_the_async_task_stops_the_sync(a, shared) -> None:
    add(a, *[(f"p{i:04}", "x", i) for i in range(2000)])

    async def main() -> None:
        started = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_event(event) -> None:
            if isinstance(event, events.Sending):
                loop.call_soon_threadsafe(started.set)

        task = asyncio.create_task(a.sync_async(shared, upload_batch_size=100, on_event=on_event))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert 0 < a.status().unshared < 2000
    a.sync(shared)
    assert a.status().unshared == 0


class PushThenFail:
    """A shared log whose push reaches the log and then "loses the connection"."""

    def __init__(self, inner: SqlSharedLog) -> None:
        self.inner = inner
        self.fail = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def push(self, *args: Any, **kwargs: Any) -> Any:
        result = self.inner.push(*args, **kwargs)
        if self.fail:
            self.fail = False
            raise RemoteUnavailable("connection lost after the push")
        return result


def test_a_sync_that_died_after_sending_resends_the_same_batch_once(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(10)])
    flaky = PushThenFail(shared)
    with pytest.raises(RemoteUnavailable):
        a.sync(flaky)
    assert a.status().unshared == 10
    a.sync(flaky)
    assert a.status().unshared == 0
    with shared.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sharedlog_batches").scalar_one() == 1
    report = b.sync(shared)
    assert report.received == 10 and len(rows(b)) == 10


class FailSecondPush:
    """A shared log that stores the first push and is unreachable for the second."""

    def __init__(self, inner: SqlSharedLog) -> None:
        self.inner = inner
        self.pushes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def push(self, *args: Any, **kwargs: Any) -> Any:
        self.pushes += 1
        if self.pushes == 2:
            raise RemoteUnavailable("connection refused")
        return self.inner.push(*args, **kwargs)


def test_batches_pushed_before_a_failed_push_count_as_shared(a, b, shared) -> None:
    # a pushed batch is marked shared together with picking the next one: a failure there must not lose the mark
    add(a, *[(f"p{i:02}", "x", i) for i in range(10)])
    with pytest.raises(RemoteUnavailable):
        a.sync(FailSecondPush(shared), upload_batch_size=4)
    assert a.status().unshared == 6
    assert a.sync(shared, upload_batch_size=4).sent == 6
    with shared.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sharedlog_batches").scalar_one() == 3
    assert b.sync(shared).received == 10 and len(rows(b)) == 10


def test_nothing_is_lost_while_the_remote_is_unreachable(a, b) -> None:
    remote = MemorySharedLog()
    add(a, ("p1", "kettle", 20))
    remote.offline = True
    with pytest.raises(RemoteUnavailable):
        a.sync(remote)
    assert a.status().unshared == 1
    remote.offline = False
    pump(a, b, remote=remote)
    assert rows(b) == rows(a)


class FailAfterWriting:
    """An executor that writes the plan, then fails: the whole batch must roll back."""

    def __init__(self) -> None:
        self.wrote = 0

    def __call__(self, conn, catalog, plan):
        from syncengine.store import execute_plan

        execute_plan(conn, catalog, plan)
        self.wrote += len(plan.writes())
        raise RuntimeError("disk on fire")


@every_dialect
def test_a_failed_reconcile_batch_leaves_the_database_as_it_was(a, b, shared) -> None:
    add(b, ("keep", "already here", 1))
    pump(a, b, remote=shared)
    add(a, *[(f"p{i}", "x", i) for i in range(5)])
    set_price(a, "keep", 2)
    a.sync(shared)
    before, cursor = rows(b), b.status().cursor
    executor = FailAfterWriting()
    with pytest.raises(RuntimeError, match="disk on fire"):
        b.sync(shared, executor=executor)
    assert executor.wrote == 6
    assert rows(b) == before  # nothing of the batch stayed
    # received and integrated in one transaction: the rollback also kept the cursor
    assert b.status().cursor == cursor and b.status().pending == 0
    assert b.status().quarantined == 0 and b.conflicts(include_decided=True) == []
    assert b.sync(shared).applied == 6  # nothing was lost either
    assert rows(b) == rows(a) and len(rows(b)) == 6
    assert b.status().pending == 0


def test_a_failed_reconcile_of_pending_entries_keeps_them_pending(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(5)])
    a.sync(shared)
    b.sync(shared, stages=("receive",))
    with pytest.raises(RuntimeError, match="disk on fire"):
        b.sync(None, stages=("reconcile",), executor=FailAfterWriting())
    assert rows(b) == [] and b.status().pending == 5
    assert b.sync(shared).applied == 5
    assert rows(b) == rows(a)


def test_double_create_as_an_error_rolls_the_batch_back(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    add(b, ("p1", "teapot", 30))
    a.sync(shared)
    with pytest.raises(ReconcileError, match="double create"):
        b.sync(shared, double_create="error")
    assert [r["name"] for r in rows(b)] == ["teapot"]
    assert b.status().cursor == 0  # the batch will be received again
    merged = b.sync(shared)  # merged this time: b's later teapot stays, so nothing of a's create reached the table
    assert (merged.received, merged.applied, merged.conflicts) == (1, 0, 1)
    assert [r["name"] for r in rows(b)] == ["teapot"]


def test_keep_history_leaves_entries_in_the_log(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared, cleanup=False)
    b.sync(shared, cleanup=False)
    assert [r.state for r in a.log()] == ["shared"]
    assert [r.state for r in b.log()] == ["done"]
    a.sync(shared)
    assert a.log() and a.status().unshared == 0


def test_a_device_an_hour_behind_that_edits_after_receiving_wins_everywhere(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared)
    b.sync(shared)
    write(b, products.update().where(products.c.id == "p1").values(price=99))
    with b.engine.begin() as conn:  # b's clock is an hour slow: so is the time its trigger saw
        conn.exec_driver_sql("UPDATE syncengine_log SET wall = wall - 3600000 WHERE state = 0")
    b.sync(shared)
    a.sync(shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle", "price": 99, "note": None}]
    entry = b.log(unshared=False)
    assert not entry or all(r.state != "unshared" for r in entry)


def test_writes_from_another_program_are_synced(a, b, shared, tmp_path) -> None:
    con = sqlite3.connect(tmp_path / "a.db")
    con.execute("INSERT INTO products (id, name, price) VALUES ('raw', 'from sqlite3', 7)")
    con.commit()
    con.close()
    pump(a, b, remote=shared)
    assert [r["name"] for r in rows(b)] == ["from sqlite3"]


def test_an_entry_for_a_table_this_device_does_not_sync_is_quarantined(tmp_path, a, shared) -> None:
    extra = sa.Table(
        "suppliers", metadata, sa.Column("id", sa.String(36), primary_key=True), sa.Column("name", sa.Text)
    )
    try:
        a2 = Device.init(str(tmp_path / "a.db"), metadata=metadata, name="a")
        c = Device.init(str(tmp_path / "c.db"), metadata=metadata, name="c")
        c_only_products = Device.init(str(tmp_path / "d.db"), ["products"], metadata=metadata, name="d")
        write(a2, extra.insert().values(id="s1", name="acme"))
        add(a2, ("p1", "kettle", 1))
        a2.sync(shared)
        report = c_only_products.sync(shared)
        assert report.applied == 1 and report.quarantined == 1
        [q] = c_only_products.quarantined()
        assert "unknown table 'suppliers'" in q.reason
        c.sync(shared)
        assert len(rows(c, extra)) == 1
        # syncing the table later takes what waited for it: no 'quarantine --retry' to know of
        d = Device.init(str(tmp_path / "d.db"), ["suppliers"], metadata=metadata)
        assert d.status().quarantined == 0 and d.status().pending == 1
        report = d.sync(shared)
        assert report.applied == 1 and report.quarantined == 0
        assert rows(d, extra) == rows(c, extra)
    finally:
        metadata.remove(extra)


@every_dialect
def test_a_missing_column_is_quarantined_then_retried_after_a_migration(devices, a, shared) -> None:
    narrow = sa.MetaData()
    sa.Table(
        "products",
        narrow,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("price", sa.Integer),
    )
    b = devices("narrow", narrow)
    add(a, ("p1", "kettle", 20))
    write(a, products.insert().values(id="p2", name="mug", price=3, note="blue"))
    a.sync(shared)
    report = b.sync(shared)
    assert report.applied == 1 and report.quarantined == 1
    [q] = b.quarantined()
    assert "unknown column 'note'" in q.reason and list(q.pk) == ["p2"]
    assert b.status().quarantined == 1
    with b.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE products ADD COLUMN note TEXT")
    retried = b.retry_quarantined()
    assert retried.applied == 1 and b.quarantined() == []
    assert b.status().quarantined == 0
    assert rows(b) == rows(a)
    # the migrated column is captured from now on
    write(b, products.update().where(products.c.id == "p2").values(note="green"))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) and rows(a)[1]["note"] == "green"


def _strict_device(tmp_path) -> Device:
    """A device whose products.name holds at most 5 characters."""
    strict = sa.MetaData()
    sa.Table(
        "products",
        strict,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(5)),
        sa.Column("price", sa.Integer),
        sa.Column("note", sa.Text),
    )
    return Device.init(str(tmp_path / "strict.db"), metadata=strict, name="strict")


def test_a_value_that_does_not_fit_is_quarantined_and_can_be_skipped(tmp_path, a, shared) -> None:
    b = _strict_device(tmp_path)
    add(a, ("p1", "kettle is long", 20), ("p2", "mug", 3))
    a.sync(shared)
    report = b.sync(shared)
    assert report.applied == 1 and report.quarantined == 1
    [q] = b.quarantined()
    assert q.reason.startswith('value "kettle is long" does not fit column products.name')  # JSON, not a repr
    assert b.skip_quarantined([q.id]) == 1
    assert b.quarantined() == [] and b.status().quarantined == 0


def test_values_that_do_not_fit_after_many_rows_that_do_are_still_quarantined(tmp_path, a, shared) -> None:
    # every row is checked, not only the first of a batch's many rows of the same columns
    b = _strict_device(tmp_path)
    add(a, *[(f"p{i:02}", "mug", i) for i in range(20)])
    add(a, ("q1", "kettle is long", 1))
    write(a, sa.text("INSERT INTO products (id, name, price) VALUES ('q2', 'pot', 2.5)"))  # a REAL in an INTEGER
    a.sync(shared)
    report = b.sync(shared)
    assert (report.applied, report.quarantined) == (20, 2)
    reasons = sorted(q.reason for q in b.quarantined())
    assert "does not fit column products.name" in reasons[0] + reasons[1]
    assert "does not fit column products.price" in reasons[0] + reasons[1]
    b.close()


def test_stages_can_run_separately(a, b, shared) -> None:
    add(a, ("p1", "kettle", 20))
    a.sync(shared, stages=("share",))
    b.sync(shared, stages=("receive",))
    assert b.status().pending == 1 and rows(b) == []
    b.sync(None, stages=("reconcile",))
    assert b.status().pending == 0 and rows(b) == rows(a)


def test_options_are_checked() -> None:
    with pytest.raises(SyncEngineError, match="unknown sync stage"):
        SyncOptions(stages=("upload",))
    with pytest.raises(SyncEngineError, match="at least 1"):
        SyncOptions(upload_batch_size=0)


def _registers(device: Device) -> list[Any]:
    with device.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT tbl, pk, exists_v, alive, fields, dead FROM syncengine_rows ORDER BY tbl, pk"
        ).all()


def test_rows_new_to_a_device_land_exactly_as_the_reconciler_plans_them(tmp_path, a, shared) -> None:
    # Inserts of rows a device knows nothing of go to the plan's bulk part; a plan processor
    # is given them as row plans, so b_plain and b_planned must end alike, registers included.
    b_plain, b_planned = (Device.init(str(tmp_path / f"{n}.db"), metadata=metadata, name=n) for n in ("b1", "b2"))
    add(a, *[(f"c{i}", "common", i) for i in range(5)])
    a.sync(shared)
    b_plain.sync(shared)
    b_planned.sync(shared)
    write(a, products.delete().where(products.c.id == "c0"))
    write(a, products.update().where(products.c.id == "c1").values(price=100))
    write(a, products.insert(), [{"id": f"n{i:02}", "name": f"new {i}", "price": i, "note": None} for i in range(50)])
    add(a, ("m0", "made", 1))
    write(a, products.update().where(products.c.id == "m0").values(note="then changed"))
    add(a, ("c0", "back again", 7))
    a.sync(shared)
    plain = b_plain.sync(shared)
    planned = b_planned.sync(shared, plan_processor=lambda plan: plan)
    assert plain.applied == planned.applied == 55  # a delete, an update, 50 + 1 + 1 inserts, one more update
    assert rows(b_plain) == rows(b_planned) == rows(a)
    assert _registers(b_plain) == _registers(b_planned)
    assert len(rows(b_plain)) == 5 + 50 + 1
    b_plain.close()
    b_planned.close()


def test_new_rows_beside_rows_a_device_already_holds_land_as_the_reconciler_plans_them(tmp_path, a, shared) -> None:
    # Rows the device holds without sync knowing them, or whose register outlived a delete,
    # are not new: beside the bulk part of new rows, the batch must end exactly as the
    # reconciler plans it row by row, registers and conflicts included.
    c = Device.init(str(tmp_path / "c.db"), metadata=metadata, name="c")
    b_plain, b_planned = (Device.init(str(tmp_path / f"{n}.db"), metadata=metadata, name=n) for n in ("b1", "b2"))
    add(a, ("gone", "deleted on b", 1))
    a.sync(shared)
    for b in (b_plain, b_planned):
        b.sync(shared)
        write(b, products.delete().where(products.c.id == "gone"))  # its register stays, dead
        with sqlite3.connect(b.engine.url.database) as raw:  # a row sync never heard of: captured, not stamped
            raw.execute("INSERT INTO products (id, name, price) VALUES ('held', 'b had it first', 2)")
            raw.execute("DELETE FROM syncengine_log WHERE state = 0")
    add(c, ("gone", "created again on c", 3), ("held", "c made it too", 4))
    add(c, *[(f"n{i:02}", "new", i) for i in range(30)])
    c.sync(shared, stages=["share"])
    plain = b_plain.sync(shared, stages=["receive", "reconcile"])
    planned = b_planned.sync(shared, stages=["receive", "reconcile"], plan_processor=lambda plan: plan)
    assert plain.applied == planned.applied == 31  # the row b holds unknown to sync waits as a constraint conflict
    assert plain.held == planned.held == 1
    assert rows(b_plain) == rows(b_planned)
    names = {r["id"]: r["name"] for r in rows(b_plain)}
    assert (names["gone"], names["held"]) == ("created again on c", "b had it first")
    assert len(rows(b_plain)) == 2 + 30
    assert _registers(b_plain) == _registers(b_planned)
    assert plain.conflicts == planned.conflicts
    for device in (b_plain, b_planned, c):
        device.close()


@pytest.mark.parametrize("cleanup", [True, False])
def test_batches_stamped_together_and_left_by_a_stop_are_sent_as_they_were(a, b, shared, cleanup) -> None:
    # after the first batch, sharing stamps many writes at once and puts them in batches then;
    # a sync that stops after one of those leaves the rest in their batches (kept in the outbox
    # with cleanup, beside their entries in the log without), and the next sends them unchanged
    add(a, *[(f"p{i:02}", "x", i) for i in range(30)])
    sending: list[tuple[str, list[str]]] = []

    def listen(event) -> None:
        if isinstance(event, events.Sending):
            sending.append((event.batch_id, [e.pk[0] for e in event.entries]))

    options = {"upload_batch_size": 5, "on_event": listen, "cleanup": cleanup}
    first = a.sync(shared, should_continue=lambda r: r.sent < 10, **options)
    assert (first.sent, first.sent_batches) == (10, 2)
    assert a.status().unshared == 20
    assert len(a.log(unshared=True)) == 20
    kept = (
        "SELECT batch_id, count FROM syncengine_outbox"
        if cleanup
        else ("SELECT batch_id, count(*) FROM syncengine_log WHERE state = 1 GROUP BY batch_id")
    )
    with a.engine.connect() as conn:
        left = conn.exec_driver_sql(kept).all()
    assert sorted(n for _, n in left) == [5, 5, 5, 5]  # four whole batches, ids and all
    second = a.sync(shared, **options)
    assert (second.sent, second.sent_batches) == (20, 4)
    assert {batch_id for batch_id, _ in sending[2:]} == {batch_id for batch_id, _ in left}
    assert sorted(pk for _, pks in sending for pk in pks) == [f"p{i:02}" for i in range(30)]
    assert a.status().unshared == 0
    with shared.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sharedlog_batches").scalar_one() == 6
    assert b.sync(shared).received == 30 and rows(b) == rows(a)


def test_a_key_change_goes_out_as_a_delete_and_an_insert_however_it_was_stamped(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(4)])
    pump(a, b, remote=shared)
    write(a, products.update().where(products.c.id == "p1").values(id="q1"))
    a.sync(shared, stages=["reconcile"])  # stamped on its own, before any batch
    write(a, products.update().where(products.c.id == "p2").values(id="q2", price=22))
    add(a, ("p5", "after", 5))
    report = a.sync(shared, upload_batch_size=2)  # the second key change is stamped into batches
    assert report.sent == 2 + 3
    assert a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a)
    assert [r["id"] for r in rows(b)] == ["p0", "p3", "p5", "q1", "q2"]


def test_a_row_created_again_is_based_on_its_delete_among_many_new_rows(a, b, shared) -> None:
    # inserts are stamped without looking their registers up first; a row that has them
    # (deleted earlier, created again) must still be based on what the registers held
    add(a, ("p1", "kettle", 20))
    pump(a, b, remote=shared)
    write(a, products.delete().where(products.c.id == "p1"))
    a.sync(shared, stages=["reconcile"])  # the delete is stamped on its own
    add(a, *[(f"n{i:02}", "new", i) for i in range(10)], ("p1", "kettle again", 25))
    sent: list[Any] = []
    a.sync(shared, on_event=lambda e: sent.extend(e.entries) if isinstance(e, events.Sending) else None)
    delete, *inserts = sent
    assert delete.op.value == "delete" and len(inserts) == 11
    again = next(e for e in inserts if e.pk == ("p1",))
    assert again.base == {"_row": delete.version}
    assert all(e.base == {} for e in inserts if e is not again)
    b.sync(shared)
    assert rows(b) == rows(a) and len(rows(b)) == 11


def test_writes_after_batches_left_waiting_are_stamped_after_them(a, b, shared) -> None:
    # batches left by a stop wait with their entries stamped; later writes, even to their rows,
    # are stamped on their own (by a reconcile here) and based on them, and all of it arrives
    add(a, *[(f"p{i:02}", "x", i) for i in range(12)])
    a.sync(shared, upload_batch_size=4, should_continue=lambda r: r.sent < 8)  # after the first 4: stamps 8, sends 4
    assert a.status().unshared == 4
    with a.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count FROM syncengine_outbox").scalars().all() == [4]
    write(a, products.update().where(products.c.id == "p11").values(price=111))  # waiting in a batch
    write(a, products.delete().where(products.c.id == "p00"))  # shared already
    a.sync(shared, stages=["reconcile"])
    assert a.status().unshared == 4 + 2
    assert sorted((r.op, r.pk[0]) for r in a.log(unshared=True))[:2] == [("delete", "p00"), ("insert", "p08")]
    report = a.sync(shared, upload_batch_size=4)
    assert report.sent == 4 + 2 and a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a)
    assert [(r["id"], r["price"]) for r in rows(b)][-1] == ("p11", 111)


@pytest.mark.parametrize("cleanup", [True, False])
def test_entries_pre_send_drops_stay_dropped_when_their_batch_is_sent_by_a_later_sync(a, b, shared, cleanup) -> None:
    # batches are prepared ahead of sending; those a stop leaves behind go out with the next
    # sync, and what pre_send dropped must not go with them (counted once, when sent)
    add(a, *[(f"p{i:02}", "secret" if i % 3 == 0 else "public", i) for i in range(30)])

    def drop(entries):
        return [e for e in entries if e.data.get("name") != "secret"]

    options = {"upload_batch_size": 5, "pre_send": drop, "cleanup": cleanup}
    first = a.sync(shared, should_continue=lambda r: r.sent_batches < 2, **options)
    second = a.sync(shared, **options)
    assert first.sent_batches == 2 and first.sent + second.sent == 20
    assert first.dropped + second.dropped == 10
    assert first.dropped == 10 - second.dropped == 4  # two batches of five held four secret rows
    assert a.status().unshared == 0
    b.sync(shared)
    assert len(rows(b)) == 20 and {r["name"] for r in rows(b)} == {"public"}


def test_a_key_change_split_over_two_waiting_batches_loses_no_later_write(a, b, shared) -> None:
    # the first batch of a sync is one batch's worth of captured rows; a key change among them
    # makes one entry more, which waits in a second batch. A later write must still be shared.
    add(a, ("k1", "one", 1))
    a.sync(shared)  # nothing left in the log
    write(a, products.update().where(products.c.id == "k1").values(id="k2"))
    first = a.sync(shared, upload_batch_size=1, single_batch=True)
    assert first.sent == 1 and a.status().unshared == 1 and a.has_local_changes()  # the insert half waits
    add(a, ("k9", "later", 9))
    a.sync(shared)
    assert a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a) and [r["id"] for r in rows(b)] == ["k2", "k9"]


def test_a_write_after_a_failed_push_is_stamped_before_anything_received(a, b, shared) -> None:
    # after a failed push a batch waits; a local edit made then must be based on what the row
    # held, so a concurrent edit received later is a conflict, not silently overtaken
    add(a, ("k5", "five", 0), ("k1", "one", 1))
    pump(a, b, remote=shared)
    add(a, ("m1", "m", 1), ("m2", "m", 2))
    write(a, products.update().where(products.c.id == "k1").values(id="k2"))
    with pytest.raises(RemoteUnavailable):
        a.sync(FailSecondPush(shared), upload_batch_size=3)
    write(a, products.update().where(products.c.id == "k5").values(price=5))
    write(b, products.update().where(products.c.id == "k5").values(price=7))
    b.sync(shared)
    assert a.sync(shared).conflicts == 1
    b.sync(shared)
    assert rows(a) == rows(b)


def test_two_syncs_of_one_database_at_once_lose_no_write(tmp_path, a, b, shared) -> None:
    # the app and a scheduled sync (two processes) may send the same waiting batch; the one that
    # finishes last must not delete a write made after the other cleaned up
    other = Device.open(str(tmp_path / "a.db"))
    add(a, *[(f"k{i}", "v", i) for i in range(3)])
    pushing, release = threading.Event(), threading.Event()

    class SlowPush:
        def __getattr__(self, name: str) -> Any:
            return getattr(shared, name)

        def push(self, *args: Any, **kwargs: Any) -> Any:
            pushing.set()
            release.wait(10)
            return shared.push(*args, **kwargs)

    slow = threading.Thread(target=lambda: other.sync(SlowPush(), stages=["share"]))
    slow.start()
    assert pushing.wait(10)
    a.sync(shared, stages=["share"])  # sends the same batch and cleans up
    add(a, ("k9", "later", 9))
    release.set()
    slow.join(10)
    other.close()
    a.sync(shared)
    assert a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a) and len(rows(b)) == 4


def test_a_sync_that_keeps_its_entries_sends_batches_left_waiting(a, b, shared) -> None:
    add(a, *[(f"k{i}", "v", i) for i in range(8)])
    a.sync(shared, upload_batch_size=2, should_continue=lambda r: r.sent_batches < 2)
    add(a, ("k9", "later", 9))
    report = a.sync(shared, cleanup=False)
    assert report.sent == 4 + 1 and a.status().unshared == 0
    b.sync(shared)
    assert rows(b) == rows(a) and len(rows(b)) == 9


def test_applied_counts_only_entries_that_changed_the_table(a, b, shared, tmp_path) -> None:
    """A row shared again that the device holds already, or a write older than the row's, applies nothing."""
    add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
    a.sync(shared)
    assert b.sync(shared).applied == 2
    other = SqlSharedLog(str(tmp_path / "other.db"))
    try:
        a.sync(other)  # a log a has not shared with: it shares its whole state there
        again = b.sync(other)  # b shares its own and receives a's: rows it holds already
        assert again.received == 2 and again.applied == 0 and rows(a) == rows(b)
    finally:
        other.close()


def test_a_custom_reconciler_that_leaves_entries_out_is_refused_and_loses_nothing(a, b, shared) -> None:
    from syncengine import Plan, reconcile

    add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
    a.sync(shared)
    with pytest.raises(ReconcileError, match="left 2 received entries out of its plan"):
        b.sync(shared, reconciler=lambda entries, states: Plan(rows=[]))
    assert rows(b) == []
    done = b.sync(shared, reconciler=lambda entries, states: reconcile(entries, states))  # a whole plan: applied
    assert done.applied == 2 and rows(a) == rows(b)


def test_a_single_stage_may_be_named_as_text(a, shared) -> None:
    add(a, ("p1", "kettle", 20))
    assert a.sync(shared, stages="share").sent == 1  # not the letters s, h, a, r, e


def test_a_shared_log_file_moved_away_while_open_is_unreachable_not_read_only(a, tmp_path) -> None:
    """What watch met: SQLite calls a file moved under an open connection read-only; it is away, and may come back."""
    path = tmp_path / "moving.db"
    log = SqlSharedLog(str(path))
    try:
        a.sync(log)
        path.rename(tmp_path / "elsewhere.db")
        add(a, ("p1", "kettle", 20))
        with pytest.raises(RemoteUnavailable, match="was moved or deleted while in use: put it back") as away:
            a.sync(log)
        assert away.value.retryable and away.value.kind == "no_log"  # so watch backs off and tries again
        assert not path.exists()  # and no empty log was made in its place
        (tmp_path / "elsewhere.db").rename(path)
        assert a.sync(log).sent == 1
    finally:
        log.close()


def test_a_shared_log_file_replaced_while_open_is_the_one_a_long_running_program_syncs_with(a, b, tmp_path) -> None:
    """A backup restored (or a copy put back) over the log of a program that keeps it open: it syncs with that file."""
    path = tmp_path / "log.db"
    log = SqlSharedLog(str(path))
    try:
        add(a, ("p1", "kettle", 20))
        a.sync(log)
        shutil.copyfile(path, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", path)  # another file at the same path, as a restore leaves it
        add(a, ("p2", "jug", 30))
        assert a.sync(log).sent == 1
        fresh = SqlSharedLog(str(path))
        try:  # the write went into the file at the path, not into the one replaced
            assert b.sync(fresh).applied == 2 and rows(b) == rows(a)
        finally:
            fresh.close()
    finally:
        log.close()
