"""The pure core without a database: stamping, settling and deciding, with hypothesis on the functions themselves."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from syncengine import Conflict, HybridClock, RemoteValue
from syncengine.core import (
    NO_VALUE,
    Row,
    Write,
    choose,
    decide,
    joined,
    last_writer,
    settlement,
    stamp,
    with_decisions,
)
from syncengine.model import ROW, Entry, Op
from syncengine.reconcile import RowState, merge, reconcile

KEYS = ["k1", "k2", "k3"]


def _key(pk: tuple[str, ...]) -> str:
    return json.dumps(list(pk))


@st.composite
def local_writes(draw: st.DrawFn) -> list[Write]:
    """A plausible history of local writes to a few rows: inserts of absent rows, updates and deletes of live ones."""
    alive: dict[str, dict[str, int]] = {}
    writes: list[Write] = []
    wall = draw(st.integers(1_700_000_000_000, 1_800_000_000_000))
    for log_id in range(1, draw(st.integers(1, 25)) + 1):
        key = draw(st.sampled_from(KEYS))
        wall += draw(st.integers(-5, 50))  # wall clocks step back sometimes
        pk = (key,)
        if key not in alive:
            row = {"id": key, "a": draw(st.integers(0, 3)), "b": draw(st.integers(0, 3))}
            alive[key] = row
            writes.append(Write(log_id, wall, "t", Op.INSERT, pk, dict(row), None, _key(pk)))
        elif draw(st.booleans()):
            column = draw(st.sampled_from(["a", "b"]))
            value = draw(st.integers(0, 3))
            before = alive[key][column]
            alive[key][column] = value
            writes.append(Write(log_id, wall, "t", Op.UPDATE, pk, {column: value}, {column: before}, _key(pk)))
        else:
            old = alive.pop(key)
            writes.append(Write(log_id, wall, "t", Op.DELETE, pk, {}, dict(old), _key(pk)))
    return writes


def _registers_after(result, registers):
    """Every row's registers after a stamp, as the store would load them back (a created row: every column at its version)."""
    out = {k: v.copy() for k, v in registers.items()}
    for key, version in result.created.items():
        out[key] = RowState(version, True, dict.fromkeys(["id", "a", "b"], version))
    for key, register in result.registers.items():
        out[key] = register.state.copy()
    return out


def _comparable(states):
    # a created row's fields are all at its existence version: written out, or implied by none
    out = {}
    for key, state in states.items():
        fields = {c: v for c, v in state.fields.items() if v != state.exists}
        out[key] = (state.exists, state.alive, fields)
    return out


@settings(max_examples=200, deadline=None)
@given(local_writes(), st.integers(0, 25))
def test_stamping_in_two_parts_gives_the_same_entries_and_registers_as_in_one(writes, cut) -> None:
    whole = stamp(writes, {}, HybridClock("dev"))
    clock = HybridClock("dev")
    first = stamp(writes[:cut], {}, clock)
    second = stamp(writes[cut:], _registers_after(first, {}), clock)
    assert first.versions + second.versions == whole.versions
    assert first.bases + second.bases == whole.bases
    assert _comparable(_registers_after(second, _registers_after(first, {}))) == _comparable(
        _registers_after(whole, {})
    )


@settings(max_examples=200, deadline=None)
@given(local_writes())
def test_each_stamped_update_is_based_on_the_versions_its_fields_held(writes) -> None:
    result = stamp(writes, {}, HybridClock("dev")).entries(writes, "dev")
    seen: dict[tuple[str, str], dict[str, str]] = {}  # the last version each field of a row was written at
    for entry in result:
        fields = seen.setdefault((entry.table, _key(entry.pk)), {})
        if entry.op is Op.UPDATE:
            assert dict(entry.base) == {c: fields.get(c, fields.get(ROW, "")) for c in entry.data}
        if entry.op is Op.INSERT:
            fields.clear()
            fields.update(dict.fromkeys(entry.data, entry.version))
            fields[ROW] = entry.version
        elif entry.op is Op.UPDATE:
            fields.update(dict.fromkeys(entry.data, entry.version))


@settings(max_examples=200, deadline=None)
@given(local_writes())
def test_a_device_receiving_the_stamped_entries_holds_the_rows_the_writer_holds(writes) -> None:
    entries = stamp(writes, {}, HybridClock("dev")).entries(writes, "dev")
    plan = reconcile(entries, {})
    live = {r.pk: dict(r.state.values) for r in plan.rows if r.state.alive}
    expected: dict[tuple[str, ...], dict[str, object]] = {}
    for write in writes:
        if write.op is Op.INSERT:
            expected[write.pk] = dict(write.data)
        elif write.op is Op.UPDATE:
            expected[write.pk].update(write.data)
        else:
            expected.pop(write.pk)
    assert live == expected
    assert not plan.conflicts  # one writer's own history is sequential: never a conflict


def _conflict(field: str | None, local, local_version: str, remotes: list[RemoteValue], **more) -> Conflict:
    return Conflict(
        id=1,
        kind=more.pop("kind", "edit/edit"),
        status="open",
        held=True,
        table="t",
        pk=("k1",),
        field=field,
        base=None,
        local=local,
        local_version=local_version,
        remote=remotes[-1].value,
        remotes=tuple(remotes),
        auto=more.pop("auto", None),
        reason=more.pop("reason", None),
        created_at=0.0,
        updated_at=0.0,
    )


