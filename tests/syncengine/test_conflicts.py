"""Conflicts on real SQLite devices: the truth table, review, decisions, history.

Each device is a real SQLite file; the shared log is a real SQL log. "Concurrent"
means neither device had received the other's write when it made its own.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from syncengine import ConflictError, Device, events

from .helpers import add, metadata, products, pump, rows, unique_meta, unique_products, write


@pytest.fixture
def devices(tmp_path):
    made: dict[str, Device] = {}

    def make(name: str, meta: sa.MetaData = metadata) -> Device:
        made[name] = Device.init(str(tmp_path / f"{name}.db"), metadata=meta, name=name)
        return made[name]

    yield make
    for device in made.values():
        device.close()


def set_price(device: Device, pk: str, price: int | None) -> None:
    write(device, products.update().where(products.c.id == pk).values(price=price))


def set_name(device: Device, pk: str, name: str) -> None:
    write(device, products.update().where(products.c.id == pk).values(name=name))


def price(device: Device, pk: str = "p1") -> Any:
    found = [r["price"] for r in rows(device) if r["id"] == pk]
    return found[0] if found else "gone"


@pytest.fixture
def ab(devices, shared):
    a, b = devices("a"), devices("b")
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    return a, b


# -- the truth table ----------------------------------------------------------------


def later(device: Device, ms: int = 1000) -> None:
    """Make the device's captured writes a second later than they were (both may share a millisecond)."""
    with device.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE syncengine_log SET wall = wall + {ms} WHERE state = 0")


def test_concurrent_edits_of_one_field_are_an_edit_edit_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    later(b)
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


def test_a_sequential_overwrite_is_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    pump(a, b, remote=shared, rounds=1)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    assert a.conflicts(include_decided=True) == b.conflicts(include_decided=True) == []
    assert price(a) == price(b) == 12


def test_concurrent_edits_of_different_fields_merge_without_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    set_name(b, "p1", "Kettle")
    pump(a, b, remote=shared)
    assert a.conflicts(include_decided=True) == b.conflicts(include_decided=True) == []
    assert rows(a) == rows(b) == [{"id": "p1", "name": "Kettle", "price": 11, "note": None}]


def test_concurrent_edits_to_the_same_value_are_not_a_conflict(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 15)
    set_price(b, "p1", 15)
    pump(a, b, remote=shared)
    assert a.conflicts(include_decided=True) == b.conflicts(include_decided=True) == []


def test_a_delete_concurrent_with_an_edit_is_a_delete_edit_conflict_on_both_sides(ab, shared) -> None:
    a, b = ab
    write(a, products.delete().where(products.c.id == "p1"))
    set_price(b, "p1", 12)
    pump(a, b, remote=shared)
    for device in (a, b):
        [conflict] = device.conflicts(include_decided=True)
        assert conflict.kind == "delete/edit" and conflict.field is None
        assert conflict.auto is None  # the delete wins
    assert rows(a) == rows(b) == []


def test_the_same_key_created_twice_with_different_values_is_create_create(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "tea pot", 30))
    pump(a, b, remote=shared)
    [conflict] = b.conflicts(include_decided=True)
    assert conflict.kind == "create/create" and conflict.field is None
    assert conflict.local["name"] == "tea pot" and conflict.remote["name"] == "teapot"
    assert rows(a) == rows(b)


def test_the_same_key_created_twice_with_equal_values_is_not_a_conflict(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, ("p9", "teapot", 30))
    add(b, ("p9", "teapot", 30))
    pump(a, b, remote=shared)
    assert a.conflicts(include_decided=True) == b.conflicts(include_decided=True) == []




def test_a_broken_unique_constraint_is_held_and_the_rest_of_the_batch_lands(devices, shared) -> None:
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
    assert "UNIQUE" in conflict.reason.upper()
    assert {r["id"] for r in rows(b, unique_products)} == {"y", "z"}
    with pytest.raises(ConflictError, match="no automatic result"):
        b.resolve(conflict.id, "auto")
    with pytest.raises(ConflictError, match="still breaks a constraint"):
        b.resolve(conflict.id, "remote")
    b.resolve(conflict.id, value={"sku": "K-1b"})
    assert b.status().conflicts == 0
    pump(a, b, remote=shared)
    assert rows(a, unique_products) == rows(b, unique_products)
    assert {(r["id"], r["sku"]) for r in rows(a, unique_products)} == {("x", "K-1b"), ("y", "M-1"), ("z", "K-1")}


