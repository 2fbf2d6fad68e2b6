"""Change capture on real databases: every way of writing a row ends up in the log.

Each test runs on SQLite, PostgreSQL and MariaDB (the ``dialect`` fixture). Writes
come through the ORM, SQLAlchemy Core, raw SQL text and another program (the
database's own command-line client), and are checked through the public API:
``Device.log``, ``Device.status`` and what a second device receives.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import orm

from syncengine import Device, SchemaError, SqlSharedLog
from syncengine._db import to_url


class Base(orm.DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(40), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(100))
    qty: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    note: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


ITEMS = Item.__table__


def user_engine(url: str) -> sa.Engine:
    """Return a plain engine on the device database, as the application would have."""
    return sa.create_engine(to_url(url))


def run_client(dialect: str, url: str, sql: str) -> None:
    """Run ``sql`` through the database's own command-line client, another process."""
    if dialect == "sqlite":
        command = ["sqlite3", "-bail", url, sql]
    elif dialect == "postgresql":
        name = sa.make_url(url).database
        command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", str(name), "-c", sql]
    else:
        name = sa.make_url(url).database
        command = ["mysql", "-h127.0.0.1", "-uroot", str(name), "-e", sql]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command[0]} failed: {done.stderr}"


def rows_of(url: str, table: str = "items") -> list[dict[str, Any]]:
    """Return every row of ``table``, sorted by its key."""
    engine = user_engine(url)
    try:
        with engine.connect() as conn:
            reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
            query = sa.select(reflected).order_by(*reflected.primary_key.columns)
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()


def unshared_ops(device: Device) -> list[tuple[str, list[Any]]]:
    """Return (operation, key) of the unshared entries, oldest first."""
    return [(r.op, list(r.pk)) for r in reversed(device.log(unshared=True))]


@pytest.fixture
def remote(tmp_path) -> SqlSharedLog:
    """A shared log in an SQLite file."""
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    yield log
    log.engine.dispose()


@pytest.fixture
def items_device(dialect, new_db):
    """Return (url, device) of a fresh database syncing the ``items`` table."""
    url = new_db(dialect)
    device = Device.init(url, metadata=Base.metadata, name="a")
    yield url, device
    device.close()


def last_shared(device: Device, remote: SqlSharedLog) -> list[Any]:
    """Share what the device captured (keeping the entries) and return just those entries."""
    seen = {r.id for r in device.log() if r.state == "shared"}
    device.sync(remote, stages=("share",), cleanup=False)
    return [r for r in reversed(device.log()) if r.state == "shared" and r.id not in seen]


# --- every way of writing is captured ---------------------------------------------------


def test_writes_through_orm_core_text_and_other_programs_are_captured(dialect, items_device, new_db, remote):
    url, a = items_device
    engine = user_engine(url)
    with orm.Session(engine) as session:
        session.add(Item(id="orm", name="from the ORM", qty=1))
        session.commit()
    with engine.begin() as conn:
        conn.execute(ITEMS.insert().values(id="core", name="from Core", qty=2))
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO items (id, name, qty) VALUES (:id, :name, :qty)"),
            {"id": "text", "name": "from SQL text", "qty": 3},
        )
    engine.dispose()
    run_client(dialect, url, "INSERT INTO items (id, name, qty) VALUES ('ext', 'from another program', 4)")

    assert unshared_ops(a) == [("insert", ["orm"]), ("insert", ["core"]), ("insert", ["text"]), ("insert", ["ext"])]
    assert a.status().unshared == 4
    assert {r.pk[0]: r.data["name"] for r in a.log(unshared=True)} == {
        "orm": "from the ORM",
        "core": "from Core",
        "text": "from SQL text",
        "ext": "from another program",
    }

    # updates and deletes from every path too
    engine = user_engine(url)
    with orm.Session(engine) as session:
        session.get(Item, "orm").qty = 10
        session.commit()
    with engine.begin() as conn:
        conn.execute(ITEMS.update().where(ITEMS.c.id == "core").values(qty=20))
        conn.execute(sa.text("DELETE FROM items WHERE id = 'text'"))
    engine.dispose()
    run_client(dialect, url, "UPDATE items SET note = 'seen' WHERE id = 'ext'")
    assert unshared_ops(a)[4:] == [("update", ["orm"]), ("update", ["core"]), ("delete", ["text"]), ("update", ["ext"])]

    # and another device ends up with the same rows
    b_url = new_db(dialect)
    b = Device.init(b_url, metadata=Base.metadata, name="b")
    try:
        report = a.sync(remote)
        assert report.sent == 8
        assert a.status().unshared == 0
        b.sync(remote)
        assert b.status().quarantined == 0
        assert rows_of(b_url) == rows_of(url)
        assert [r["id"] for r in rows_of(b_url)] == ["core", "ext", "orm"]
    finally:
        b.close()


