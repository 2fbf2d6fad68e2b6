"""Foreign keys: a batch that was consistent where it was written lands whole on a device that enforces them.

PostgreSQL and MariaDB check foreign keys on every statement, so the order in which
a batch's rows are written matters there: a parent before its children, a child
moved before its old parent is deleted, a row's UNIQUE value freed before another row
takes it. None of that may turn into a conflict, and a change that really breaks a
key (a child added offline under a parent deleted elsewhere) still does.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncengine import Device

from .helpers import every_dialect, no_conflicts, pump, rows, write

meta = sa.MetaData()
shops = sa.Table(
    "shops",
    meta,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
)
categories = sa.Table(
    "categories",
    meta,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("parent_id", sa.String(20), sa.ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True),
    sa.Column("name", sa.String(40), nullable=False),
)
products = sa.Table(
    "products",
    meta,
    sa.Column("id", sa.String(20), primary_key=True),
    sa.Column("category_id", sa.String(20), sa.ForeignKey("categories.id", ondelete="RESTRICT"), nullable=False),
    sa.Column("sku", sa.String(20), nullable=False, unique=True),
)
TABLES = (shops, categories, products)


def catalogue(device) -> dict[str, list[dict]]:
    return {t.name: rows(device, t) for t in TABLES}


def make(devices, shared):
    a, b = devices("a", meta), devices("b", meta)
    write(a, categories.insert(), [{"id": "root", "parent_id": None, "name": "All"}])
    pump(a, b, remote=shared)
    return a, b


@every_dialect
def test_a_tree_of_new_rows_lands_whole(devices, shared) -> None:
    a, b = make(devices, shared)
    # each category's id sorts before its parent's: a receiver writing in key order would meet children first
    with a.engine.begin() as conn:
        for pk, parent in (("c3", "root"), ("c2", "c3"), ("c1", "c2")):
            conn.execute(categories.insert().values(id=pk, parent_id=parent, name=pk))
        conn.execute(products.insert(), [{"id": f"p{i}", "category_id": "c1", "sku": f"S{i}"} for i in range(5)])
    pump(a, b, remote=shared)
    assert catalogue(b) == catalogue(a)
    assert len(rows(b, categories)) == 4 and len(rows(b, products)) == 5
    assert no_conflicts(a, b)


@pytest.mark.parametrize("server", [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)])
def test_a_tree_written_children_first_where_keys_are_not_checked_lands_where_they_are(
    server, new_db, tmp_path, shared
) -> None:
    a = Device.init(str(tmp_path / "a.db"), metadata=meta, name="a")  # SQLite: keys checked only if asked
    b = Device.init(new_db(server), metadata=meta, name="b")
    try:
        with a.engine.begin() as conn:  # children before parents, in one table and across two
            conn.execute(products.insert(), [{"id": f"p{i}", "category_id": "c1", "sku": f"S{i}"} for i in range(3)])
            for pk, parent in (("c1", "c2"), ("c2", "c3"), ("c3", None)):
                conn.execute(categories.insert().values(id=pk, parent_id=parent, name=pk))
        pump(a, b, remote=shared)
        assert catalogue(b) == catalogue(a) and len(rows(b, products)) == 3
        assert no_conflicts(a, b)
    finally:
        a.close()
        b.close()


@every_dialect
def test_moving_children_and_deleting_their_old_parent_in_one_transaction_is_no_conflict(devices, shared) -> None:
    a, b = make(devices, shared)
    write(a, categories.insert(), [{"id": "old", "parent_id": "root", "name": "Old"}])
    write(a, products.insert(), [{"id": f"p{i}", "category_id": "old", "sku": f"S{i}"} for i in range(3)])
    pump(a, b, remote=shared)
    with a.engine.begin() as conn:
        conn.execute(categories.insert().values(id="new", parent_id="root", name="New"))
        conn.execute(products.update().values(category_id="new"))
        conn.execute(categories.delete().where(categories.c.id == "old"))
    pump(a, b, remote=shared)
    assert catalogue(b) == catalogue(a)
    assert {r["category_id"] for r in rows(b, products)} == {"new"}
    assert [r["id"] for r in rows(b, categories)] == ["new", "root"]
    assert no_conflicts(a, b)


@every_dialect
def test_a_unique_value_handed_from_one_row_to_another_is_no_conflict(devices, shared) -> None:
    a, b = make(devices, shared)
    write(a, shops.insert(), [{"id": "s1", "name": "North"}])
    pump(a, b, remote=shared)
    with a.engine.begin() as conn:  # the shop is re-created under a new id with the same unique name
        conn.execute(shops.delete().where(shops.c.id == "s1"))
        conn.execute(shops.insert().values(id="s2", name="North"))
    pump(a, b, remote=shared)
    assert rows(b, shops) == [{"id": "s2", "name": "North"}]
    assert no_conflicts(a, b)


@every_dialect
def test_a_child_added_offline_under_a_parent_deleted_elsewhere_is_a_constraint_conflict(devices, shared) -> None:
    a, b = make(devices, shared)
    write(a, categories.insert(), [{"id": "gone", "parent_id": "root", "name": "Gone"}])
    pump(a, b, remote=shared)
    write(a, categories.delete().where(categories.c.id == "gone"))
    write(b, products.insert(), [{"id": "px", "category_id": "gone", "sku": "SX"}])
    b.sync(shared)  # b shares its child first
    a.sync(shared)
    b.sync(shared)
    if a.engine.dialect.name == "sqlite":  # the engine's SQLite connections do not check foreign keys
        assert [r["id"] for r in rows(a, products)] == ["px"] and no_conflicts(a, b)
        return
    for device in (a, b):  # where they are checked, the change that breaks one waits for a person
        held = [c for c in device.conflicts() if c.kind == "constraint"]
        assert len(held) == 1, device.name


@every_dialect
def test_two_rows_swapping_their_unique_values_through_a_temporary_one_is_no_conflict(devices, shared) -> None:
    """The classic swap: p1 takes a spare SKU, p2 takes p1's, p1 takes p2's, in one transaction."""
    a, b = make(devices, shared)
    write(a, products.insert(), [{"id": "p1", "category_id": "root", "sku": "S1"}, {"id": "p2", "category_id": "root", "sku": "S2"}])
    pump(a, b, remote=shared)
    with a.engine.begin() as conn:
        conn.execute(products.update().where(products.c.id == "p1").values(sku="spare"))
        conn.execute(products.update().where(products.c.id == "p2").values(sku="S1"))
        conn.execute(products.update().where(products.c.id == "p1").values(sku="S2"))
    pump(a, b, remote=shared)
    assert rows(b, products) == rows(a, products) == [
        {"id": "p1", "category_id": "root", "sku": "S2"},
        {"id": "p2", "category_id": "root", "sku": "S1"},
    ]
    assert no_conflicts(a, b)