def test_taking_local_in_a_constraint_conflict_removes_the_remote_row_everywhere(devices, shared) -> None:
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(a, unique_products.insert().values(id="x", sku="K-1", name="kettle"))
    write(b, unique_products.insert().values(id="z", sku="K-1", name="other kettle"))
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    b.resolve(conflict.id, "local")
    pump(a, b, remote=shared)
    assert [r["id"] for r in rows(b, unique_products)] == ["z"]
    assert rows(a, unique_products) == rows(b, unique_products)


def test_a_device_an_hour_behind_that_edits_after_receiving_is_no_conflict_and_wins(ab, shared) -> None:
    a, b = ab
    set_price(a, "p1", 11)
    pump(a, b, remote=shared, rounds=1)
    set_price(b, "p1", 12)
    with b.engine.begin() as conn:  # b's clock is an hour slow when it writes
        conn.exec_driver_sql("UPDATE syncengine_log SET wall = wall - 3600000 WHERE state = 0")
    pump(a, b, remote=shared)
    assert a.conflicts(include_decided=True) == b.conflicts(include_decided=True) == []
    assert price(a) == price(b) == 12


# -- review ---------------------------------------------------------------------------


def test_under_review_the_local_value_stays_until_a_decision(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_name(a, "p1", "big kettle")
    set_price(b, "p1", 12)
    later(b)
    a.sync(shared)
    b.sync(shared)
    assert price(b) == 12 and rows(b)[0]["name"] == "big kettle"  # only the conflicting field waits
    [conflict] = b.conflicts()
    assert conflict.is_open and conflict.held and conflict.auto == 12
    assert b.status().conflicts == 1
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
    assert a.status().conflicts == b.status().conflicts == 0


def test_review_can_be_set_for_one_table(ab, shared) -> None:
    _, b = ab
    b.set_review(True, table="products")
    assert b.review_policy()("products") is True
    b.set_review(False)
    assert b.review_policy()("products") is True
    with pytest.raises(Exception, match="not synced"):
        b.set_review(True, table="nope")


def test_a_held_conflict_survives_a_restart(ab, shared, tmp_path) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    b.close()
    again = Device.open(str(tmp_path / "b.db"))
    [conflict] = again.conflicts()
    assert conflict.local == 12 and conflict.remote == 11
    again.resolve(conflict.id, value=13)
    pump(a, again, remote=shared)
    assert price(a) == price(again) == 13
    again.close()


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
    b.resolve(conflict.id, "auto")
    pump(a, b, remote=shared)
    assert price(a) == price(b)


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
    assert a.status().conflicts == 0 and b.status().conflicts == 0


def test_a_custom_value_is_checked_against_the_column_type(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    with pytest.raises(ConflictError, match=r"does not fit column products\.price"):
        b.resolve(conflict.id, value="twelve")
    assert b.conflicts()[0].is_open and price(b) == 12
    with pytest.raises(ConflictError, match="already decided"):
        b.resolve(b.resolve(conflict.id, value=20).id, "local")
    with pytest.raises(ConflictError, match="no conflict with id 999"):
        b.resolve(999, "local")


def test_resolve_many_decides_a_table_or_everything(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    add(a, *[(f"p{i}", "x", i) for i in range(4)])
    pump(a, b, remote=shared)
    b.set_review(True)
    for i in range(4):
        set_price(a, f"p{i}", 100 + i)
        set_price(b, f"p{i}", 200 + i)
    pump(a, b, remote=shared, rounds=1)
    assert b.status().conflicts == 4
    decided = b.resolve_many("local", table="products")
    assert len(decided) == 4 and all(c.decision == "local" for c in decided)
    pump(a, b, remote=shared)
    assert [r["price"] for r in rows(a)] == [200, 201, 202, 203] and rows(a) == rows(b)


def test_three_devices_one_decision_reaches_all_with_nothing_left_open(devices, shared) -> None:
    a, b, c = devices("a"), devices("b"), devices("c")
    add(a, ("p1", "kettle", 10))
    pump(a, b, c, remote=shared)
    for device in (a, b, c):
        device.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    pump(a, b, c, remote=shared, rounds=2)
    assert [d.status().conflicts for d in (a, b, c)] == [1, 1, 1]
    [conflict] = c.conflicts()
    c.resolve(conflict.id, "remote")
    pump(a, b, c, remote=shared)
    assert [d.status().conflicts for d in (a, b, c)] == [0, 0, 0]
    assert price(a) == price(b) == price(c) == c.conflict(conflict.id).decided_value
    assert a.conflicts(include_decided=True)[0].decided_how == "remote"


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