def test_a_rolled_back_transaction_leaves_no_entry(dialect, items_device):
    url, a = items_device
    engine = user_engine(url)
    try:
        with engine.connect() as conn, conn.begin() as tx:
            conn.execute(ITEMS.insert().values(id="gone", name="never committed"))
            tx.rollback()
        with orm.Session(engine) as session:
            session.add(Item(id="gone2", name="rolled back too"))
            session.flush()
            session.rollback()
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="kept", name="committed"))
    finally:
        engine.dispose()
    assert unshared_ops(a) == [("insert", ["kept"])]
    assert a.status().unshared == 1


# --- what an update records ---------------------------------------------------------


def test_an_update_records_only_the_changed_columns(dialect, items_device, remote):
    url, a = items_device
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="r1", name="old name", qty=5, note="a note"))
        (insert,) = last_shared(a, remote)
        assert (insert.op, insert.pk, insert.data) == (
            "insert",
            ["r1"],
            {"id": "r1", "name": "old name", "qty": 5, "note": "a note"},
        )

        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(name="new name", qty=5, note="a note"))
        (update,) = last_shared(a, remote)
        assert (update.op, update.pk) == ("update", ["r1"])
        assert update.data == {"name": "new name"}
        assert update.old == {"name": "old name"}

        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(qty=None, note="changed"))
        (update,) = last_shared(a, remote)
        assert update.data == {"qty": None, "note": "changed"}
        assert update.old == {"qty": 5, "note": "a note"}
    finally:
        engine.dispose()


def test_an_update_changing_only_case_or_trailing_spaces_is_recorded(dialect, items_device, remote):
    # MariaDB's default collation finds 'abc' = 'ABC ' equal; the change is still a change
    url, a = items_device
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="r1", name="abc", note="x"))
        last_shared(a, remote)
        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(name="ABC"))
        (update,) = last_shared(a, remote)
        assert (update.data, update.old) == ({"name": "ABC"}, {"name": "abc"})
        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(note="x  "))
        (update,) = last_shared(a, remote)
        assert (update.data, update.old) == ({"note": "x  "}, {"note": "x"})
    finally:
        engine.dispose()


def test_an_update_of_the_key_becomes_delete_and_insert(dialect, items_device, new_db, remote):
    url, a = items_device
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="before", name="moving", qty=1))
        last_shared(a, remote)
        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "before").values(id="after"))
    finally:
        engine.dispose()
    delete, insert = last_shared(a, remote)
    assert (delete.op, delete.pk) == ("delete", ["before"])
    assert (insert.op, insert.pk) == ("insert", ["after"])
    assert insert.data == {"id": "after", "name": "moving", "qty": 1, "note": None}

    b_url = new_db(dialect)
    b = Device.init(b_url, metadata=Base.metadata, name="b")
    try:
        b.sync(remote)
        assert rows_of(b_url) == [{"id": "after", "name": "moving", "qty": 1, "note": None}]
        assert b.status().quarantined == 0
    finally:
        b.close()


def test_a_no_op_update_leaves_no_shared_entry(dialect, items_device, remote):
    url, a = items_device
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="r1", name="same", qty=None, note="x"))
        last_shared(a, remote)
        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(name="same", qty=None, note="x"))
            conn.execute(sa.text("UPDATE items SET name = name"))
    finally:
        engine.dispose()
    run_client(dialect, url, "UPDATE items SET qty = qty, note = note")
    report = a.sync(remote, stages=("share",), cleanup=False)
    assert report.sent == 0
    assert a.status().unshared == 0
    assert last_shared(a, remote) == []


