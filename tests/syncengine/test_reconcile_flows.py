"""The reconciliation flows storex-sync's tests cover, each with every local/received split.

For one object, a flow is a sequence of entries. For every way of splitting it into
entries already integrated here and entries just received (in every order), the
row a device ends with must be the flow's expected result, and the plan must be the
write that turns the table's row into it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncengine import Entry, Op, ReconcileError
from syncengine.clock import Timestamp
from syncengine.reconcile import Action, RowState, merge, reconcile

KEY = ("products", ("p1",))


def v(wall: int, device: str = "a") -> str:
    return Timestamp(wall, 0, device).encode()


def create(wall: int, device: str = "a", **data: Any) -> Entry:
    return Entry(v(wall, device), device, "products", ("p1",), Op.INSERT, {"id": "p1", **data})


def modify(wall: int, device: str = "a", **data: Any) -> Entry:
    return Entry(v(wall, device), device, "products", ("p1",), Op.UPDATE, data)


def delete(wall: int, device: str = "a") -> Entry:
    return Entry(v(wall, device), device, "products", ("p1",), Op.DELETE)


EXISTING = create(1, "z", name="old", price=1)  # for flows that start on an existing object

FLOWS: dict[str, tuple[list[Entry], dict[str, Any] | None, bool]] = {
    # name: (entries, expected row or None for no row, starts with EXISTING integrated)
    "creation": ([create(10, name="kettle", price=5)], {"id": "p1", "name": "kettle", "price": 5}, False),
    "creation, modification": (
        [create(10, name="kettle", price=5), modify(20, "b", price=6)],
        {"id": "p1", "name": "kettle", "price": 6},
        False,
    ),
    "creation, modification, deletion": (
        [create(10, name="kettle", price=5), modify(20, "b", price=6), delete(30)],
        None,
        False,
    ),
    "creation, modification, modification, deletion": (
        [create(10, name="kettle", price=5), modify(20, "b", price=6), modify(25, "a", name="pot"), delete(30, "b")],
        None,
        False,
    ),
    "creation, creation (merge)": (
        [create(10, "a", name="kettle", price=5), create(11, "b", name="Kettle", price=5)],
        {"id": "p1", "name": "Kettle", "price": 5},
        False,
    ),
    "modification, modification": (
        [modify(10, "a", name="new"), modify(20, "b", name="newer", price=2)],
        {"id": "p1", "name": "newer", "price": 2},
        True,
    ),
    "creation, deletion, recreation": (
        [create(10, name="kettle", price=5), delete(20, "b"), create(30, "a", name="kettle 2", price=7)],
        {"id": "p1", "name": "kettle 2", "price": 7},
        False,
    ),
    "deletion, recreation, redeletion": ([delete(10), create(20, "b", name="back", price=3), delete(30)], None, True),
    "deletion, modification": ([delete(10, "a"), modify(5, "b", name="late edit")], None, True),
}


def _fold(entries: list[Entry], start: RowState | None = None) -> RowState:
    state = start.copy() if start is not None else RowState()
    for entry in entries:
        merge(state, entry)
    return state


def _apply(row: dict[str, Any] | None, plan_row: Any) -> dict[str, Any] | None:
    """Apply a planned write to a row of a pretend table."""
    if plan_row.action is Action.INSERT:
        assert row is None, "planned an insert over an existing row"
        return dict(plan_row.values)
    if plan_row.action is Action.UPDATE:
        assert row is not None, "planned an update of a missing row"
        return {**row, **plan_row.values}
    if plan_row.action is Action.DELETE:
        assert row is not None, "planned a delete of a missing row"
        return None
    return row


def _splits(entries: list[Entry]):
    for mask in itertools.product([True, False], repeat=len(entries)):
        local = [e for e, is_local in zip(entries, mask, strict=True) if is_local]
        received = [e for e, is_local in zip(entries, mask, strict=True) if not is_local]
        for order in itertools.permutations(received):
            yield local, list(order)


@pytest.mark.parametrize("flow", list(FLOWS))
def test_flow_gives_the_same_row_for_every_split(flow: str) -> None:
    entries, expected, existing = FLOWS[flow]
    checked = 0
    for local, received in _splits(entries):
        start = _fold([EXISTING]) if existing else None
        state = _fold(local, start)
        row = dict(state.values) if state.alive else None
        plan = reconcile(received, {KEY: state})
        assert len(plan.rows) == (1 if received else 0)
        for plan_row in plan.rows:
            row = _apply(row, plan_row)
            assert plan_row.state.alive == (row is not None)
        if expected is None:
            assert row is None, f"{flow}: local={local} received={received}"
        else:
            assert row is not None, f"{flow}: row missing for local={local} received={received}"
            assert {k: row[k] for k in expected} == expected
        checked += 1
    assert checked >= 2 ** len(entries)


def test_reconcile_leaves_the_given_states_untouched() -> None:
    state = _fold([create(10, name="kettle", price=5)])
    before = state.copy()
    reconcile([modify(20, "b", price=9)], {KEY: state})
    assert state == before


def test_double_create_with_different_values_is_an_error_when_asked() -> None:
    local = _fold([create(10, "a", name="kettle", price=5)])
    with pytest.raises(ReconcileError, match="double create") as info:
        reconcile([create(11, "b", name="teapot", price=5)], {KEY: local}, double_create="error")
    assert info.value.table == "products"


def test_double_create_with_equal_values_is_never_an_error() -> None:
    local = _fold([create(10, "a", name="kettle", price=5)])
    plan = reconcile([create(11, "b", name="kettle", price=5)], {KEY: local}, double_create="error")
    assert plan.rows[0].action is Action.NONE


def test_double_create_inside_one_received_batch_is_detected() -> None:
    with pytest.raises(ReconcileError):
        reconcile([create(10, "a", name="x"), create(11, "b", name="y")], {}, double_create="error")


def test_an_old_duplicate_arriving_late_does_not_resurrect_or_overwrite() -> None:
    """storex-sync's "sending twice" weakness: a late duplicate create must change nothing."""
    first = create(10, "a", name="kettle", price=5)
    state = _fold([first, modify(20, "b", price=8), delete(30, "b"), create(40, "a", name="new", price=1)])
    plan = reconcile([first], {KEY: state})
    assert plan.rows[0].action is Action.NONE
    assert plan.rows[0].state.values["name"] == "new"


def test_ties_break_on_the_device_id() -> None:
    same_time_a = Entry(Timestamp(10, 0, "a").encode(), "a", "products", ("p1",), Op.UPDATE, {"name": "from a"})
    same_time_b = Entry(Timestamp(10, 0, "b").encode(), "b", "products", ("p1",), Op.UPDATE, {"name": "from b"})
    base = _fold([EXISTING])
    for order in ([same_time_a, same_time_b], [same_time_b, same_time_a]):
        plan = reconcile(order, {KEY: base})
        assert plan.rows[0].values["name"] == "from b"


def test_concurrent_edits_to_different_fields_both_survive() -> None:
    base = _fold([EXISTING])
    plan = reconcile([modify(10, "a", name="renamed"), modify(11, "b", price=99)], {KEY: base})
    assert plan.rows[0].action is Action.UPDATE
    assert plan.rows[0].values == {"name": "renamed", "price": 99}
