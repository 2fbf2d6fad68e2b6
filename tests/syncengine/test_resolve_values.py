"""A custom decision takes a value in its Python form, of every type the engine carries.

``Device.resolve(id, value=...)`` accepts what a program holds (``Decimal``,
``datetime``, ``date``, ``bytes``…) as well as the JSON forms a person types on the
command line (an ISO string, a number as text, a tagged ``{"$n": "23.00"}``). The
decided value is written exactly, shared, and taken by the other device; a value
that fits no column is refused with a ``ConflictError`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from syncengine import ConflictError, Device

from .helpers import every_dialect
from .test_values import _SQLITE_DECIMAL_WARNING, comparable, make_table, read, write

START = {
    "txt": "start",
    "big": 1,
    "dbl": 1.0,
    "dec": Decimal("1.5"),
    "flag": None,
    "day": dt.date(2024, 1, 1),
    "moment": dt.datetime(2024, 1, 1, 8, 0),
    "blob": b"\x01",
    "doc": {"v": 0},
}
ON_A = {**START, "txt": "a", "big": 2, "dbl": 2.0, "dec": Decimal("2.5"), "flag": True, "day": dt.date(2024, 1, 2),
        "moment": dt.datetime(2024, 1, 2, 8, 0), "blob": b"\x02", "doc": {"v": 1}}  # fmt: skip
ON_B = {**START, "txt": "b", "big": 3, "dbl": 3.0, "dec": Decimal("3.5"), "flag": False, "day": dt.date(2024, 1, 3),
        "moment": dt.datetime(2024, 1, 3, 8, 0), "blob": b"\x03", "doc": {"v": 2}}  # fmt: skip
# what a program passes (Python values), and what the column then holds
CUSTOM: dict[str, tuple[Any, Any]] = {
    "txt": ("custom ✓", "custom ✓"),
    "big": (2**53 + 1, 2**53 + 1),
    "dbl": (Decimal("0.25"), 0.25),  # a decimal into a float column becomes the float
    "dec": (Decimal("23.00"), Decimal("23.00")),
    "flag": (True, True),
    "day": (dt.date(2024, 2, 29), dt.date(2024, 2, 29)),
    "moment": (dt.datetime(2024, 5, 1, 10, 0, 0, 123456), dt.datetime(2024, 5, 1, 10, 0, 0, 123456)),
    "blob": (bytearray(b"\x00\xff"), b"\x00\xff"),
    "doc": ({"list": [1, "two", 2.5]}, {"list": [1, "two", 2.5]}),
}

pytestmark = pytest.mark.filterwarnings(_SQLITE_DECIMAL_WARNING)


def _pair(devices, shared) -> tuple[Device, Device, sa.Table]:
    """Devices a and b on the value table, b reviewing conflicts, both holding row r1 as START."""
    table = make_table(devices.dialect, portable=True, json=True)
    a, b = devices("a", table.metadata), devices("b", table.metadata)
    b.set_review(True)
    write(devices.urls["a"], table, [{"id": "r1", **START}])
    a.sync(shared)
    b.sync(shared)
    return a, b, table


def _row(url: str, table: sa.Table, key: str) -> dict[str, Any]:
    [row] = [r for r in read(url, table) if r["id"] == key]
    return {c: row[c] for c in START}


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert {c: comparable(v) for c, v in got.items()} == {c: comparable(v) for c, v in want.items()}


@every_dialect
def test_each_column_type_takes_a_custom_value_in_its_python_form(devices, shared) -> None:
    a, b, table = _pair(devices, shared)
    write(devices.urls["a"], table, [{"id": "r1", **ON_A}], update=True)
    write(devices.urls["b"], table, [{"id": "r1", **ON_B}], update=True)
    a.sync(shared)
    b.sync(shared)
    held = {c.field: c for c in b.conflicts()}
    assert set(held) == set(START)  # one edit/edit conflict per column
    for column, (given, _) in CUSTOM.items():
        decided = b.resolve(held[column].id, value=given)
        assert (decided.status, decided.decision) == ("decided", "custom")
    want = {c: stored for c, (_, stored) in CUSTOM.items()}
    _same(_row(devices.urls["b"], table, "r1"), want)
    b.sync(shared)
    a.sync(shared)
    _same(_row(devices.urls["a"], table, "r1"), want)
    assert a.status().conflicts == b.status().conflicts == 0


@every_dialect
def test_a_whole_row_decision_takes_python_values_for_its_columns(devices, shared) -> None:
    a, b, table = _pair(devices, shared)
    write(devices.urls["a"], table, [{"id": "r2", **ON_A}])
    write(devices.urls["b"], table, [{"id": "r2", **ON_B}])
    a.sync(shared)
    b.sync(shared)
    [conflict] = b.conflicts()
    assert (conflict.kind, conflict.field) == ("create/create", None)
    b.resolve(conflict.id, value={c: CUSTOM[c][0] for c in ("dec", "day", "moment", "blob")})
    want = {**ON_B, **{c: CUSTOM[c][1] for c in ("dec", "day", "moment", "blob")}}
    _same(_row(devices.urls["b"], table, "r2"), want)
    b.sync(shared)
    a.sync(shared)
    _same(_row(devices.urls["a"], table, "r2"), want)


def _price_conflict(devices, shared) -> tuple[Device, sa.Table, int]:
    a, b, table = _pair(devices, shared)
    write(devices.urls["a"], table, [{"id": "r1", **{**START, "dec": Decimal("2.5")}}], update=True)
    write(devices.urls["b"], table, [{"id": "r1", **{**START, "dec": Decimal("3.5")}}], update=True)
    a.sync(shared)
    b.sync(shared)
    [conflict] = b.conflicts()
    return b, table, conflict.id


@pytest.mark.parametrize(
    "given",
    [Decimal("23.00"), "23.00", 23, 23.0, {"$n": "23.00"}],
    ids=["Decimal", "text", "int", "float", "tagged"],
)
def test_a_decimal_may_be_given_in_python_or_as_json(devices, shared, given) -> None:
    b, table, conflict_id = _price_conflict(devices, shared)
    b.resolve(conflict_id, value=given)
    assert _row(devices.urls["b"], table, "r1")["dec"] == Decimal("23.00")


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (object(), "cannot be stored"),
        (dt.date(2024, 1, 1), "does not fit"),
        ({"$n": "not a number"}, "malformed"),
        ("twenty", "does not fit"),
    ],
    ids=["object", "date", "bad-tag", "text"],
)
def test_a_value_that_fits_no_decimal_is_refused_and_changes_nothing(devices, shared, given, says) -> None:
    b, table, conflict_id = _price_conflict(devices, shared)
    with pytest.raises(ConflictError, match=says):
        b.resolve(conflict_id, value=given)
    assert b.conflict(conflict_id).is_open
    assert _row(devices.urls["b"], table, "r1")["dec"] == Decimal("3.5")
    assert b.status().unshared == 0
