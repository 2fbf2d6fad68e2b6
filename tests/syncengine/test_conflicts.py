"""Conflicts on real devices: the truth table, review, decisions, history.

Each device is a real database: an SQLite file, and for the tests marked
``@every_dialect`` a PostgreSQL and a MariaDB database too. The shared log is a real
SQL log. "Concurrent" means neither device had received the other's write when it
made its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from syncengine import ConflictError, Device, events

from .helpers import (
    add,
    every_dialect,
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

# -- the truth table ----------------------------------------------------------------


def later(device: Device, ms: int = 1000) -> None:
    """Make the device's captured writes a second later than they were."""
    with device.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE syncengine_log SET wall = wall + {ms} WHERE state = 0")


@every_dialect
def test_concurrent_edits_of_one_field_are_an_edit_edit_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)  # 2 ms after a's: the database's clock must tell them apart
    a.sync(shared)
    report = b.sync(shared)
    assert report.conflicts == 1
    [conflict] = b.conflicts(include_decided=True)
    assert (conflict.kind, conflict.table, conflict.pk, conflict.field) == ("edit/edit", "products", ("p1",), "price")
    assert (conflict.base, conflict.local, conflict.remote) == (10, 12, 11)
    assert conflict.remotes[0].device_id == a.device_id
    assert conflict.auto == 12  # b wrote later: last writer wins
    assert (conflict.status, conflict.decided_how) == ("decided", "automatic")
    a.sync(shared)
    assert price(a) == price(b) == 12
    assert [c.kind for c in a.conflicts(include_decided=True)] == ["edit/edit"]
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_a_sequential_overwrite_is_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    pump(a, b, remote=shared, rounds=1)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert price(a) == price(b) == 12


@every_dialect
def test_concurrent_edits_of_different_fields_merge_without_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_name(b, "p1", "Kettle")
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "Kettle", "price": 11, "note": None}]


@every_dialect
def test_concurrent_edits_to_the_same_value_are_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 15)
    set_price(b, "p1", 15)
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert price(a) == price(b) == 15


@every_dialect
def test_a_delete_concurrent_with_an_edit_is_a_delete_edit_conflict_on_both_sides(ab, shared) -> None:
    a, b = ab
    write(a, products.delete().where(products.c.id == "p1"))
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    for device in (a, b):
        [conflict] = device.conflicts(include_decided=True)
        assert conflict.kind == "delete/edit" and conflict.field is None and conflict.pk == ("p1",)
        assert conflict.auto is None  # the delete wins
    assert rows(a) == rows(b) == []


@every_dialect
def test_the_same_key_created_twice_with_different_values_is_create_create(a, b, shared) -> None:
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "tea pot", 30))
    pump(a, b, remote=shared)
    [conflict] = b.conflicts(include_decided=True)
    assert conflict.kind == "create/create" and conflict.field is None
    assert conflict.local["name"] == "tea pot" and conflict.remote["name"] == "teapot"
    assert rows(a) == rows(b) and len(rows(a)) == 1


@every_dialect
def test_the_same_key_created_twice_with_equal_values_is_not_a_conflict(a, b, shared) -> None:
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "teapot", 30))
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert rows(a) == rows(b) == [{"id": "p9", "name": "teapot", "price": 30, "note": None}]


def _held_price_conflict(a: Device, b: Device, shared: Any) -> Any:
    """a and b change p1's price at once; b, reviewing conflicts, holds the one it finds: returned."""
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    return conflict


# what each database says when a row breaks a unique constraint
UNIQUE_CLASH = {"sqlite": "UNIQUE constraint failed", "postgresql": "unique constraint", "mysql": "Duplicate entry"}


@every_dialect
def test_a_broken_unique_constraint_is_held_the_rest_lands_and_a_custom_value_decides(
    devices, shared, device_dialect
) -> None:
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
    assert conflict.is_open and UNIQUE_CLASH[device_dialect] in conflict.reason
    assert not re.search(r"\(\d+, ", conflict.reason), conflict.reason  # the database's sentence, not a driver's tuple
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


