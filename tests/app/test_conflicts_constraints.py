"""What a constraint conflict clashes with, asked of the database (``app.services.constraints.find_clash``).

Real devices and a real shared log: a UNIQUE value another local row holds (SQLite),
and a reference to a row this device deleted (PostgreSQL, which enforces foreign keys).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.services.constraints import find_clash
from syncengine import Device, SqlSharedLog


def _pair(url_a: str, url_b: str, meta: sa.MetaData, log: str) -> tuple[Device, Device, SqlSharedLog]:
    return Device.init(url_a, metadata=meta, name="a"), Device.init(url_b, metadata=meta, name="b"), SqlSharedLog(log)


def test_a_unique_clash_names_the_local_row_in_the_way(tmp_path) -> None:
    meta = sa.MetaData()
    items = sa.Table("items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("sku", sa.String(9), unique=True), sa.Column("name", sa.Text))
    a, b, shared = _pair(str(tmp_path / "a.db"), str(tmp_path / "b.db"), meta, str(tmp_path / "s.db"))
    try:
        with a.engine.begin() as conn:
            conn.execute(items.insert().values(id="x", sku="K-1", name="kettle"))
        with b.engine.begin() as conn:
            conn.execute(items.insert().values(id="z", sku="K-1", name="old kettle"))
        a.sync(shared)
        b.sync(shared)
        [conflict] = b.conflicts()
        clash = find_clash(b, conflict)
        assert clash is not None
        assert (clash.kind, clash.columns, clash.label, clash.row["id"]) == ("unique", ("sku",), "old kettle", "z")
        assert clash.sentence == "old kettle already has sku K-1 on this device" and not clash.remote_can_apply
        with b.engine.begin() as conn:  # the row in the way changes its SKU: nothing clashes any more
            conn.execute(items.update().where(items.c.id == "z").values(sku="K-2"))
        assert find_clash(b, conflict) is None
    finally:
        for closable in (a, b, shared):
            closable.close()


@pytest.mark.postgres
def test_a_missing_parent_is_a_foreign_key_clash(new_db, tmp_path) -> None:
    meta = sa.MetaData()
    parents = sa.Table("parents", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("name", sa.Text))
    kids = sa.Table(
        "kids",
        meta,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("parent", sa.String(36), sa.ForeignKey("parents.id"), nullable=False),
    )
    a, b, shared = _pair(new_db("postgresql"), new_db("postgresql"), meta, str(tmp_path / "s.db"))
    try:
        with a.engine.begin() as conn:
            conn.execute(parents.insert().values(id="p1", name="box"))
        a.sync(shared)
        b.sync(shared)
        with b.engine.begin() as conn:
            conn.execute(parents.delete())
        with a.engine.begin() as conn:
            conn.execute(kids.insert().values(id="k1", parent="p1"))
        b.sync(shared)
        a.sync(shared)
        b.sync(shared)
        found = [c for c in b.conflicts() if c.kind == "constraint"]
        assert found, b.conflicts()
        clash = find_clash(b, found[0])
        assert clash is not None and (clash.kind, clash.columns) == ("foreign key", ("parent",))
        assert clash.sentence == "no parents row matches parent p1 on this device"
    finally:
        for closable in (a, b, shared):
            closable.close()