# --- writes the engine makes are not local changes ----------------------------------


def test_applying_remote_changes_is_not_recorded_as_a_local_change(dialect, items_device, new_db, remote):
    url, a = items_device
    b_url = new_db(dialect)
    b = Device.init(b_url, metadata=Base.metadata, name="b")
    try:
        engine = user_engine(url)
        with engine.begin() as conn:
            conn.execute(ITEMS.insert(), [{"id": f"r{i}", "name": f"row {i}", "qty": i} for i in range(5)])
        a.sync(remote)
        b.sync(remote)
        assert len(rows_of(b_url)) == 5
        assert b.status().unshared == 0
        assert b.log(unshared=True) == []

        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "r1").values(name="renamed"))
            conn.execute(ITEMS.delete().where(ITEMS.c.id == "r2"))
        engine.dispose()
        a.sync(remote)
        b.sync(remote)
        assert rows_of(b_url) == rows_of(url)
        assert b.status().unshared == 0
        assert b.sync(remote).sent == 0

        # the flag is only set inside the engine's transactions: B's own writes still count
        b_engine = user_engine(b_url)
        with b_engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="from-b", name="b's own"))
        b_engine.dispose()
        assert unshared_ops(b) == [("insert", ["from-b"])]
    finally:
        b.close()


# --- which tables can be synced -------------------------------------------------------


def test_init_refuses_a_table_without_a_primary_key(dialect, new_db):
    url = new_db(dialect)
    metadata = sa.MetaData()
    sa.Table("keyless_notes", metadata, sa.Column("title", sa.String(50)), sa.Column("body", sa.Text))
    engine = user_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    engine = user_engine(url)
    try:
        with pytest.raises(SchemaError, match="keyless_notes") as caught:
            Device.init(engine, tables=["keyless_notes"])
        assert "primary key" in str(caught.value)
        assert "syncengine_log" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_init_refuses_an_auto_incremented_integer_key(dialect, new_db):
    url = new_db(dialect)
    metadata = sa.MetaData()
    sa.Table("counted_rows", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))
    engine = user_engine(url)
    metadata.create_all(engine)
    try:
        with pytest.raises(SchemaError, match="counted_rows") as caught:
            Device.init(engine, tables=["counted_rows"])
        assert "auto-incremented" in str(caught.value)
    finally:
        engine.dispose()


@pytest.mark.parametrize("ddl_type", ["BIGINT", "SMALLINT"])
def test_init_refuses_other_auto_incremented_integer_keys(dialect, new_db, ddl_type):
    url = new_db(dialect)
    if dialect == "sqlite":
        ddl = f"CREATE TABLE auto_rows (id {ddl_type} PRIMARY KEY AUTOINCREMENT, body TEXT)"
        ddl = ddl.replace(ddl_type, "INTEGER")  # SQLite only accepts AUTOINCREMENT on INTEGER
    elif dialect == "postgresql":
        ddl = f"CREATE TABLE auto_rows (id {ddl_type} GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body TEXT)"
    else:
        ddl = f"CREATE TABLE auto_rows (id {ddl_type} NOT NULL AUTO_INCREMENT PRIMARY KEY, body TEXT)"
    engine = user_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(ddl)
    try:
        with pytest.raises(SchemaError, match="auto_rows"):
            Device.init(engine, tables=["auto_rows"])
    finally:
        engine.dispose()


def test_init_accepts_an_integer_key_that_is_not_generated(dialect, new_db, remote):
    url = new_db(dialect)
    if dialect == "sqlite":
        # INTEGER PRIMARY KEY is the rowid in SQLite (it numbers rows by itself);
        # a BIGINT key is an ordinary column
        ddl = "CREATE TABLE plain_ints (id BIGINT PRIMARY KEY, body TEXT)"
    else:
        ddl = "CREATE TABLE plain_ints (id INTEGER NOT NULL PRIMARY KEY, body TEXT)"
    engine = user_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(ddl)
        conn.exec_driver_sql("INSERT INTO plain_ints (id, body) VALUES (7, 'seven')")
    engine.dispose()
    device = Device.init(url, tables=["plain_ints"])
    try:
        assert unshared_ops(device) == [("insert", [7])]
    finally:
        device.close()


