"""A joiner on another database makes tables that hold every value, key and constraint the sender's hold.

Pairing describes the synced tables portably (``pairing/_tables``); these tests join
across database kinds and check what the joiner made: fractional seconds kept, text
keys a MariaDB can index, unique constraints and indexes carried, and a join refused
while it made tables leaving none behind, with one sentence instead of the driver's text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from syncengine import Device, SchemaError, SqlSharedLog, SyncCancelled, join

AT = dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url if "://" in url else f"sqlite:///{url}")


def _run(url: str, *statements: str) -> None:
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _serve(sender: Device) -> tuple[str, threading.Thread, threading.Event]:
    """Start serving a pairing in a thread; return its code, the thread and the event that stops it."""
    pairing = sender.pair(host="127.0.0.1")
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(SyncCancelled):  # stopped once the joiner is done, or refused
            pairing.serve(cancel=stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return str(pairing.code), thread, stop


def _pair(sender: Device, joiner_url: str) -> None:
    code, thread, stop = _serve(sender)
    try:
        join(joiner_url, code)
    finally:
        stop.set()
        thread.join(60)


def _columns(url: str, table: str) -> dict[str, sa.types.TypeEngine]:
    engine = _engine(url)
    try:
        return {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.mysql
def test_a_postgresql_sender_gives_a_mariadb_joiner_microseconds_and_text_keys(new_db, tmp_path) -> None:
    sender_url, joiner_url = new_db("postgresql"), new_db("mysql")
    _run(
        sender_url,
        "CREATE TABLE products (id text PRIMARY KEY, at timestamptz, sku varchar(20) UNIQUE, note text)",
        "CREATE TABLE tags (name text, product text, PRIMARY KEY (name, product))",
        "CREATE INDEX ix_products_note ON products (note)",
    )
    engine = _engine(sender_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO products VALUES ('p1', :at, 'A-1', :note)"), {"at": AT, "note": "x" * 70_000})
        conn.execute(sa.text("INSERT INTO products VALUES ('P1', :at, 'a-1', 'same key but for case')"), {"at": AT})
        conn.execute(sa.text("INSERT INTO tags VALUES ('new', 'p1'), ('NEW', 'p1')"))
    engine.dispose()
    log = SqlSharedLog(str(tmp_path / "log.db"))
    sender = Device.init(sender_url, ["products", "tags"], name="sender")
    try:
        sender.sync(log)
        _pair(sender, joiner_url)
        joined = _engine(joiner_url)
        with joined.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, at, sku, length(note) FROM products ORDER BY id").all()
            tags = conn.exec_driver_sql("SELECT count(*) FROM tags").scalar()
        joined.dispose()
        assert [(r[0], r[1].microsecond, r[2], r[3]) for r in rows] == [
            ("P1", 123456, "a-1", 21),
            ("p1", 123456, "A-1", 70_000),
        ]
        assert tags == 2
        with sender.engine.begin() as conn:
            conn.execute(sa.text("UPDATE products SET at = :at WHERE id = 'p1'"), {"at": AT + dt.timedelta(seconds=1)})
        sender.sync(log)
        device = Device.open(joiner_url)
        try:
            report = device.sync(log)
            assert report.quarantined == 0 and device.quarantined() == []
        finally:
            device.close()
        joined = _engine(joiner_url)
        with joined.connect() as conn:
            assert conn.exec_driver_sql("SELECT at FROM products WHERE id = 'p1'").scalar() == dt.datetime(
                2024, 5, 1, 10, 0, 1, 123456
            )
        joined.dispose()
    finally:
        sender.close()


@pytest.mark.postgres
def test_an_sqlite_senders_unique_column_refuses_duplicates_on_a_postgresql_joiner(new_db, tmp_path) -> None:
    sender_path = str(tmp_path / "shop.db")
    _run(
        sender_path,
        "CREATE TABLE products (id TEXT PRIMARY KEY, sku varchar(20) UNIQUE, name TEXT, shelf INTEGER)",
        "CREATE INDEX ix_products_shelf ON products (shelf)",
        "INSERT INTO products VALUES ('p1', 'SKU-1', 'kettle', 5000000000)",
    )
    sender = Device.init(sender_path, ["products"], name="shop")
    joiner_url = new_db("postgresql")
    try:
        _pair(sender, joiner_url)
    finally:
        sender.close()
    engine = _engine(joiner_url)
    try:
        inspector = sa.inspect(engine)
        assert [u["column_names"] for u in inspector.get_unique_constraints("products")] == [["sku"]]
        assert [i["column_names"] for i in inspector.get_indexes("products") if not i.get("unique")] == [["shelf"]]
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT shelf FROM products").scalar() == 5_000_000_000
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO products VALUES ('p2', 'SKU-1', 'mug', 1)")
    finally:
        engine.dispose()


@pytest.mark.mysql
def test_a_join_refused_while_making_tables_leaves_none_behind_and_says_why(new_db, tmp_path) -> None:
    sender_path = str(tmp_path / "shop.db")
    long_name = "a_column_name_longer_than_the_sixty_four_characters_mariadb_allows_x"
    _run(
        sender_path,
        "CREATE TABLE aisles (id TEXT PRIMARY KEY, name TEXT)",
        f"CREATE TABLE products (id TEXT PRIMARY KEY, {long_name} TEXT)",
        "INSERT INTO aisles VALUES ('a1', 'tea')",
    )
    sender = Device.init(sender_path, ["aisles", "products"], name="shop")
    joiner_url = new_db("mysql")
    code, thread, stop = _serve(sender)
    try:
        with pytest.raises(SchemaError) as refused:
            join(joiner_url, code)
    finally:
        stop.set()
        thread.join(60)
        sender.close()
    message = str(refused.value)
    assert "'products'" in message and long_name in message and "nothing was written" in message
    assert "(1059" not in message and "\n" not in message
    engine = _engine(joiner_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_a_mariadb_sender_describes_its_fractional_seconds_and_unique_indexes() -> None:
    """What ``describe`` keeps of MariaDB's types (no server needed: a table as reflection makes it)."""
    from sqlalchemy.dialects import mysql

    from syncengine.pairing import _tables

    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", mysql.VARCHAR(40), primary_key=True),
        sa.Column("at", mysql.DATETIME(fsp=3)),
        sa.Column("day", mysql.DATETIME()),
        sa.Column("n", mysql.INTEGER(unsigned=True)),
        sa.Index("sku", "n", unique=True),
    )
    doc = _tables.describe(table, "mysql")
    kinds = {c["name"]: c for c in doc["columns"]}
    assert kinds["at"]["fsp"] == 3 and kinds["day"]["fsp"] == 0
    assert kinds["n"]["type"] == "BigInteger"
    assert doc["unique"] == [["n"]]


