"""The engine on every dialect: SQLite files, real PostgreSQL and real MariaDB.

Each test taking ``dialect`` runs three times; its devices live on that dialect. The
shared log is a real SQL log: an SQLite file for the SQLite run, a PostgreSQL
database for the server runs. The last tests mix dialects: SQLite devices on a
PostgreSQL shared log, and one SQLite, one PostgreSQL and one MariaDB device
syncing the same table through one log.

The MariaDB tests near the end guard three bugs this file found: keys differing
only in case, booleans read as 1/0, and fractional seconds dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncengine import ConflictError, Device, SqlSharedLog
from syncengine._db import create_engine
from syncengine.store._apply import execute_plan

from .helpers import add, metadata, products, pump, rows, unique_meta, unique_products, write

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


narrow_meta = sa.MetaData()
sa.Table(
    "products",
    narrow_meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price", sa.Integer, nullable=True),
)


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture
def shared(dialect, new_db, tmp_path) -> Iterator[SqlSharedLog]:
    """The shared log: an SQLite file for SQLite devices, PostgreSQL for the servers."""
    log = SqlSharedLog(str(tmp_path / "shared.db") if dialect == "sqlite" else new_db("postgresql"))
    yield log
    log.close()


class Devices:
    """Makes devices on fresh databases and closes them all at the end."""

    def __init__(self, new_db: Callable[[str], str], dialect: str) -> None:
        self.new_db = new_db
        self.dialect = dialect
        self.made: list[Device] = []
        self.urls: dict[str, str] = {}

    def __call__(self, name: str, meta: sa.MetaData = metadata, *, dialect: str | None = None) -> Device:
        url = self.new_db(dialect or self.dialect)
        self.urls[name] = url
        device = Device.init(url, metadata=meta, name=name)
        self.made.append(device)
        return device

    def reopen(self, name: str) -> Device:
        device = Device.open(self.urls[name])
        self.made.append(device)
        return device

    def close(self) -> None:
        for device in self.made:
            device.close()


@pytest.fixture
def devices(new_db, dialect) -> Iterator[Devices]:
    made = Devices(new_db, dialect)
    yield made
    made.close()


@pytest.fixture
def ab(devices, shared) -> tuple[Device, Device]:
    a, b = devices("a"), devices("b")
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    assert rows(b) == rows(a)
    return a, b


# -- small readers and writers ------------------------------------------------------


def set_price(device: Device, pk: str, value: int | None) -> None:
    write(device, products.update().where(products.c.id == pk).values(price=value))


def set_name(device: Device, pk: str, name: str) -> None:
    write(device, products.update().where(products.c.id == pk).values(name=name))


def price(device: Device, pk: str = "p1") -> Any:
    found = [r["price"] for r in rows(device) if r["id"] == pk]
    return found[0] if found else "gone"


def no_conflicts(*devs: Device) -> bool:
    return all(d.conflicts(include_decided=True) == [] for d in devs)


# -- exchanging rows ----------------------------------------------------------------


def test_two_devices_exchange_inserts_updates_and_deletes(devices, shared) -> None:
    a, b = devices("a"), devices("b")
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


def test_composite_primary_keys(devices, shared) -> None:
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


def test_init_snapshots_the_rows_a_table_already_holds(devices, new_db, dialect, shared) -> None:
    url = new_db(dialect)
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


def test_two_devices_adopting_the_same_rows_converge_without_conflict(devices, new_db, dialect, shared) -> None:
    made = []
    for name in ("a", "b"):
        url = new_db(dialect)
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


# -- the conflict truth table -------------------------------------------------------


def test_concurrent_edits_of_one_field_are_an_edit_edit_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    a.sync(shared)
    report = b.sync(shared)
    assert report.conflicts == 1
    [conflict] = b.conflicts(include_decided=True)
    assert (conflict.kind, conflict.table, conflict.pk, conflict.field) == ("edit/edit", "products", ("p1",), "price")
    assert (conflict.base, conflict.local, conflict.remote) == (10, 12, 11)
    assert conflict.remotes[0].device_id == a.device_id
    assert conflict.auto == 12
    assert (conflict.status, conflict.decided_how) == ("decided", "automatic")
    a.sync(shared)
    assert price(a) == price(b) == 12
    assert [c.kind for c in a.conflicts(include_decided=True)] == ["edit/edit"]
    assert a.status().conflicts == b.status().conflicts == 0


def test_a_delete_concurrent_with_an_edit_is_a_delete_edit_conflict(ab, shared) -> None:
    a, b = ab
    write(a, products.delete().where(products.c.id == "p1"))
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    for device in (a, b):
        [conflict] = device.conflicts(include_decided=True)
        assert conflict.kind == "delete/edit" and conflict.field is None and conflict.pk == ("p1",)
        assert conflict.auto is None
    assert rows(a) == rows(b) == []


def test_the_same_key_created_twice_with_different_values_is_create_create(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "tea pot", 30))
    pump(a, b, remote=shared)
    [conflict] = b.conflicts(include_decided=True)
    assert conflict.kind == "create/create" and conflict.field is None
    assert conflict.local["name"] == "tea pot" and conflict.remote["name"] == "teapot"
    assert rows(a) == rows(b) and len(rows(a)) == 1


def test_the_same_key_created_twice_with_equal_values_is_not_a_conflict(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "teapot", 30))
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert rows(a) == rows(b) == [{"id": "p9", "name": "teapot", "price": 30, "note": None}]


def test_a_sequential_overwrite_is_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    pump(a, b, remote=shared, rounds=1)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert price(a) == price(b) == 12


def test_concurrent_edits_of_different_fields_merge_without_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_name(b, "p1", "Kettle")
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "Kettle", "price": 11, "note": None}]


def test_concurrent_edits_to_the_same_value_are_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 15)
    set_price(b, "p1", 15)
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert price(a) == price(b) == 15


def test_a_broken_unique_constraint_is_held_the_rest_lands_and_a_custom_value_decides(devices, shared) -> None:
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(
        a,
        unique_products.insert(),
        [{"id": "x", "sku": "K-1", "name": "kettle"}, {"id": "y", "sku": "M-1", "name": "mug"}],
    )
    write(b, unique_products.insert().values(id="z", sku="K-1", name="other kettle"))
    a.sync(shared)
    report = b.sync(shared)
    assert report.held == 1 and report.applied == 1
    [conflict] = b.conflicts()
    assert conflict.kind == "constraint" and conflict.pk == ("x",) and conflict.auto is None
    assert conflict.is_open and conflict.reason
    assert {r["id"] for r in rows(b, unique_products)} == {"y", "z"}
    assert b.status().conflicts == 1
    with pytest.raises(ConflictError, match="no automatic result"):
        b.resolve(conflict.id, "auto")
    with pytest.raises(ConflictError, match="still breaks a constraint"):
        b.resolve(conflict.id, "remote")
    assert b.conflicts()[0].is_open and {r["id"] for r in rows(b, unique_products)} == {"y", "z"}
    decided = b.resolve(conflict.id, value={"sku": "K-1b"})
    assert (decided.status, decided.decision) == ("decided", "custom")
    assert b.status().conflicts == 0
    pump(a, b, remote=shared)
    assert rows(a, unique_products) == rows(b, unique_products)
    assert {(r["id"], r["sku"]) for r in rows(a, unique_products)} == {("x", "K-1b"), ("y", "M-1"), ("z", "K-1")}
    assert a.status().conflicts == 0


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


def test_under_review_the_local_value_stays_until_a_decision(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_name(a, "p1", "big kettle")
    set_price(b, "p1", 12)
    a.sync(shared)
    b.sync(shared)
    assert price(b) == 12 and rows(b)[0]["name"] == "big kettle"
    [conflict] = b.conflicts()
    assert conflict.is_open and conflict.held and conflict.auto == 12
    assert (conflict.local, conflict.remote) == (12, 11)
    assert b.status().conflicts == 1
    b.sync(shared)  # another sync leaves it held
    assert price(b) == 12 and b.status().conflicts == 1
    decided = b.resolve(conflict.id, "remote")
    assert (decided.status, decided.decision, decided.decided_how) == ("decided", "remote", "person")
    assert price(b) == 11
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 11
    assert rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


def test_keeping_my_edit_against_a_delete_brings_the_row_back(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    write(a, products.delete().where(products.c.id == "p1"))
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    assert price(b) == 12
    [conflict] = b.conflicts()
    assert conflict.kind == "delete/edit"
    b.resolve(conflict.id, "local")
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 12
    assert rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


def test_three_devices_one_decision_reaches_all_with_nothing_left_open(devices, shared) -> None:
    a, b, c = devices("a"), devices("b"), devices("c")
    add(a, ("p1", "kettle", 10))
    pump(a, b, c, remote=shared)
    for device in (a, b, c):
        device.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, c, remote=shared)
    assert [d.status().conflicts for d in (a, b, c)] == [1, 1, 1]
    [conflict] = c.conflicts()
    decided = c.resolve(conflict.id, value=15)
    assert decided.decision == "custom" and decided.decided_value == 15
    pump(a, b, c, remote=shared)
    assert [d.status().conflicts for d in (a, b, c)] == [0, 0, 0]
    assert price(a) == price(b) == price(c) == 15
    assert rows(a) == rows(b) == rows(c)
    assert a.conflicts(include_decided=True)[0].decided_how == "remote"
    assert b.conflicts(include_decided=True)[0].decided_how == "remote"


def test_a_held_conflict_survives_a_restart(ab, devices, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    [before] = b.conflicts()
    b.close()
    again = devices.reopen("b")
    assert again.device_id == b.device_id
    assert again.review_policy()("products") is True
    [conflict] = again.conflicts()
    assert conflict.id == before.id and conflict.is_open and conflict.held
    assert (conflict.local, conflict.remote) == (12, 11)
    assert price(again) == 12
    again.sync(shared)  # still held after a sync on the reopened device
    assert price(again) == 12 and again.status().conflicts == 1
    again.resolve(conflict.id, value=13)
    pump(a, again, remote=shared)
    assert price(a) == price(again) == 13
    assert again.status().conflicts == 0


def test_a_further_change_to_a_held_row_updates_the_conflict(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    set_price(a, "p1", 14)
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    assert conflict.remote == 14 and [r.value for r in conflict.remotes] == [11, 14]
    assert price(b) == 12
    b.resolve(conflict.id, "remote")
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 14
    assert a.status().conflicts == b.status().conflicts == 0


def test_taking_local_in_a_constraint_conflict_removes_the_remote_row_everywhere(devices, shared) -> None:
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(a, unique_products.insert().values(id="x", sku="K-1", name="kettle"))
    write(b, unique_products.insert().values(id="z", sku="K-1", name="other kettle"))
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    assert conflict.kind == "constraint" and conflict.pk == ("x",)
    b.resolve(conflict.id, "local")
    pump(a, b, remote=shared)
    assert [r["id"] for r in rows(b, unique_products)] == ["z"]
    assert rows(a, unique_products) == rows(b, unique_products)
    assert a.status().conflicts == b.status().conflicts == 0


def test_resolve_many_decides_every_open_conflict_of_a_table(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, *[(f"p{i}", "x", i) for i in range(4)])
    pump(a, b, remote=shared)
    b.set_review(True)
    for i in range(4):
        set_price(a, f"p{i}", 100 + i)
        set_price(b, f"p{i}", 200 + i)
    pump(a, b, remote=shared, rounds=1)
    assert b.status().conflicts == 4
    assert [r["price"] for r in rows(b)] == [200, 201, 202, 203]
    decided = b.resolve_many("remote", table="products")
    assert len(decided) == 4 and all(c.decision == "remote" for c in decided)
    pump(a, b, remote=shared)
    assert [r["price"] for r in rows(a)] == [100, 101, 102, 103] and rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


def test_edits_to_and_from_null(ab, shared) -> None:
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


def test_keys_that_differ_only_in_case_are_different_rows(dialect, devices, shared) -> None:
    a, b = devices("a", case_meta), devices("b", case_meta)
    write(a, codes.insert(), [{"id": "abc", "name": "lower"}, {"id": "ABC", "name": "upper"}])
    pump(a, b, remote=shared)
    assert rows(a, codes) == rows(b, codes) and len(rows(b, codes)) == 2
    write(b, codes.update().where(codes.c.id == "ABC").values(name="UPPER"))
    pump(a, b, remote=shared)
    assert {r["id"]: r["name"] for r in rows(a, codes)} == {"abc": "lower", "ABC": "UPPER"}
    assert rows(a, codes) == rows(b, codes)


# -- quarantine -----------------------------------------------------------------------


def test_a_missing_column_is_quarantined_then_retried_after_a_migration(devices, shared) -> None:
    a = devices("a")
    b = devices("narrow", narrow_meta)
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


# -- one transaction per reconcile batch ----------------------------------------------


class FailAfterWriting:
    """An executor that writes the plan, then fails: the whole batch must roll back."""

    def __init__(self) -> None:
        self.wrote = 0

    def __call__(self, conn, catalog, plan_rows):
        execute_plan(conn, catalog, plan_rows)
        self.wrote += len(plan_rows)
        raise RuntimeError("disk on fire")


def test_a_failed_reconcile_batch_leaves_the_database_as_it_was(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(b, ("keep", "already here", 1))
    pump(a, b, remote=shared)
    add(a, *[(f"p{i}", "x", i) for i in range(5)])
    set_price(a, "keep", 2)
    a.sync(shared)
    before = rows(b)
    executor = FailAfterWriting()
    with pytest.raises(RuntimeError, match="disk on fire"):
        b.sync(shared, executor=executor)
    assert executor.wrote == 6
    assert rows(b) == before  # nothing of the batch stayed
    assert b.status().quarantined == 0 and b.conflicts(include_decided=True) == []
    assert b.sync(shared).applied == 6  # nothing was lost either
    assert rows(b) == rows(a) and len(rows(b)) == 6
    assert b.status().pending == 0


class FailOnSecondBatch:
    """An executor that writes every batch but raises after writing the second."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, conn, catalog, plan_rows):
        self.calls += 1
        failures = execute_plan(conn, catalog, plan_rows)
        if self.calls == 2:
            raise RuntimeError("disk on fire")
        return failures


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