# --- composite keys -------------------------------------------------------------------


def test_composite_primary_keys_work_end_to_end(dialect, new_db, remote):
    metadata = sa.MetaData()
    stock = sa.Table(
        "stock",
        metadata,
        sa.Column("shop", sa.String(20), primary_key=True),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("amount", sa.Integer, nullable=False),
    )
    a_url, b_url = new_db(dialect), new_db(dialect)
    a = Device.init(a_url, metadata=metadata, name="a")
    b = Device.init(b_url, metadata=metadata, name="b")
    try:
        engine = user_engine(a_url)
        with engine.begin() as conn:
            conn.execute(
                stock.insert(), [{"shop": s, "n": n, "amount": n * 10} for s in ("north", "south") for n in (1, 2, 3)]
            )
        assert ("insert", ["south", 3]) in unshared_ops(a)
        a.sync(remote)
        b.sync(remote)
        assert rows_of(b_url, "stock") == rows_of(a_url, "stock")

        with engine.begin() as conn:
            conn.execute(stock.update().where(stock.c.shop == "north", stock.c.n == 1).values(amount=99))
            conn.execute(stock.delete().where(stock.c.shop == "south", stock.c.n == 2))
            conn.execute(stock.update().where(stock.c.shop == "south", stock.c.n == 3).values(shop="east"))
        engine.dispose()
        assert unshared_ops(a) == [("update", ["north", 1]), ("delete", ["south", 2]), ("update", ["south", 3])]
        a.sync(remote)
        b.sync(remote)
        expected = [
            {"shop": "east", "n": 3, "amount": 30},
            {"shop": "north", "n": 1, "amount": 99},
            {"shop": "north", "n": 2, "amount": 20},
            {"shop": "north", "n": 3, "amount": 30},
            {"shop": "south", "n": 1, "amount": 10},
        ]
        assert rows_of(b_url, "stock") == rows_of(a_url, "stock") == expected

        # and back from B to A
        b_engine = user_engine(b_url)
        with b_engine.begin() as conn:
            conn.execute(stock.update().where(stock.c.shop == "east", stock.c.n == 3).values(amount=31))
        b_engine.dispose()
        b.sync(remote)
        a.sync(remote)
        assert rows_of(a_url, "stock") == rows_of(b_url, "stock")
        assert {"shop": "east", "n": 3, "amount": 31} in rows_of(a_url, "stock")
        assert a.status().quarantined == b.status().quarantined == 0
    finally:
        a.close()
        b.close()


# --- rows that exist before sync ----------------------------------------------------


def _table_with_rows(url: str, rows: list[dict[str, Any]]) -> None:
    engine = user_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(ITEMS.insert(), rows)
    engine.dispose()


EXISTING = [{"id": f"old{i}", "name": f"existing {i}", "qty": i, "note": None} for i in range(3)]


def test_init_snapshots_existing_rows(dialect, new_db, remote):
    a_url, b_url = new_db(dialect), new_db(dialect)
    _table_with_rows(a_url, EXISTING)
    a = Device.init(a_url, tables=["items"], name="a")
    b = Device.init(b_url, metadata=Base.metadata, name="b")
    try:
        assert unshared_ops(a) == [("insert", [r["id"]]) for r in EXISTING]
        a.sync(remote)
        b.sync(remote)
        assert rows_of(b_url) == EXISTING

        # running init again adds nothing: the rows were recorded once
        Device.init(a_url, tables=["items"]).close()
        assert a.status().unshared == 0
    finally:
        a.close()
        b.close()


def test_init_without_snapshot_does_not_record_existing_rows(dialect, new_db, remote):
    a_url, b_url = new_db(dialect), new_db(dialect)
    _table_with_rows(a_url, EXISTING)
    a = Device.init(a_url, tables=["items"], name="a", snapshot=False)
    b = Device.init(b_url, metadata=Base.metadata, name="b")
    try:
        assert a.status().unshared == 0
        engine = user_engine(a_url)
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="new", name="after init"))
        engine.dispose()
        a.sync(remote)
        b.sync(remote)
        assert rows_of(b_url) == [{"id": "new", "name": "after init", "qty": None, "note": None}]
    finally:
        a.close()
        b.close()


