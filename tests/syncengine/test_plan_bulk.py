"""The plan's bulk part: inserts of rows a device knows nothing of, written by the executor like any row."""

from __future__ import annotations

from syncengine import Device, Entry, Op, RowState, SqlSharedLog, reconcile
from syncengine.reconcile import created_row
from syncengine.store import Failure, execute_plan

from .helpers import add, rows, set_price

V1, V2, V3 = "0000000001000000000-a", "0000000002000000000-a", "0000000003000000000-a"


def _insert(version: str, key: str, **values: object) -> Entry:
    return Entry(version, "a", "products", (key,), Op.INSERT, {"id": key, **values}, None, {})


def test_only_an_unknown_rows_single_insert_goes_to_the_bulk_part_and_expanding_gives_the_plain_plan() -> None:
    known = RowState(V1, True, {"id": V1, "name": V1}, {"id": "k2", "name": "old"})
    entries = [
        _insert(V1, "k1", name="new"),  # unknown, alone: bulk
        _insert(V2, "k2", name="again"),  # known row: a row plan (a double create)
        _insert(V2, "k3", name="x"),  # unknown but written twice: a row plan
        Entry(V3, "a", "products", ("k3",), Op.UPDATE, {"name": "y"}, {"name": "x"}, {"name": V2}),
    ]
    states = {("products", ("k2",)): known}
    bulk = reconcile(entries, states, bulk=True)
    assert [e.pk for e in bulk.new] == [("k1",)]
    assert sorted(r.pk for r in bulk.rows) == [("k2",), ("k3",)]
    plain = reconcile(entries, states)
    assert not plain.new
    by_key = {r.pk: (r.action, r.values, r.state) for r in plain.rows}
    assert {r.pk: (r.action, r.values, r.state) for r in bulk.expanded().rows} == by_key
    made = created_row(entries[0])
    assert by_key[("k1",)] == (made.action, made.values, made.state)


def test_a_custom_executor_writes_the_bulk_part_and_a_refused_new_row_is_quarantined(
    tmp_path, a: Device, b: Device
) -> None:
    shared = SqlSharedLog(str(tmp_path / "log.db"))
    add(a, ("p1", "kettle", 20), ("p2", "mug", 5), ("p3", "teapot", 30))
    a.sync(shared)
    seen: list[list[str]] = []

    def refuse_p2(conn, catalog, plan):
        seen.append([e.pk[0] for e in plan.new])
        kept = [e for e in plan.new if e.pk != ("p2",)]
        refused = [created_row(e) for e in plan.new if e.pk == ("p2",)]
        plan.new = kept
        return execute_plan(conn, catalog, plan) + [Failure(r, "not today", False) for r in refused]

    report = b.sync(shared, executor=refuse_p2)
    assert sorted(seen[0]) == ["p1", "p2", "p3"]  # an initial sync is all bulk
    assert report.applied == 2 and report.quarantined == 1
    assert [r["id"] for r in rows(b)] == ["p1", "p3"]
    assert [q.reason for q in b.quarantined()] == ["not today"]
    # the new rows' registers were written: an edit made after them is a plain overwrite on b
    set_price(a, "p1", 21)
    a.sync(shared)
    assert b.sync(shared).conflicts == 0
    assert {r["id"]: r["price"] for r in rows(b)}["p1"] == 21
    shared.close()


def test_an_executor_written_for_a_sequence_of_rows_still_writes_every_row(tmp_path, a: Device, b: Device) -> None:
    """Executors written before the plan had a bulk part took ``(conn, catalog, rows)`` and iterated the rows."""
    shared = SqlSharedLog(str(tmp_path / "log.db"))
    add(a, ("p1", "kettle", 20), ("p2", "mug", 5))
    a.sync(shared)
    seen: list[tuple[str, str]] = []

    def old_style(conn, catalog, rows):
        assert len(rows) == 2
        seen.extend((r.action.value, r.pk[0]) for r in rows)
        return execute_plan(conn, catalog, list(rows))

    report = b.sync(shared, executor=old_style)
    assert report.applied == 2 and report.quarantined == 0
    assert sorted(seen) == [("insert", "p1"), ("insert", "p2")]
    assert [r["id"] for r in rows(b)] == ["p1", "p2"]
    shared.close()


def test_the_reconcilers_helpers_are_reachable_as_the_readme_writes_them() -> None:
    """``syncengine.reconcile`` is the function, and ``syncengine.reconcile.created_row`` works as documented."""
    import syncengine
    import syncengine.reconcile as package

    entry = _insert(V1, "k1", name="new")
    assert syncengine.reconcile.created_row(entry) == created_row(entry)  # type: ignore[attr-defined]
    assert package.created_row is created_row  # type: ignore[attr-defined]
    assert syncengine.reconcile([entry], {}).rows[0].values == {"id": "k1", "name": "new"}
