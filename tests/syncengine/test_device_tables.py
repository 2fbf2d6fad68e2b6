"""Reading a synced table through the device: its reflected shape, and rows by key."""

from __future__ import annotations

import pytest

from syncengine import ConfigurationError, Device

from .helpers import add


def test_a_device_shows_a_synced_tables_columns_and_reads_its_rows_by_key(a: Device) -> None:
    add(a, ("p1", "Kettle", 20), ("p2", "Toaster", 30))
    table = a.table("products")
    assert [c.name for c in table.primary_key.columns] == ["id"]
    assert {"id", "name", "price"} <= {c.name for c in table.columns}
    found = sorted(a.rows("products", ["p2", "p1", "missing"]), key=lambda r: r["id"])
    assert [(r["id"], r["name"]) for r in found] == [("p1", "Kettle"), ("p2", "Toaster")]
    assert a.rows("products", [("p1",)])[0]["name"] == "Kettle"
    with pytest.raises(ConfigurationError, match=r"table products's key has 1 column\(s\) \(id\)"):
        a.rows("products", [("p1", "extra")])  # a mistake, said as one: not the database's failure


def test_reading_a_table_that_is_not_synced_names_the_synced_ones(a: Device) -> None:
    with pytest.raises(ConfigurationError, match=r"'nope' is not synced on this device.*products"):
        a.rows("nope", ["p1"])
    with pytest.raises(ConfigurationError, match="not synced"):
        a.table("nope")