def test_two_devices_adopting_identical_rows_converge(dialect, new_db, remote):
    a_url, b_url = new_db(dialect), new_db(dialect)
    _table_with_rows(a_url, EXISTING)
    _table_with_rows(b_url, EXISTING)
    a = Device.init(a_url, tables=["items"], name="a")
    b = Device.init(b_url, tables=["items"], name="b")
    try:
        a.sync(remote)
        b.sync(remote)
        a.sync(remote)
        for device in (a, b):
            status = device.status()
            assert (status.unshared, status.pending, status.quarantined) == (0, 0, 0)
            assert device.quarantined() == []
        assert rows_of(a_url) == rows_of(b_url) == EXISTING

        # after adopting, an edit on either side still travels
        engine = user_engine(b_url)
        with engine.begin() as conn:
            conn.execute(ITEMS.update().where(ITEMS.c.id == "old1").values(name="edited on b"))
        engine.dispose()
        b.sync(remote)
        a.sync(remote)
        assert rows_of(a_url) == rows_of(b_url)
        assert rows_of(a_url)[1]["name"] == "edited on b"
    finally:
        a.close()
        b.close()


# --- SQLite: values copied into the log's value columns ---------------------------------


def _typed_rows(url: str) -> list[tuple[Any, ...]]:
    """Every value of ``t`` with the type SQLite stored it as."""
    engine = user_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT id, r, typeof(r), b, typeof(b), x, typeof(x) FROM t ORDER BY id"
            return [tuple(row) for row in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def test_sqlite_capture_copies_values_exactly_and_stamps_rows_an_earlier_version_captured_as_json(tmp_path, remote):
    urls = [str(tmp_path / "a.db"), str(tmp_path / "b.db")]
    for url in urls:
        engine = user_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id TEXT PRIMARY KEY, r REAL, b BLOB, x)")
        engine.dispose()
    a = Device.init(urls[0], tables=["t"], name="a")
    b = Device.init(urls[1], tables=["t"], name="b")
    engine = user_engine(urls[0])
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO t VALUES ('k1', 0.1, x'00ff', '007'), ('k2', 1e300, NULL, 3.5), ('k3', NULL, x'', 12)"
            )
            # what an earlier version's trigger wrote: the row as JSON, its real and blob tagged
            conn.exec_driver_sql(
                "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) VALUES ('t', '[\"k4\"]', 'I', "
                "'{\"id\": \"k4\", \"r\": [\"r\", \"2.5\"], \"b\": [\"b\", \"0A\"], \"x\": \"y\"}', "
                "NULL, 1700000000000)"
            )
        assert {r.pk[0]: r.data for r in a.log(unshared=True)} == {
            "k1": {"id": "k1", "r": 0.1, "b": b"\x00\xff", "x": "007"},
            "k2": {"id": "k2", "r": 1e300, "b": None, "x": 3.5},
            "k3": {"id": "k3", "r": None, "b": b"", "x": 12},
            "k4": {"id": "k4", "r": 2.5, "b": b"\n", "x": "y"},
        }
        a.sync(remote)
        b.sync(remote)
        assert _typed_rows(urls[1]) == [
            ("k1", 0.1, "real", b"\x00\xff", "blob", "007", "text"),
            ("k2", 1e300, "real", None, "null", 3.5, "real"),
            ("k3", None, "null", b"", "blob", 12, "integer"),
            ("k4", 2.5, "real", b"\n", "blob", "y", "text"),
        ]
    finally:
        engine.dispose()
        a.close()
        b.close()