@pytest.mark.mysql
def test_a_mariadb_json_column_reaches_a_new_sqlite_joiner_as_json(new_db, tmp_path) -> None:
    sender_url = new_db("mysql")
    _run(
        sender_url,
        "CREATE TABLE products (id varchar(36) PRIMARY KEY, meta json, ratio double)",
        """INSERT INTO products VALUES ('p1', '{"tags": ["a", "b"], "n": 1.5}', 1e-300), ('p2', NULL, NULL)""",
    )
    sender = Device.init(sender_url, ["products"], name="sender")
    joiner = tmp_path / "joiner.db"
    try:
        _pair(sender, str(joiner))
        sender.sync(SqlSharedLog(str(tmp_path / "shared.db")))
    finally:
        sender.close()
    device = Device.open(str(joiner))
    try:
        rows = {r["id"]: r for r in device.rows("products", ["p1", "p2"])}
    finally:
        device.close()
    assert rows["p1"]["meta"] == {"tags": ["a", "b"], "n": 1.5} and rows["p1"]["ratio"] == 1e-300
    assert rows["p2"]["meta"] is None


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("joiner_dialect", ["sqlite", "mysql"])
def test_a_postgresql_uuid_column_reaches_a_new_joiner_as_text_that_takes_later_edits(new_db, tmp_path, joiner_dialect) -> None:
    sender_url = new_db("postgresql")
    _run(
        sender_url,
        "CREATE TABLE notes (id uuid PRIMARY KEY, ext uuid, body text)",
        "INSERT INTO notes VALUES ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000ff', 'one')",
    )
    sender = Device.init(sender_url, ["notes"], name="sender")
    joiner = str(tmp_path / "joiner.db") if joiner_dialect == "sqlite" else new_db("mysql")
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    try:
        _pair(sender, joiner)  # refused before on SQLite: the driver cannot bind a UUID object
        sender.sync(log)
        _run(sender_url, "UPDATE notes SET ext = '00000000-0000-4000-8000-0000000000ee', body = 'edited'")
        sender.sync(log)
        device = Device.open(joiner)
        try:
            assert device.sync(log).quarantined == 0  # a CHAR(32) column refused every 36-character id
            [row] = device.rows("notes", ["00000000-0000-4000-8000-000000000001"])
        finally:
            device.close()
        assert row == {"id": "00000000-0000-4000-8000-000000000001", "ext": "00000000-0000-4000-8000-0000000000ee", "body": "edited"}
    finally:
        log.close()
        sender.close()
