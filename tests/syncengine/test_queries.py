"""What front ends read: log pages and filters, conflict history pages, sync history, reads during a sync."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from syncengine import ConfigurationError, Device

from .helpers import add, products, pump, write


def test_log_pages_by_key_and_filters_by_operation_and_device(a, b, shared) -> None:
    add(a, *[(f"p{i:02}", "x", i) for i in range(10)])
    write(a, products.update().where(products.c.id == "p03").values(price=99))
    write(a, products.delete().where(products.c.id == "p04"))
    a.sync(shared, stages=("share",), cleanup=False)
    everything = a.log()
    assert [r.id for r in everything] == sorted((r.id for r in everything), reverse=True)
    first = a.log(limit=5)
    second = a.log(limit=5, before_id=first[-1].id)
    assert [r.id for r in first + second] == [r.id for r in everything][:10]
    assert [r.pk for r in a.log(op="update")] == [["p03"]]
    assert [r.pk for r in a.log(op="delete")] == [["p04"]]
    assert len(a.log(device_id=a.device_id)) == 12 and a.log(device_id=b.device_id) == []
    with pytest.raises(ConfigurationError, match="unknown operation"):
        a.log(op="upsert")


def test_conflict_history_pages_newest_first(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(3)])
    pump(a, b, remote=shared)
    for i in range(3):
        write(a, products.update().where(products.c.id == f"p{i}").values(price=100 + i))
        write(b, products.update().where(products.c.id == f"p{i}").values(price=200 + i))
    pump(a, b, remote=shared, rounds=1)
    decided = b.conflicts(status="decided", newest_first=True)
    assert len(decided) == 3 and [c.id for c in decided] == sorted((c.id for c in decided), reverse=True)
    assert [c.id for c in b.conflicts(status="decided", newest_first=True, limit=2, offset=1)] == [
        c.id for c in decided[1:]
    ]
    assert b.conflicts(status="open") == []
    with pytest.raises(ConfigurationError, match="unknown conflict status"):
        b.conflicts(status="closed")


unique_meta = sa.MetaData()
unique_products = sa.Table(
    "products",
    unique_meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("sku", sa.String(20), nullable=False, unique=True),
    sa.Column("price", sa.Integer, nullable=True),
)


def test_resolve_many_can_skip_what_cannot_take_the_decision(tmp_path, shared) -> None:
    a = Device.init(str(tmp_path / "ua.db"), metadata=unique_meta, name="a")
    b = Device.init(str(tmp_path / "ub.db"), metadata=unique_meta, name="b")
    write(a, unique_products.insert(), [{"id": "x", "sku": "K", "price": 1}, {"id": "y", "sku": "M", "price": 1}])
    pump(a, b, remote=shared)
    b.set_review(True)
    write(a, unique_products.insert().values(id="z", sku="Q", price=1))
    write(b, unique_products.insert().values(id="w", sku="Q", price=1))  # will clash with z: a constraint conflict
    write(a, unique_products.update().where(unique_products.c.id == "y").values(price=5))
    write(b, unique_products.update().where(unique_products.c.id == "y").values(price=6))
    pump(a, b, remote=shared, rounds=1)
    kinds = sorted(c.kind for c in b.conflicts())
    assert kinds == ["constraint", "edit/edit"]
    with pytest.raises(Exception, match="no automatic result"):
        b.resolve_many("auto")
    assert len(b.conflicts()) == 2  # nothing changed
    decided = b.resolve_many("auto", skip_undecidable=True)
    assert [c.kind for c in decided] == ["edit/edit"]
    assert [c.kind for c in b.conflicts()] == ["constraint"]
    a.close()
    b.close()


def test_every_sync_is_kept_in_the_history(a, b, shared, tmp_path) -> None:
    add(a, ("p1", "kettle", 1))
    a.sync(shared)
    with pytest.raises(Exception, match="disk on fire"):
        b.sync(shared, executor=_failing)
    b.sync(shared)
    records = b.history()
    assert [r.error for r in records] == [None, "disk on fire"]
    assert records[0].report["applied"] == 1 and records[0].remote == str(tmp_path / "shared.db")
    out = subprocess.run(
        [sys.executable, "-m", "syncengine", "history", str(tmp_path / "b.db"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [r["error"] for r in json.loads(out)] == [None, "disk on fire"]


def _failing(conn, catalog, plan):
    raise RuntimeError("disk on fire")


def test_reads_do_not_wait_for_a_writer(a, tmp_path) -> None:
    """A sync holds SQLite's write lock for a while; status and log must still answer at once."""
    writer = sqlite3.connect(tmp_path / "a.db", timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO products (id, name) VALUES ('held', 'by a writer')")
    done = threading.Event()
    result: list[int] = []

    def read() -> None:
        result.append(a.status().unshared)
        a.log(limit=5)
        a.conflicts()
        done.set()

    thread = threading.Thread(target=read)
    thread.start()
    assert done.wait(timeout=5), "a read waited for the writer's lock"
    thread.join()
    writer.rollback()
    writer.close()
    assert result == [0]


def test_the_log_lists_entries_held_by_a_constraint_conflict(tmp_path, shared) -> None:
    a = Device.init(str(tmp_path / "ua.db"), metadata=unique_meta, name="a")
    b = Device.init(str(tmp_path / "ub.db"), metadata=unique_meta, name="b")
    write(a, unique_products.insert().values(id="x", sku="K", price=1))
    write(b, unique_products.insert().values(id="y", sku="K", price=2))
    pump(a, b, remote=shared, rounds=1)
    held = [r for r in b.log() if r.state == "held"]
    assert [r.pk for r in held] == [["x"]]
    a.close()
    b.close()
