"""The engine on every dialect: SQLite files, real PostgreSQL and real MariaDB.

Each test marked ``@every_dialect`` runs three times; its devices live on that
dialect, and its shared log is a real SQL log: an SQLite file for the SQLite run, a
PostgreSQL database for the server runs (see conftest.py). Behaviour every engine
test checks on all three, such as the conflict truth table, sits in test_sync.py and
test_conflicts.py under the same mark; this file holds the rest: more scenarios on
every dialect, then tests that mix dialects: SQLite devices on a PostgreSQL shared
log, and one SQLite, one PostgreSQL and one MariaDB device syncing the same table
through one log.

The MariaDB tests guard three bugs this file found: keys differing only in case,
booleans read as 1/0, and fractional seconds dropped silently.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncengine import Device, SqlSharedLog
from syncengine._db import create_engine
from syncengine.store import execute_plan

from .helpers import (
    add,
    every_dialect,
    metadata,
    no_conflicts,
    price,
    products,
    pump,
    rows,
    set_name,
    set_price,
    unique_meta,
    unique_products,
    write,
)

# -- schemas ------------------------------------------------------------------------

stock_meta = sa.MetaData()
stock = sa.Table(
    "stock",
    stock_meta,
    sa.Column("shop", sa.String(20), primary_key=True),
    sa.Column("sku", sa.String(20), primary_key=True),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("label", sa.Text, nullable=True),
)


# -- exchanging rows ----------------------------------------------------------------


@every_dialect
def test_three_devices_converge(devices, shared) -> None:
    a, b, c = devices("a"), devices("b"), devices("c")
    add(a, ("p1", "kettle", 20))
    add(b, ("p2", "mug", 5))
    add(c, ("p3", "teapot", 30), ("p4", "cup", 2))
    pump(a, b, c, remote=shared)
    assert rows(a) == rows(b) == rows(c) and len(rows(a)) == 4
    set_price(a, "p2", 6)
    write(b, products.delete().where(products.c.id == "p3"))
    set_name(c, "p1", "steel kettle")
    add(c, ("p5", "spoon", 1))
    pump(a, b, c, remote=shared)
    expected = [
        {"id": "p1", "name": "steel kettle", "price": 20, "note": None},
        {"id": "p2", "name": "mug", "price": 6, "note": None},
        {"id": "p4", "name": "cup", "price": 2, "note": None},
        {"id": "p5", "name": "spoon", "price": 1, "note": None},
    ]
    assert rows(a) == rows(b) == rows(c) == expected
    assert no_conflicts(a, b, c)


@every_dialect
def test_a_deleted_row_recreated_later_comes_back_everywhere(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, ("p1", "kettle", 20))
    pump(a, b, remote=shared)
    write(b, products.delete().where(products.c.id == "p1"))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == []
    add(a, ("p1", "kettle again", 21))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle again", "price": 21, "note": None}]


@every_dialect
def test_rows_with_composite_primary_keys_sync_and_a_conflict_names_the_whole_key(devices, shared) -> None:
    a, b = devices("a", stock_meta), devices("b", stock_meta)
    write(
        a,
        stock.insert(),
        [
            {"shop": "north", "sku": "K-1", "qty": 3, "label": "kettle"},
            {"shop": "south", "sku": "K-1", "qty": 4, "label": "kettle"},
        ],
    )
    write(b, stock.insert(), [{"shop": "north", "sku": "M-1", "qty": 9, "label": None}])
    pump(a, b, remote=shared)
    assert rows(a, stock) == rows(b, stock) and len(rows(a, stock)) == 3
    write(b, stock.update().where(stock.c.shop == "south", stock.c.sku == "K-1").values(qty=5))
    write(a, stock.delete().where(stock.c.shop == "north", stock.c.sku == "M-1"))
    # changing part of the key is a delete and an insert
    write(a, stock.update().where(stock.c.shop == "north", stock.c.sku == "K-1").values(shop="east"))
    pump(a, b, remote=shared)
    assert (
        rows(a, stock)
        == rows(b, stock)
        == [
            {"shop": "east", "sku": "K-1", "qty": 3, "label": "kettle"},
            {"shop": "south", "sku": "K-1", "qty": 5, "label": "kettle"},
        ]
    )
    # a conflict on a composite key names the whole key
    write(a, stock.update().where(stock.c.shop == "south", stock.c.sku == "K-1").values(qty=6))
    write(b, stock.update().where(stock.c.shop == "south", stock.c.sku == "K-1").values(qty=7))
    pump(a, b, remote=shared)
    [conflict] = b.conflicts(include_decided=True)
    assert (conflict.kind, conflict.pk, conflict.field) == ("edit/edit", ("south", "K-1"), "qty")
    assert rows(a, stock) == rows(b, stock)


@every_dialect
def test_init_snapshots_the_rows_a_table_already_holds(devices, new_db, device_dialect, shared) -> None:
    url = new_db(device_dialect)
    engine = create_engine(url)
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                products.insert(),
                [
                    {"id": "p1", "name": "kettle", "price": 20, "note": None},
                    {"id": "p2", "name": "mug", "price": 5, "note": "blue"},
                ],
            )
    finally:
        engine.dispose()
    a = Device.init(url, tables=("products",), name="a")
    devices.made.append(a)
    assert a.status().unshared == 2
    b = devices("b")
    pump(a, b, remote=shared)
    assert (
        rows(b)
        == rows(a)
        == [
            {"id": "p1", "name": "kettle", "price": 20, "note": None},
            {"id": "p2", "name": "mug", "price": 5, "note": "blue"},
        ]
    )
    # later writes on the adopted table are captured too
    set_price(b, "p2", 6)
    pump(a, b, remote=shared)
    assert price(a, "p2") == 6


@every_dialect
def test_two_devices_adopting_the_same_rows_converge_without_conflict(devices, new_db, device_dialect, shared) -> None:
    made = []
    for name in ("a", "b"):
        url = new_db(device_dialect)
        engine = create_engine(url)
        try:
            metadata.create_all(engine)
            with engine.begin() as conn:
                conn.execute(products.insert(), [{"id": "p1", "name": "kettle", "price": 20, "note": None}])
        finally:
            engine.dispose()
        device = Device.init(url, tables=("products",), name=name)
        devices.made.append(device)
        made.append(device)
    a, b = made
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle", "price": 20, "note": None}]
    assert no_conflicts(a, b)


# -- conflicts ----------------------------------------------------------------------


@every_dialect
def test_a_held_constraint_change_applies_by_itself_once_the_clash_is_gone(devices, shared) -> None:
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(a, unique_products.insert().values(id="x", sku="K-1", name="kettle"))
    write(b, unique_products.insert().values(id="z", sku="K-1", name="other kettle"))
    a.sync(shared)
    assert b.sync(shared).held == 1
    write(b, unique_products.update().where(unique_products.c.id == "z").values(sku="K-2"))
    pump(a, b, remote=shared)
    assert rows(a, unique_products) == rows(b, unique_products)
    assert {(r["id"], r["sku"]) for r in rows(b, unique_products)} == {("x", "K-1"), ("z", "K-2")}
    assert b.status().conflicts == 0


@every_dialect
def test_edits_to_and_from_null_merge_without_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", None)
    write(b, products.update().where(products.c.id == "p1").values(note="new"))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle", "price": None, "note": "new"}]
    set_price(b, "p1", 7)
    write(a, products.update().where(products.c.id == "p1").values(note=None))
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle", "price": 7, "note": None}]
    assert no_conflicts(a, b)


case_meta = sa.MetaData()
codes = sa.Table(
    "codes",
    case_meta,
    # a case-sensitive key on every dialect (MariaDB's default collation is not)
    sa.Column(
        "id",
        sa.String(36).with_variant(mysql.VARCHAR(36, collation="utf8mb4_bin"), "mysql", "mariadb"),
        primary_key=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
)


@every_dialect
def test_keys_that_differ_only_in_case_are_different_rows(devices, shared) -> None:
    a, b = devices("a", case_meta), devices("b", case_meta)
    write(a, codes.insert(), [{"id": "abc", "name": "lower"}, {"id": "ABC", "name": "upper"}])
    pump(a, b, remote=shared)
    assert rows(a, codes) == rows(b, codes) and len(rows(b, codes)) == 2
    write(b, codes.update().where(codes.c.id == "ABC").values(name="UPPER"))
    pump(a, b, remote=shared)
    assert {r["id"]: r["name"] for r in rows(a, codes)} == {"abc": "lower", "ABC": "UPPER"}
    assert rows(a, codes) == rows(b, codes)


# -- one transaction per reconcile batch ----------------------------------------------


class FailOnSecondBatch:
    """An executor that writes every batch but raises after writing the second."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conn, catalog, plan):
        self.calls += 1
        failures = execute_plan(conn, catalog, plan)
        if self.calls == 2:
            raise RuntimeError("disk on fire")
        return failures


