"""Undoing a decision before a sync shares it: the row, its sync state and the conflict as they were.

``Device.undo_decisions(ids)`` takes back decisions made on this device whose
entries no sync has sent; afterwards the device behaves as if the decision had
never been made (deciding again and syncing converges, with no new conflict).
Once sent, or once the row changed, it refuses and changes nothing.
"""

from __future__ import annotations

import pytest

from syncengine import ConflictError, Device, events

from .helpers import (
    add,
    every_dialect,
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


def _held_price_conflict(ab, shared) -> tuple[Device, Device, int]:
    """a sets p1's price to 11, b (reviewing) to 12: b holds an edit/edit conflict."""
    a, b = ab
    b.set_review(True)
    set_price(a, "p1", 11)
    set_price(b, "p1", 12)
    a.sync(shared)
    b.sync(shared)
    [conflict] = b.conflicts()
    return a, b, conflict.id


@every_dialect
def test_an_unsent_decision_is_undone_and_deciding_again_converges(ab, shared) -> None:
    a, b, conflict_id = _held_price_conflict(ab, shared)
    b.resolve(conflict_id, value=20)
    assert price(b) == 20 and b.status().unshared == 1
    assert b.undo_problem([conflict_id]) is None
    heard: list[events.ConflictEvent] = []
    b.add_listener(heard.append)
    [reopened] = b.undo_decisions([conflict_id])
    assert heard == [events.ConflictReopened(reopened)]
    assert reopened.is_open and reopened.decision is None and reopened.local == 12
    assert price(b) == 12  # this device's value, as before the decision
    assert b.status().unshared == 0 and b.status().conflicts == 1
    assert b.conflict(conflict_id).is_open
    b.resolve(conflict_id, "remote")
    pump(a, b, remote=shared)
    assert price(a) == price(b) == 11
    assert a.status().conflicts == b.status().conflicts == 0


def test_a_decision_sent_by_a_sync_is_not_undone(ab, shared) -> None:
    _, b, conflict_id = _held_price_conflict(ab, shared)
    b.resolve(conflict_id, value=20)
    b.sync(shared)
    said = b.undo_problem([conflict_id])
    assert said is not None and "already sent" in said
    with pytest.raises(ConflictError, match="already sent"):
        b.undo_decisions([conflict_id])
    assert price(b) == 20 and not b.conflict(conflict_id).is_open
    assert b.setting(f"undo.{conflict_id}") is not None
    b.resolve_many("local")  # the next decision forgets what can no longer be undone
    assert b.setting(f"undo.{conflict_id}") is None


def test_a_decision_whose_row_changed_since_is_not_undone(ab, shared) -> None:
    _, b, conflict_id = _held_price_conflict(ab, shared)
    b.resolve(conflict_id, value=20)
    set_price(b, "p1", 21)  # a later local edit: undoing would lose it
    with pytest.raises(ConflictError, match="changed after the decision"):
        b.undo_decisions([conflict_id])
    assert price(b) == 21 and not b.conflict(conflict_id).is_open


def test_only_decisions_made_here_can_be_undone(ab, shared) -> None:
    _, b, conflict_id = _held_price_conflict(ab, shared)
    with pytest.raises(ConflictError, match="no decision made on this device"):
        b.undo_decisions([conflict_id])  # still open
    with pytest.raises(ConflictError, match="no decision made on this device"):
        b.undo_decisions([999])


@every_dialect
def test_undoing_a_delete_brings_the_row_back_as_it_was(ab, shared) -> None:
    a, b = ab
    b.set_review(True)
    write(a, products.delete().where(products.c.id == "p1"))
    set_name(b, "p1", "kettle XL")
    a.sync(shared)
    b.sync(shared)
    [conflict] = b.conflicts()
    assert conflict.kind == "delete/edit"
    b.resolve(conflict.id, "remote")
    assert rows(b) == []
    b.undo_decisions([conflict.id])
    assert rows(b) == [{"id": "p1", "name": "kettle XL", "price": 10, "note": None}]
    b.resolve(conflict.id, "local")  # keep the edit: the row comes back on a as well
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == [{"id": "p1", "name": "kettle XL", "price": 10, "note": None}]
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_undoing_a_constraint_decision_holds_the_incoming_row_again(devices, shared) -> None:
    a, b = devices("a", unique_meta), devices("b", unique_meta)
    write(a, unique_products.insert().values(id="x", sku="K-1", name="kettle"))
    write(b, unique_products.insert().values(id="z", sku="K-1", name="other kettle"))
    pump(a, b, remote=shared, rounds=1)
    [conflict] = b.conflicts()
    b.resolve(conflict.id, value={"sku": "K-1b"})
    assert {r["id"] for r in rows(b, unique_products)} == {"x", "z"}
    b.undo_decisions([conflict.id])
    assert [r["id"] for r in rows(b, unique_products)] == ["z"]
    assert b.conflict(conflict.id).is_open and b.status().conflicts == 1
    b.resolve(conflict.id, value={"sku": "K-1c"})  # the held change is there to decide again
    pump(a, b, remote=shared)
    assert rows(a, unique_products) == rows(b, unique_products)
    assert {(r["id"], r["sku"]) for r in rows(a, unique_products)} == {("x", "K-1c"), ("z", "K-1")}


def test_a_bulk_decision_and_two_decisions_on_one_row_are_undone_together(ab, shared) -> None:
    a, b = ab
    add(a, ("p2", "mug", 5))
    pump(a, b, remote=shared)
    b.set_review(True)
    for pk, value in (("p1", 11), ("p2", 6)):
        set_price(a, pk, value)
        set_name(a, pk, f"{pk} from a")
    for pk, value in (("p1", 12), ("p2", 7)):
        set_price(b, pk, value)
        set_name(b, pk, f"{pk} from b")
    a.sync(shared)
    b.sync(shared)
    before = rows(b)
    assert len(b.conflicts()) == 4  # price and name of each row
    decided = b.resolve_many("remote")
    assert [r["price"] for r in rows(b)] == [11, 6]
    b.undo_decisions([c.id for c in decided])
    assert rows(b) == before and len(b.conflicts()) == 4 and b.status().unshared == 0
    b.resolve_many("local")
    pump(a, b, remote=shared)
    assert rows(a) == rows(b) == before
    assert a.status().conflicts == b.status().conflicts == 0