versions = st.builds(
    lambda wall, counter, device: f"{wall:013x}{counter:06x}{device}",
    st.integers(1, 10**12),
    st.integers(0, 5),
    st.sampled_from(["a", "b", "c"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(versions, st.integers()), min_size=2, max_size=5, unique_by=lambda t: t[0]), st.data())
def test_a_decision_settles_its_conflict_on_every_device_and_auto_is_the_last_writer(sides, data) -> None:
    (local_version, local), *others = sides
    remotes = sorted((RemoteValue(v, ver, "x") for ver, v in others), key=lambda r: r.version)
    conflict = _conflict("a", local, local_version, remotes)
    state = RowState("0000000000001000000a", True, {"a": local_version}, {"id": "k1", "a": local})
    newest = max(sides)[0]
    assert last_writer(state, "a", remotes) == dict(sides)[newest]
    take = data.draw(st.sampled_from(["auto", "local", "remote"]))
    decided = decide(
        conflict,
        Row("t", ("k1",), ("id",), state, True),
        choose(take, NO_VALUE),
        None,
        version="f" * 19 + "d",
        device_id="d",
    )
    assert decided.entry is not None and decided.state.values["a"] == decided.value
    elsewhere = reconcile([decided.entry], {("t", ("k1",)): state})
    assert not elsewhere.conflicts  # the decision is a plain overwrite everywhere
    assert settlement(conflict, elsewhere.rows[0]) is not None
    # an edit that had seen only some of the sides settles nothing
    partial = Entry("f" * 19 + "e", "e", "t", ("k1",), Op.UPDATE, {"a": 7}, None, {"a": local_version})
    assert settlement(conflict, reconcile([partial], {("t", ("k1",)): state}).rows[0]) is None


def test_a_decision_replaces_a_result_decided_automatically_and_only_its_row_is_looked_at() -> None:
    state = RowState("0000000000001000000a", True, {"a": "0000000000003000000b"}, {"id": "k1", "a": 2})
    remotes = [RemoteValue(1, "0000000000002000000a", "a")]
    automatic = dataclasses.replace(
        _conflict("a", 2, "0000000000003000000b", remotes, auto=2),
        status="decided",
        decision="auto",
        decided_value=2,
        decided_how="automatic",
    )
    # a person on device "a" took its own value, 1: the decision lists both versions
    decision = Entry(
        "0000000000004000000a", "a", "t", ("k1",), Op.UPDATE, {"a": 1}, {"a": 2},
        {"a": ["0000000000002000000a", "0000000000003000000b"]},
    )
    edit = Entry("0000000000005000000c", "c", "t", ("k2",), Op.UPDATE, {"a": 7}, None, {"a": "0000000000001000000a"})
    k2 = RowState("0000000000001000000a", True, {"a": "0000000000001000000a"}, {"id": "k2", "a": 0})
    plan = reconcile([decision, edit], {("t", ("k1",)): state, ("t", ("k2",)): k2})
    [decided_row] = with_decisions(plan.rows)
    assert decided_row.pk == ("k1",) and not plan.conflicts
    settled = settlement(automatic, decided_row)
    assert settled is not None and (settled.value, settled.by, settled.version) == (1, "a", decision.version)
    # a later edit that had seen only the automatic result is no decision of it
    plain = reconcile([edit], {("t", ("k2",)): k2})
    assert with_decisions(plain.rows) == []


def test_a_further_remote_side_joins_an_open_conflict_and_the_newest_side_wins_automatically() -> None:
    from syncengine.reconcile import Finding

    conflict = _conflict("a", 1, "0000000000002000000a", [RemoteValue(2, "0000000000003000000b", "b")])
    later = Finding(
        "edit/edit", "t", ("k1",), "a", None, 1, "0000000000002000000a", 3, "0000000000004000000c", "c", 3, True
    )
    remotes, auto = joined(conflict, later)
    assert [r.value for r in remotes] == [2, 3] and auto == 3
    older = Finding(
        "edit/edit", "t", ("k1",), "a", None, 1, "0000000000002000000a", 4, "0000000000001000000c", "c", 1, True
    )
    remotes, auto = joined(conflict, older)
    assert [r.value for r in remotes] == [4, 2] and auto == 2


def test_merging_a_stamped_delete_keeps_the_rows_values_as_its_tombstone() -> None:
    writes = [
        Write(1, 1_000, "t", Op.INSERT, ("k1",), {"id": "k1", "a": 1}, None, _key(("k1",))),
        Write(2, 2_000, "t", Op.DELETE, ("k1",), {}, {"id": "k1", "a": 1}, _key(("k1",))),
    ]
    result = stamp(writes, {}, HybridClock("dev"))
    state = result.registers[("t", _key(("k1",)))].state
    assert not state.alive and state.values == {"id": "k1", "a": 1}
    replay = RowState()
    for entry in result.entries(writes, "dev"):
        merge(replay, entry)
    assert (replay.exists, replay.alive) == (state.exists, state.alive)