@every_dialect
def test_reconcile_batches_commit_one_by_one(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, *[(f"p{i}", "x", i) for i in range(3)])
    a.sync(shared)
    add(a, *[(f"p{i}", "x", i) for i in range(3, 6)])
    a.sync(shared)
    executor = FailOnSecondBatch()
    with pytest.raises(RuntimeError, match="disk on fire"):
        b.sync(shared, executor=executor, download_batch_size=3, reconcile_batch_size=3)
    assert executor.calls == 2
    # the first batch committed, the second rolled back whole
    assert [r["id"] for r in rows(b)] == ["p0", "p1", "p2"]
    assert b.sync(shared).applied == 3
    assert rows(b) == rows(a) and b.status().pending == 0


@every_dialect
def test_repair_shares_an_uncaptured_write_and_every_row_again(devices, shared) -> None:
    """repair streams the table (a server-side cursor on PostgreSQL and MariaDB) and writes in the same transaction."""
    a, b = devices("a"), devices("b")
    add(a, *[(f"p{i}", "x", i) for i in range(5)])
    pump(a, b, remote=shared)
    with a.engine.begin() as conn:  # another program, with capture set aside: nothing is logged
        conn.execute(sa.text("UPDATE syncengine_control SET applying = 1"))
        conn.execute(products.insert().values(id="p9", name="never captured", price=9))
        conn.execute(sa.text("UPDATE syncengine_control SET applying = 0"))
    assert not a.verify(shared).in_step
    report = a.repair(shared)
    assert report.captured == 1
    pump(b, remote=shared)
    assert rows(b) == rows(a) and len(rows(b)) == 6
    assert a.repair(shared, everything=True).restated == 6
    pump(b, a, remote=shared)
    assert rows(b) == rows(a) and no_conflicts(a, b)
    assert a.verify(shared).in_step and b.verify(shared).in_step