def test_sqlite_rows_captured_before_a_new_column_keep_their_values(tmp_path, remote):
    """A trigger copies the columns it knew; after the table grows, its earlier rows are read with those."""
    url = str(tmp_path / "a.db")
    a = Device.init(url, metadata=Base.metadata, name="a")
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(ITEMS.insert().values(id="i1", name="before", qty=1))
            conn.exec_driver_sql("ALTER TABLE items ADD COLUMN colour TEXT")
        a.refresh_schema()  # the migration: the table is reflected again and its triggers re-created
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO items (id, name, qty, colour) VALUES ('i2', 'after', 2, 'red')")
            conn.exec_driver_sql("UPDATE items SET colour = 'blue' WHERE id = 'i1'")
        assert [(r.op, r.data) for r in reversed(a.log(unshared=True))] == [
            ("insert", {"id": "i1", "name": "before", "qty": 1, "note": None}),
            ("insert", {"id": "i2", "name": "after", "qty": 2, "note": None, "colour": "red"}),
            ("update", {"id": "i1", "name": "before", "qty": 1, "note": None, "colour": "blue"}),
        ]
        a.sync(remote, stages=("share",), cleanup=False)
        shared = [(r.op, r.data) for r in reversed(a.log()) if r.state == "shared"]
        assert shared == [
            ("insert", {"id": "i1", "name": "before", "qty": 1, "note": None}),
            ("insert", {"id": "i2", "name": "after", "qty": 2, "note": None, "colour": "red"}),
            ("update", {"colour": "blue"}),
        ]
    finally:
        engine.dispose()
        a.close()


def test_sqlite_refuses_a_table_too_wide_to_capture_and_installs_nothing(tmp_path):
    url = str(tmp_path / "wide.db")
    engine = user_engine(url)
    columns = ", ".join(f"c{i} INTEGER" for i in range(1000))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE wide (id TEXT PRIMARY KEY, {columns})")
    try:
        with pytest.raises(SchemaError, match="'wide' has 1001 columns"):
            Device.init(url, tables=["wide"])
        assert sa.inspect(engine).get_table_names() == ["wide"]  # the whole install rolled back
    finally:
        engine.dispose()


LONG = "catalogue_of_every_shop_in_the_chain_with_its_variants_"  # 55 characters


def test_tables_with_long_names_sharing_a_prefix_each_keep_their_own_capture(dialect, new_db, remote):
    """Trigger and function names past the database's limit get a hash, not a cut: no two tables share one."""
    url = new_db(dialect)
    meta = sa.MetaData()
    tables = [
        sa.Table(LONG + suffix, meta, sa.Column("id", sa.String(40), primary_key=True), sa.Column("n", sa.Integer))
        for suffix in ("a", "b")
    ]
    device = Device.init(url, metadata=meta, name="a")
    Device.init(url, metadata=meta).close()  # installing again replaces the triggers, never adds a second set
    engine = user_engine(url)
    try:
        with engine.begin() as conn:
            for i, table in enumerate(tables):
                conn.execute(table.insert().values(id=f"k{i}", n=i))
                conn.execute(table.update().where(table.c.id == f"k{i}").values(n=10 + i))
            conn.execute(tables[0].delete().where(tables[0].c.id == "k0"))
        logged = sorted((r.table[-1], r.op, list(r.pk)) for r in device.log(unshared=True))
        assert logged == [
            ("a", "delete", ["k0"]),
            ("a", "insert", ["k0"]),
            ("a", "update", ["k0"]),
            ("b", "insert", ["k1"]),
            ("b", "update", ["k1"]),
        ]
    finally:
        engine.dispose()
        device.close()


@pytest.mark.postgres
def test_a_table_in_its_own_postgresql_schema_is_captured_whatever_the_writers_search_path(new_db, remote) -> None:
    """The device names the schema in its URL's search_path; psql and other programs write ``shop.items``."""
    url = new_db("postgresql")
    plain = sa.create_engine(url)  # the default search_path: the table by its schema
    with plain.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA shop")
        conn.exec_driver_sql("CREATE TABLE shop.items (id text PRIMARY KEY, name text)")
    with pytest.raises(SchemaError, match=r"named with its schema: give 'items', and put 'shop' in the device URL's"):
        Device.init(url, tables=["shop.items"])
    device_url = f"{url}?options=-csearch_path%3Dshop"
    device = Device.init(device_url, tables=["items"], name="shop")
    try:
        with plain.begin() as conn:
            conn.exec_driver_sql("INSERT INTO shop.items VALUES ('i1', 'kettle')")  # refused before: no syncengine_control
            conn.exec_driver_sql("UPDATE shop.items SET name = 'jug' WHERE id = 'i1'")
        assert device.sync(remote).sent == 2
    finally:
        plain.dispose()
        device.close()