def test_a_clash_in_a_later_statement_of_a_bulk_insert_lands_every_other_row(devices, shared, monkeypatch) -> None:
    """SQLite inserts new rows thousands to a statement; here two, so the clash is in the third statement.

    The statements before it must not stay half-written: every other row lands once,
    the clashing one is held.
    """
    monkeypatch.setattr("syncengine.store._dialects._ROWS_PER_INSERT", 2)
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(a, unique_products.insert(), [{"id": f"r{i}", "sku": f"S-{i}", "name": f"thing {i}"} for i in range(7)])
    write(b, unique_products.insert().values(id="z", sku="S-4", name="clash"))
    a.sync(shared)
    report = b.sync(shared)
    assert (report.applied, report.held) == (6, 1)
    [conflict] = b.conflicts()
    assert conflict.kind == "constraint" and conflict.pk == ("r4",)
    assert sorted(r["id"] for r in rows(b, unique_products)) == ["r0", "r1", "r2", "r3", "r5", "r6", "z"]


@every_dialect
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


def test_a_device_an_hour_behind_that_edits_after_receiving_is_no_conflict_and_wins(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    pump(a, b, remote=shared, rounds=1)
    set_price(b, "p1", 12)
    with b.engine.begin() as conn:  # b's clock is an hour slow when it writes
        conn.exec_driver_sql("UPDATE syncengine_log SET wall = wall - 3600000 WHERE state = 0")
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    assert price(a) == price(b) == 12


# -- review ---------------------------------------------------------------------------


@every_dialect
def test_under_review_the_local_value_stays_until_a_decision(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_name(a, "p1", "big kettle")
    set_price(b, "p1", 12)
    a.sync(shared)
    report = b.sync(shared)
    assert price(b) == 12 and rows(b)[0]["name"] == "big kettle"  # only the conflicting field waits
    assert (report.applied, report.held, report.conflicts) == (1, 1, 1)  # the name applied, the price waits
    [conflict] = b.conflicts()
    assert conflict.is_open and conflict.held and conflict.auto == 12
    assert (conflict.local, conflict.remote) == (12, 11)
    assert b.status().conflicts == 1
    b.sync(shared)  # another sync leaves it held
    assert price(b) == 12 and b.status().conflicts == 1
    decided = b.resolve(conflict.id, "remote")
    assert (decided.status, decided.decision, decided.decided_how, decided.decided_by) == (
        "decided",
        "remote",
        "person",
        b.device_id,
    )
    assert price(b) == 11
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 11
    assert rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


def test_review_can_be_set_for_one_table(ab, shared) -> None:
    _, b = ab
    b.set_review(True, table="products")
    assert b.review_policy()("products") is True
    b.set_review(False)
    assert b.review_policy()("products") is True
    with pytest.raises(Exception, match="not synced"):
        b.set_review(True, table="nope")


@every_dialect
def test_a_held_conflict_survives_a_restart(ab, devices, shared) -> None:
    a, b = ab
    before = _held_price_conflict(a, b, shared)
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


@every_dialect
def test_a_further_change_to_a_held_row_updates_the_conflict(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_name(a, "p1", "steel kettle")
    set_price(b, "p1", 12)
    set_name(b, "p1", "copper kettle")
    pump(a, b, remote=shared, rounds=1)
    set_price(a, "p1", 14)
    set_name(a, "p1", "iron kettle")
    pump(a, b, remote=shared, rounds=1)
    held = {c.field: c for c in b.conflicts()}
    assert set(held) == {"price", "name"}
    assert held["price"].remote == 14 and [r.value for r in held["price"].remotes] == [11, 14]
    assert held["name"].remote == held["name"].auto == "iron kettle"  # a's second edit is now the last
    assert price(b) == 12 and rows(b)[0]["name"] == "copper kettle"
    b.resolve(held["price"].id, "remote")
    b.resolve(held["name"].id, "auto")
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "iron kettle", "price": 14, "note": None}]
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_keeping_my_edit_against_a_delete_brings_the_row_back_on_the_deleter(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    write(a, products.delete().where(products.c.id == "p1"))
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    assert price(b) == 12  # held: b keeps its row
    [conflict] = b.conflicts()
    assert conflict.kind == "delete/edit" and conflict.auto is None
    b.resolve(conflict.id, "local")
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 12
    assert rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_a_custom_integer_is_checked_against_the_range_its_column_holds(devices, ab, shared) -> None:
    a, b = ab
    conflict = _held_price_conflict(a, b, shared)
    if devices.dialect == "sqlite":  # SQLite's integers are 64-bit, whatever the column says
        b.resolve(conflict.id, value=3_000_000_000)
        assert price(b) == 3_000_000_000
    else:  # an INTEGER column holds 32 bits: said in a sentence, not refused by the database later
        with pytest.raises(ConflictError, match=r"value 3000000000 does not fit .*from -2147483648 to 2147483647"):
            b.resolve(conflict.id, value=3_000_000_000)
        assert b.conflicts()[0].is_open and price(b) == 12


def test_a_custom_value_is_checked_against_the_column_type(ab, shared) -> None:
    a, b = ab
    conflict = _held_price_conflict(a, b, shared)
    with pytest.raises(ConflictError, match=r'value "twelve" does not fit column products\.price'):
        b.resolve(conflict.id, value="twelve")
    with pytest.raises(ConflictError, match=r"value 99999999999999999999999 does not fit .* \(expects an integer from"):
        b.resolve(conflict.id, value=99999999999999999999999)  # (SQLite's driver raised OverflowError)
    assert b.conflicts()[0].is_open and price(b) == 12
    with pytest.raises(ConflictError, match="already decided"):
        b.resolve(b.resolve(conflict.id, value=20).id, "local")
    with pytest.raises(ConflictError, match="no conflict with id 999"):
        b.resolve(999, "local")


@every_dialect
def test_resolve_many_decides_a_table_or_everything(a, b, shared) -> None:
    add(a, *[(f"p{i}", "x", i) for i in range(4)])
    pump(a, b, remote=shared)
    b.set_review(True)
    for i in range(4):
        set_price(a, f"p{i}", 100 + i)
        set_price(b, f"p{i}", 200 + i)
    pump(a, b, remote=shared, rounds=1)
    assert b.status().conflicts == 4
    assert [r["price"] for r in rows(b)] == [200, 201, 202, 203]  # held
    decided = b.resolve_many("remote", table="products")
    assert len(decided) == 4 and all(c.decision == "remote" for c in decided)
    pump(a, b, remote=shared)
    assert [r["price"] for r in rows(a)] == [100, 101, 102, 103] and rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0
    for i in range(4):
        set_price(a, f"p{i}", 300 + i)
        set_price(b, f"p{i}", 400 + i)
    pump(a, b, remote=shared, rounds=1)
    assert b.status().conflicts == 4
    decided = b.resolve_many("local")  # no table: every open conflict
    assert len(decided) == 4 and all(c.decision == "local" for c in decided)
    pump(a, b, remote=shared)
    assert [r["price"] for r in rows(a)] == [400, 401, 402, 403] and rows(a) == rows(b)
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_three_devices_one_decision_reaches_all_with_nothing_left_open(devices, shared) -> None:
    a, b, c = devices("a"), devices("b"), devices("c")
    add(a, ("p1", "kettle", 10), ("p2", "mug", 5))
    pump(a, b, c, remote=shared)
    for device in (a, b, c):
        device.set_review(True)
    for pk, (on_a, on_b) in {"p1": (11, 12), "p2": (6, 7)}.items():
        set_price(a, pk, on_a)
        set_price(b, pk, on_b)
    pump(a, b, c, remote=shared)
    assert [d.status().conflicts for d in (a, b, c)] == [2, 2, 2]
    first, second = sorted(c.conflicts(), key=lambda conflict: conflict.pk)
    c.resolve(first.id, "remote")
    decided = c.resolve(second.id, value=15)
    assert decided.decision == "custom" and decided.decided_value == 15
    pump(a, b, c, remote=shared)
    assert [d.status().conflicts for d in (a, b, c)] == [0, 0, 0]
    assert price(a) == price(b) == price(c) == c.conflict(first.id).decided_value in (11, 12)
    assert price(a, "p2") == price(b, "p2") == price(c, "p2") == 15
    assert rows(a) == rows(b) == rows(c)
    for device in (a, b):
        assert [x.decided_how for x in device.conflicts(include_decided=True)] == ["remote", "remote"]


@every_dialect
def test_a_persons_decision_elsewhere_replaces_the_result_decided_automatically_here(ab, shared) -> None:
    a, b = ab
    a.set_review(True)  # a holds the conflict for a person; b decides automatically
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    later(b)
    a.sync(shared)
    b.sync(shared)
    [automatic] = b.conflicts(include_decided=True)
    assert (automatic.decided_value, automatic.decided_how) == (12, "automatic")
    a.sync(shared)
    a.resolve(a.conflicts()[0].id, "local")  # 11: the value that lost on b
    a.sync(shared)
    seen: list[Any] = []
    b.add_listener(seen.append)
    b.sync(shared)
    assert price(a) == price(b) == 11
    [record] = b.conflicts(include_decided=True)
    assert record.id == automatic.id and record.status == "decided"
    assert (record.decided_value, record.decided_by, record.decided_how) == (11, a.device_id, "remote")
    assert [(type(e).__name__, e.conflict.id) for e in seen] == [("ConflictDecided", automatic.id)]


@every_dialect
@pytest.mark.parametrize("review", [False, True], ids=["automatic", "held"])
def test_a_decision_arriving_with_the_change_it_decides_settles_the_conflict_that_change_makes(
    ab, shared, review
) -> None:
    a, b = ab
    a.set_review(True)
    b.set_review(review)  # held or not, the decision that came with the change settles it
    set_price(b, "p1", 12)
    b.sync(shared)
    set_price(a, "p1", 11)
    later(a)
    a.sync(shared, stages=("receive", "reconcile"))  # a's own change stays unshared
    a.resolve(a.conflicts()[0].id, "remote")  # 12
    a.sync(shared)  # a's change and its decision travel together
    b.sync(shared)
    assert price(a) == price(b) == 12
    [record] = b.conflicts(include_decided=True)
    assert (record.local, record.remote) == (12, 11)
    assert (record.decided_value, record.decided_by, record.decided_how) == (12, a.device_id, "remote")
    assert rows(a) == rows(b) and a.status().conflicts == b.status().conflicts == 0


def test_conflict_events_reach_listeners(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    seen: list[str] = []
    b.add_listener(lambda e: seen.append(type(e).__name__))
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    a.sync(shared)
    from_sync: list[Any] = []
    b.sync(shared, on_event=lambda e: from_sync.append(e) if isinstance(e, events.ConflictFound) else None)
    assert [e.conflict.field for e in from_sync] == ["price"]
    b.resolve(b.conflicts()[0].id, "local")
    assert seen == ["ConflictFound", "ConflictDecided"]


def test_conflict_json_has_the_documented_fields(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    later(b)
    pump(a, b, remote=shared, rounds=1)
    data = b.conflicts(include_decided=True)[0].as_json()
    assert {"id", "kind", "table", "pk", "field", "local", "remote", "auto"} <= set(data)
    assert (data["pk"], data["local"], data["remote"], data["auto"]) == ("p1", 12, 11, 12)