# -- mixed dialects -------------------------------------------------------------------


@pytest.mark.postgres
def test_sqlite_devices_through_a_postgresql_shared_log(tmp_path, new_db) -> None:
    log = SqlSharedLog(new_db("postgresql"))
    made: list[Device] = []
    try:
        a = Device.init(str(tmp_path / "a.db"), metadata=metadata, name="a")
        made.append(a)
        b = Device.init(str(tmp_path / "b.db"), metadata=metadata, name="b")
        made.append(b)
        add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
        pump(a, b, remote=log)
        assert rows(a) == rows(b) and len(rows(b)) == 2
        set_price(a, "p1", 21)
        set_price(b, "p1", 22)
        write(b, products.delete().where(products.c.id == "p2"))
        pump(a, b, remote=log)
        assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle", "price": 22, "note": None}]
        [conflict] = b.conflicts(include_decided=True)
        assert conflict.kind == "edit/edit"
        assert {d.name for d in log.devices()} == {"a", "b"}
    finally:
        for device in made:
            device.close()
        log.close()


@pytest.mark.postgres
@pytest.mark.mysql
def test_sqlite_postgresql_and_mariadb_devices_share_one_log(tmp_path, new_db) -> None:
    log = SqlSharedLog(new_db("postgresql"))
    made: dict[str, Device] = {}
    try:
        for name, where in (("lite", "sqlite"), ("pg", "postgresql"), ("maria", "mysql")):
            made[name] = Device.init(new_db(where), metadata=metadata, name=name)
        lite, pg, maria = made["lite"], made["pg"], made["maria"]
        add(lite, ("p1", "kettle", 20))
        add(pg, ("p2", "mug", 5))
        add(maria, ("p3", "teapot", 30))
        pump(lite, pg, maria, remote=log)
        assert rows(lite) == rows(pg) == rows(maria) and len(rows(lite)) == 3
        set_name(pg, "p1", "steel kettle")
        write(maria, products.delete().where(products.c.id == "p2"))
        write(lite, products.update().where(products.c.id == "p3").values(note="ünïcode ✓"))
        pump(lite, pg, maria, remote=log)
        expected = [
            {"id": "p1", "name": "steel kettle", "price": 20, "note": None},
            {"id": "p3", "name": "teapot", "price": 30, "note": "ünïcode ✓"},
        ]
        assert rows(lite) == rows(pg) == rows(maria) == expected
        # a conflict held on MariaDB, decided there, reaches the others
        maria.set_review(True)
        set_price(lite, "p1", 21)
        set_price(maria, "p1", 22)
        pump(lite, pg, maria, remote=log, rounds=1)
        assert price(maria) == 22
        [conflict] = maria.conflicts()
        assert conflict.kind == "edit/edit" and (conflict.local, conflict.remote) == (22, 21)
        maria.resolve(conflict.id, value=25)
        pump(lite, pg, maria, remote=log)
        assert price(lite) == price(pg) == price(maria) == 25
        assert rows(lite) == rows(pg) == rows(maria)
        assert [d.status().conflicts for d in (lite, pg, maria)] == [0, 0, 0]
    finally:
        for device in made.values():
            device.close()
        log.close()


flags_meta = sa.MetaData()
flags = sa.Table(
    "flags",
    flags_meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=True),
    sa.Column("cost", sa.Numeric(10, 2), nullable=True),
)


@pytest.mark.postgres
@pytest.mark.mysql
def test_equal_booleans_from_mariadb_and_another_dialect_are_not_a_conflict(new_db) -> None:
    from decimal import Decimal

    log = SqlSharedLog(new_db("postgresql"))
    made: list[Device] = []
    try:
        pg = Device.init(new_db("postgresql"), metadata=flags_meta, name="pg")
        made.append(pg)
        maria = Device.init(new_db("mysql"), metadata=flags_meta, name="maria")
        made.append(maria)
        write(pg, flags.insert().values(id="f1", active=False, cost=Decimal("1.50")))
        pump(pg, maria, remote=log)
        assert rows(pg, flags) == rows(maria, flags)
        for device in (pg, maria):  # both make the same change, concurrently
            write(device, flags.update().where(flags.c.id == "f1").values(active=True, cost=Decimal("2.00")))
        pump(pg, maria, remote=log)
        assert rows(pg, flags) == rows(maria, flags) == [{"id": "f1", "active": True, "cost": Decimal("2.00")}]
        assert no_conflicts(pg, maria)
    finally:
        for device in made:
            device.close()
        log.close()


moments_meta = sa.MetaData()
moments = sa.Table(
    "moments",
    moments_meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("seen", sa.DateTime, nullable=True),  # DATETIME on MariaDB: whole seconds
)


@pytest.mark.mysql
def test_a_datetime_mariadb_cannot_hold_exactly_is_quarantined_not_truncated(tmp_path, new_db) -> None:
    import datetime as dt

    log = SqlSharedLog(str(tmp_path / "shared.db"))
    made: list[Device] = []
    try:
        lite = Device.init(new_db("sqlite"), metadata=moments_meta, name="lite")
        made.append(lite)
        maria = Device.init(new_db("mysql"), metadata=moments_meta, name="maria")
        made.append(maria)
        write(lite, moments.insert().values(id="m1", seen=dt.datetime(2024, 5, 1, 10, 0, 0, 123456)))
        pump(lite, maria, remote=log)
        # either the value arrives exactly, or it is quarantined as not fitting: never changed silently
        assert rows(maria, moments) == rows(lite, moments) or (
            rows(maria, moments) == [] and len(maria.quarantined()) == 1
        )
    finally:
        for device in made:
            device.close()
        log.close()
