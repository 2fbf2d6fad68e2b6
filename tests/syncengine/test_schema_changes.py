"""A synced table changed under the engine: columns added or removed, the table rebuilt.

Migrations run as programs of their own (the ``sqlite3`` module, a connection that is
not the device's), and nothing tells the engine: it must notice at the next sync or
open, re-install the triggers, share what was written to a new column meanwhile,
and say so. Devices are SQLite files; tests marked ``@every_dialect`` also run on
PostgreSQL and MariaDB.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncengine import Device, SchemaError
from syncengine.errors import ConfigurationError, DatabaseError

from .helpers import add, every_dialect, no_conflicts, pump, rows
from .test_cli import se

# How each database rebuilds a table the way Alembic's batch mode and SQLite tools do:
# create a new table, copy the rows, drop the old table, rename the new one.
_REBUILD = {
    "sqlite": [
        "CREATE TABLE products_new (id VARCHAR(36) NOT NULL PRIMARY KEY, name TEXT NOT NULL, price INTEGER{note})",
        "INSERT INTO products_new SELECT id, name, price{note_col} FROM products",
        "DROP TABLE products",
        "ALTER TABLE products_new RENAME TO products",
    ],
    "postgresql": [
        "CREATE TABLE products_new (LIKE products INCLUDING ALL)",
        "INSERT INTO products_new SELECT * FROM products",
        "DROP TABLE products",
        "ALTER TABLE products_new RENAME TO products",
    ],
    "mysql": [
        "CREATE TABLE products_new LIKE products",
        "INSERT INTO products_new SELECT * FROM products",
        "DROP TABLE products",
        "RENAME TABLE products_new TO products",
    ],
}


def rebuild(devices: Any, name: str, *, keep_note: bool = True) -> None:
    """Rebuild device ``name``'s products table by create-copy-drop-rename (on SQLite, optionally without ``note``)."""
    statements = _REBUILD[devices.dialect]
    if devices.dialect == "sqlite":
        statements = [
            s.format(note=", note TEXT" if keep_note else "", note_col=", note" if keep_note else "")
            for s in statements
        ]
    execute(devices, name, *statements)


def execute(devices: Any, name: str, *statements: str) -> None:
    """Run statements on device ``name``'s database as another program: ``sqlite3`` on a file, else a connection of its own."""
    url = devices.urls[name]
    if devices.dialect == "sqlite":
        con = sqlite3.connect(url)
        try:
            for statement in statements:
                con.execute(statement)
            con.commit()
        finally:
            con.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def query(devices: Any, name: str, sql: str) -> list[tuple[Any, ...]]:
    """Read from device ``name``'s database as another program would."""
    url = devices.urls[name]
    if devices.dialect == "sqlite":
        con = sqlite3.connect(url)
        try:
            return [tuple(r) for r in con.execute(sql)]
        finally:
            con.close()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def sqlite_run(path: Path | str, *statements: str) -> None:
    con = sqlite3.connect(path)
    try:
        for statement in statements:
            con.execute(statement)
        con.commit()
    finally:
        con.close()


# -- a column added on both devices --------------------------------------------------


def test_a_value_written_to_a_new_column_before_any_sync_reaches_the_other_device_through_the_cli(tmp_path) -> None:
    laptop, desktop, shared = tmp_path / "laptop.db", tmp_path / "desktop.db", str(tmp_path / "shared.db")
    for path in (laptop, desktop):
        sqlite_run(path, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    sqlite_run(laptop, "INSERT INTO notes VALUES ('n1', 'buy milk'), ('n2', 'call mum')")
    se("init", str(laptop), "--table", "notes", "--name", "laptop")
    se("init", str(desktop), "--table", "notes", "--name", "desktop")
    se("sync", str(laptop), "--remote", shared)
    se("sync", str(desktop), "--remote", shared)
    # the migration, on both devices; then a colour written with plain sqlite3, before any sync
    for path in (laptop, desktop):
        sqlite_run(path, "ALTER TABLE notes ADD COLUMN color TEXT")
    sqlite_run(laptop, "UPDATE notes SET color = 'red' WHERE id = 'n1'")
    sqlite_run(laptop, "INSERT INTO notes VALUES ('n3', 'water plants', 'green')")

    sent = json.loads(se("sync", str(laptop), "--remote", shared, "--json").stdout)
    assert sent["schema_changes"] == ["notes: column color added; triggers re-installed; values of 2 rows captured"]
    assert sent["sent"] == 3  # n3's insert (captured without its colour), then both colours
    received = json.loads(se("sync", str(desktop), "--remote", shared, "--json").stdout)
    assert received["schema_changes"] == ["notes: column color added; triggers re-installed"]
    con = sqlite3.connect(desktop)
    assert con.execute("SELECT id, body, color FROM notes ORDER BY id").fetchall() == [
        ("n1", "buy milk", "red"),
        ("n2", "call mum", None),
        ("n3", "water plants", "green"),
    ]
    con.close()
    # said once: the next sync has nothing to report, and later colours travel as any write
    sqlite_run(desktop, "UPDATE notes SET color = 'blue' WHERE id = 'n2'")
    again = json.loads(se("sync", str(desktop), "--remote", shared, "--json").stdout)
    assert again["schema_changes"] == [] and again["sent"] == 1
    assert json.loads(se("conflicts", str(desktop), "--all", "--json").stdout) == []


def test_the_one_line_summary_names_the_schema_change(tmp_path) -> None:
    db, shared = tmp_path / "shop.db", str(tmp_path / "shared.db")
    sqlite_run(db, "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT)")
    se("init", str(db), "--table", "notes")
    se("sync", str(db), "--remote", shared)
    sqlite_run(db, "ALTER TABLE notes ADD COLUMN color TEXT")
    line = se("sync", str(db), "--remote", shared).stdout.strip()
    assert line.startswith("received 0, sent 0, applied 0 in ")
    assert line.endswith("; notes: column color added; triggers re-installed")
    assert "\n" not in line


@every_dialect
def test_a_new_column_written_on_one_device_reaches_the_other(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10), ("p2", "mug", 3))
    pump(a, b, remote=shared)
    for name in ("a", "b"):
        execute(devices, name, "ALTER TABLE products ADD COLUMN color VARCHAR(20)")
    execute(devices, "a", "UPDATE products SET color = 'red' WHERE id = 'p1'")
    report = a.sync(shared)
    # (PostgreSQL's trigger captured the write itself: it renders the whole row)
    captured = "" if devices.dialect == "postgresql" else "; values of 1 row captured"
    assert report.schema_changes == [f"products: column color added; triggers re-installed{captured}"]
    assert report.sent == 1
    assert b.sync(shared).schema_changes == ["products: column color added; triggers re-installed"]
    assert query(devices, "b", "SELECT id, color FROM products ORDER BY id") == [("p1", "red"), ("p2", None)]
    # writes after the re-install are captured with the column
    execute(devices, "b", "UPDATE products SET color = 'blue' WHERE id = 'p2'")
    pump(a, b, remote=shared)
    assert query(devices, "a", "SELECT id, color FROM products ORDER BY id") == [("p1", "red"), ("p2", "blue")]
    assert no_conflicts(a, b)


@every_dialect
def test_only_values_other_than_the_new_columns_default_are_shared(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10), ("p2", "mug", 3), ("p3", "pot", 7))
    pump(a, b, remote=shared)
    for name in ("a", "b"):
        execute(devices, name, "ALTER TABLE products ADD COLUMN stock INTEGER NOT NULL DEFAULT 0")
    execute(devices, "a", "UPDATE products SET stock = 5 WHERE id = 'p2'")
    report = a.sync(shared)
    assert report.sent == 1  # p2 alone: the other rows hold the default every device filled in
    assert report.schema_changes[0].startswith("products: column stock added; triggers re-installed")
    b.sync(shared)
    assert query(devices, "b", "SELECT id, stock FROM products ORDER BY id") == [("p1", 0), ("p2", 5), ("p3", 0)]


@every_dialect
def test_both_devices_writing_the_same_values_to_the_new_column_make_no_conflict(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10), ("p2", "mug", 3))
    pump(a, b, remote=shared)
    a.set_review(True)  # a conflict would be held, and listed
    b.set_review(True)
    for name in ("a", "b"):  # the same migration and the same data fix, run on each device
        execute(
            devices,
            name,
            "ALTER TABLE products ADD COLUMN color VARCHAR(20)",
            "UPDATE products SET color = 'red' WHERE id = 'p1'",
            "UPDATE products SET color = 'white' WHERE id = 'p2'",
        )
    pump(a, b, remote=shared)
    assert no_conflicts(a, b)
    expected = [("p1", "red"), ("p2", "white")]
    assert query(devices, "a", "SELECT id, color FROM products ORDER BY id") == expected
    assert query(devices, "b", "SELECT id, color FROM products ORDER BY id") == expected


def test_both_devices_writing_different_values_to_the_new_column_is_a_conflict(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    for name, color in (("a", "red"), ("b", "blue")):
        execute(devices, name, "ALTER TABLE products ADD COLUMN color TEXT", f"UPDATE products SET color = '{color}'")
    pump(a, b, remote=shared)
    [conflict] = b.conflicts(include_decided=True)
    assert (conflict.kind, conflict.field) == ("edit/edit", "color")
    assert query(devices, "a", "SELECT color FROM products") == query(devices, "b", "SELECT color FROM products")


def test_running_init_again_after_adding_a_column_shares_what_was_written_to_it(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    for name in ("a", "b"):
        execute(devices, name, "ALTER TABLE products ADD COLUMN color TEXT")
    execute(devices, "a", "UPDATE products SET color = 'red'")
    a2 = Device.init(devices.urls["a"], tables=("products",))  # what people did before the engine noticed
    devices.made.append(a2)
    report = a2.sync(shared)
    assert report.sent == 1
    assert report.schema_changes == ["products: column color added; triggers re-installed; values of 1 row captured"]
    b.sync(shared)
    assert query(devices, "b", "SELECT color FROM products") == [("red",)]


# -- a rebuilt table ---------------------------------------------------------------------


@every_dialect
def test_a_rebuilt_table_gets_its_triggers_back_and_later_writes_sync(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    rebuild(devices, "a")
    report = a.sync(shared)
    assert report.schema_changes == [
        "products: triggers missing (dropped, or the table was rebuilt); triggers re-installed"
    ]
    execute(devices, "a", "INSERT INTO products (id, name, price) VALUES ('p2', 'mug', 3)")
    execute(devices, "a", "UPDATE products SET price = 11 WHERE id = 'p1'")
    assert a.sync(shared).sent == 2
    b.sync(shared)
    assert rows(b) == rows(a) and [(r["id"], r["price"]) for r in rows(b)] == [("p1", 11), ("p2", 3)]


def test_opening_a_device_re_installs_the_triggers_of_a_rebuilt_table(devices, a, shared) -> None:
    add(a, ("p1", "kettle", 10))
    a.sync(shared)
    rebuild(devices, "a")
    reopened = devices.reopen("a")  # a program starting: it writes before it ever syncs
    execute(devices, "a", "UPDATE products SET price = 12 WHERE id = 'p1'")
    assert reopened.status().unshared == 1
    report = reopened.sync(shared)  # the open repaired it; this sync says so
    assert report.sent == 1
    assert report.schema_changes == [
        "products: triggers missing (dropped, or the table was rebuilt); triggers re-installed"
    ]
    assert reopened.sync(shared).schema_changes == []


def test_a_read_only_device_with_a_changed_table_still_opens(devices, a) -> None:
    add(a, ("p1", "kettle", 10))
    a.close()
    execute(devices, "a", "ALTER TABLE products ADD COLUMN color TEXT")
    engine = sa.create_engine(f"sqlite:///file:{devices.urls['a']}?mode=ro&uri=true")
    try:
        device = Device.open(engine)
        assert device.status().unshared == 1 and device.tables == ("products",)
    finally:
        engine.dispose()
    writable = devices.reopen("a")  # and once it can, the change is repaired and reported
    execute(devices, "a", "UPDATE products SET color = 'red'")
    assert writable.status().unshared == 2


# -- a dropped column ----------------------------------------------------------------------


@every_dialect
def test_a_dropped_column_leaves_the_writes_made_before_it_whole(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    # a write captured but not shared yet, naming the column about to go
    execute(devices, "a", "UPDATE products SET price = 11, note = 'old stock' WHERE id = 'p1'")
    for name in ("a", "b"):
        if devices.dialect == "sqlite":  # SQLite cannot drop a column its triggers name: tools rebuild the table
            rebuild(devices, name, keep_note=False)
        else:
            execute(devices, name, "ALTER TABLE products DROP COLUMN note")
    # the programs start again: opening repairs the triggers (MariaDB's would refuse every write until then)
    a2, b2 = devices.reopen("a"), devices.reopen("b")
    execute(devices, "a", "INSERT INTO products (id, name, price) VALUES ('p2', 'mug', 3)")
    report = a2.sync(shared)
    assert report.sent == 2
    assert len(report.schema_changes) == 1 and "column note removed" in report.schema_changes[0]
    assert report.schema_changes[0].endswith("triggers re-installed")
    received = b2.sync(shared)
    assert (received.applied, received.quarantined) == (2, 0)  # not refused for a column b has no more
    expected = [("p1", "kettle", 11), ("p2", "mug", 3)]
    assert query(devices, "b", "SELECT id, name, price FROM products ORDER BY id") == expected
    with pytest.raises(DatabaseError) as refused:  # the database's own sentence, without a driver's tuple around it
        a.migrate("ALTER TABLE products DROP COLUMN nothere")
    assert "nothere" in str(refused.value) and not re.search(r"\(\d+, ", str(refused.value)), str(refused.value)
    assert query(devices, "a", "SELECT id, name, price FROM products ORDER BY id") == expected


# -- quarantined entries ---------------------------------------------------------------------


@every_dialect
def test_an_entry_quarantined_for_an_unknown_column_applies_by_itself_once_the_column_exists(
    devices, a, shared
) -> None:
    narrow = sa.MetaData()
    sa.Table(
        "products",
        narrow,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price", sa.Integer),
    )
    b = devices("b", narrow)
    add(a, ("p1", "kettle", 10))
    execute(devices, "a", "INSERT INTO products (id, name, price, note) VALUES ('p2', 'mug', 3, 'blue')")
    a.sync(shared)
    first = b.sync(shared)
    assert (first.applied, first.quarantined) == (1, 1)
    assert "unknown column 'note'" in b.quarantined()[0].reason
    execute(devices, "b", "ALTER TABLE products ADD COLUMN note TEXT")  # b's migration catches up
    report = b.sync(shared)  # no retry asked for
    assert report.applied == 1 and b.quarantined() == [] and b.status().quarantined == 0
    assert report.schema_changes == ["products: column note added; triggers re-installed; 1 quarantined entry retried"]
    assert query(devices, "b", "SELECT id, note FROM products ORDER BY id") == [("p1", None), ("p2", "blue")]


def test_an_entry_still_missing_a_column_stays_quarantined(devices, a, shared) -> None:
    narrow = sa.MetaData()
    sa.Table("products", narrow, sa.Column("id", sa.String(36), primary_key=True), sa.Column("name", sa.Text))
    b = devices("b", narrow)
    execute(devices, "a", "INSERT INTO products (id, name, price, note) VALUES ('p1', 'mug', 3, 'blue')")
    a.sync(shared)
    assert b.sync(shared).quarantined == 1
    execute(devices, "b", "ALTER TABLE products ADD COLUMN note TEXT")  # price is still missing
    report = b.sync(shared)
    assert report.applied == 0 and b.status().quarantined == 1
    assert "unknown column 'price'" in b.quarantined()[0].reason


# -- nothing changed ------------------------------------------------------------------------


def test_a_sync_without_a_schema_change_reports_none(a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    reports = [a.sync(shared), b.sync(shared), a.sync(shared)]
    assert [r.schema_changes for r in reports] == [[], [], []]
    assert reports[0].as_json()["schema_changes"] == []


def test_a_database_installed_before_shapes_were_recorded_is_adopted_without_a_word(devices, a, shared) -> None:
    add(a, ("p1", "kettle", 10))
    a.close()
    execute(devices, "a", "DELETE FROM syncengine_state WHERE key = 'capture_shapes'")
    reopened = devices.reopen("a")
    assert reopened.sync(shared).schema_changes == []
    execute(devices, "a", "UPDATE products SET price = 11")
    assert reopened.sync(shared).sent == 1


def test_refresh_schema_says_what_changed_and_the_next_sync_reports_it(devices, a, shared) -> None:
    add(a, ("p1", "kettle", 10))
    execute(devices, "a", "ALTER TABLE products ADD COLUMN color TEXT", "UPDATE products SET color = 'red'")
    said = a.refresh_schema()
    assert said == ["products: column color added; triggers re-installed; values of 1 row captured"]
    assert a.refresh_schema() == []
    assert a.sync(shared).schema_changes == said


@every_dialect
@pytest.mark.parametrize("columns", [1, 60])  # PostgreSQL builds the old row 50 columns a call
def test_columns_added_to_a_rebuilt_table_share_the_values_written_to_them(devices, a, b, shared, columns) -> None:
    add(a, ("p1", "kettle", 10), ("p2", "mug", 3))
    pump(a, b, remote=shared)
    names = [f"c{i}" for i in range(columns)]
    rebuild(devices, "a")  # no triggers at all now: not even PostgreSQL's captured the update below
    for name in ("a", "b"):
        execute(devices, name, *[f"ALTER TABLE products ADD COLUMN {c} VARCHAR(10)" for c in names])
    execute(devices, "a", f"UPDATE products SET {names[-1]} = 'last' WHERE id = 'p2'")
    report = a.sync(shared)
    added = f"column {names[0]} added" if columns == 1 else f"columns {', '.join(names)} added"
    assert report.schema_changes == [
        f"products: {added}; triggers missing (dropped, or the table was rebuilt); triggers re-installed; "
        "values of 1 row captured"
    ]
    b.sync(shared)
    assert query(devices, "b", f"SELECT id, {names[-1]} FROM products ORDER BY id") == [("p1", None), ("p2", "last")]


@every_dialect
def test_migrate_drops_a_column_with_capture_set_aside_and_put_back(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    execute(devices, "a", "UPDATE products SET price = 11, note = 'old stock' WHERE id = 'p1'")  # captured, unshared
    said = a.migrate("ALTER TABLE products DROP COLUMN note")
    assert said == ["products: column note removed; triggers re-installed"]
    b.migrate("ALTER TABLE products DROP COLUMN note")
    # another program writes at once, with no sync or open in between: captured (MariaDB no longer refuses it)
    execute(devices, "a", "INSERT INTO products (id, name, price) VALUES ('p2', 'mug', 3)")
    assert a.sync(shared).sent == 2
    received = b.sync(shared)
    assert (received.applied, received.quarantined) == (2, 0)
    expected = [("p1", "kettle", 11), ("p2", "mug", 3)]
    assert query(devices, "b", "SELECT id, name, price FROM products ORDER BY id") == expected
    with pytest.raises(DatabaseError) as refused:  # the database's own sentence, without a driver's tuple around it
        a.migrate("ALTER TABLE products DROP COLUMN nothere")
    assert "nothere" in str(refused.value) and not re.search(r"\(\d+, ", str(refused.value)), str(refused.value)


@every_dialect
def test_a_backfill_in_migrate_reaches_the_other_devices_or_is_refused_before_anything_runs(devices, a, b, shared) -> None:
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    statements = ("ALTER TABLE products ADD COLUMN stock INTEGER", "UPDATE products SET stock = 5 WHERE id = 'p1'")
    if devices.dialect == "sqlite":  # capture is set aside there while migrate runs: the write would never travel
        with pytest.raises(ConfigurationError, match="changes rows, and migrate sets capture aside on SQLite"):
            a.migrate(*statements)
        assert "stock" not in [c[1] for c in query(devices, "a", "PRAGMA table_info(products)")]  # nothing ran
        a.migrate(statements[0])
        execute(devices, "a", statements[1])  # after the migration, as the sentence says: captured
    else:  # the triggers stay while the statements run: the backfill is captured
        a.migrate(*statements)
    b.migrate(statements[0])
    pump(a, b, remote=shared)
    assert query(devices, "b", "SELECT id, stock FROM products") == [("p1", 5)]


@every_dialect
def test_writes_of_a_device_that_still_has_a_dropped_column_apply_without_it(devices, a, b, shared) -> None:
    """A rollout: a dropped the column, b has not yet, and b's writes still name it."""
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    a.migrate("ALTER TABLE products DROP COLUMN note")
    execute(
        devices,
        "b",
        "INSERT INTO products (id, name, price, note) VALUES ('p2', 'mug', 3, 'blue')",
        "UPDATE products SET price = 11, note = 'green' WHERE id = 'p1'",
    )
    b.sync(shared)
    received = a.sync(shared)
    assert (received.applied, received.quarantined) == (2, 0)
    assert query(devices, "a", "SELECT id, name, price FROM products ORDER BY id") == [("p1", "kettle", 11), ("p2", "mug", 3)]
    b.migrate("ALTER TABLE products DROP COLUMN note")
    pump(a, b, remote=shared)
    assert a.verify(shared).in_step and a.status().quarantined == 0


def test_migrate_through_the_cli_drops_a_column_sqlite_refuses_to_drop_while_synced(tmp_path) -> None:
    path = tmp_path / "notes.db"
    sqlite_run(path, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, color TEXT)")
    se("init", str(path), "--table", "notes")
    with pytest.raises(sqlite3.OperationalError, match="syncengine_notes"):  # why the command exists
        sqlite_run(path, "ALTER TABLE notes DROP COLUMN color")
    out = se("migrate", str(path), "ALTER TABLE notes DROP COLUMN color", "--json").stdout
    assert json.loads(out) == {"schema_changes": ["notes: column color removed; triggers re-installed"]}
    sqlite_run(path, "INSERT INTO notes (id, title) VALUES ('n1', 'after')")
    log = json.loads(se("log", str(path), "--json").stdout)
    assert [(e["op"], e["data"]) for e in log] == [("insert", {"id": "n1", "title": "after"})]
    refused = subprocess.run(
        [sys.executable, "-m", "syncengine", "migrate", str(path), "ALTER TABLE notes DROP COLUMN nothere"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "nothere" in refused.stderr and "Traceback" not in refused.stderr
    con = sqlite3.connect(path)
    try:  # the refused statement undid everything: the triggers are still there
        assert len(con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()) == 3
    finally:
        con.close()


def test_init_says_what_a_cascading_foreign_key_means_for_sync(tmp_path) -> None:
    path = tmp_path / "shop.db"
    sqlite_run(
        path,
        "CREATE TABLE authors (id TEXT PRIMARY KEY, name TEXT)",
        "CREATE TABLE books (id TEXT PRIMARY KEY, author_id TEXT REFERENCES authors(id) ON DELETE CASCADE)",
        "CREATE TABLE notes (id TEXT PRIMARY KEY, book_id TEXT REFERENCES books(id) ON DELETE RESTRICT)",
    )
    done = se("init", str(path), "--table", "authors", "--table", "books", "--table", "notes")
    assert "books: its foreign keys ON DELETE CASCADE change rows by themselves" in done.stderr
    assert "notes:" not in done.stderr and "authors:" not in done.stderr  # RESTRICT, or no foreign key: nothing to say


def test_a_synced_table_renamed_by_another_program_stops_only_the_sync_and_renaming_it_back_loses_nothing(
    tmp_path,
) -> None:
    a, b, log = tmp_path / "a.db", tmp_path / "b.db", str(tmp_path / "log.db")
    for path in (a, b):
        sqlite_run(path, "CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT)", "CREATE TABLE tags (id TEXT PRIMARY KEY)")
        se("init", str(path), "--table", "notes", "--table", "tags", "--remote", log)
    sqlite_run(a, "INSERT INTO notes VALUES ('n1', 'one')")
    se("sync", str(a))
    sqlite_run(a, "INSERT INTO notes VALUES ('n2', 'two')", "ALTER TABLE notes RENAME TO notes_old")
    sqlite_run(a, "INSERT INTO notes_old VALUES ('n3', 'three')")  # the triggers went along: still captured
    for command in ("status", "log", "history", "config", "conflicts", "quarantine", "devices"):
        assert se(command, str(a)).returncode == 0, command  # everything but a sync still works
    assert "missing from the database: notes" in se("status", str(a)).stdout
    assert "table notes is missing" in se("log", str(a)).stdout  # its captured writes wait, unreadable meanwhile
    refused = se("sync", str(a), check=False)
    assert refused.returncode == 1 and "synced table 'notes' is missing from" in refused.stderr
    assert "RENAME TO notes" in refused.stderr and "Traceback" not in refused.stderr
    found = json.loads(se("doctor", str(a), "--json", check=False).stdout)
    assert [f["code"] for f in found if f["severity"] == "error"] == ["table_missing"]
    with pytest.raises(SchemaError) as error:  # the API says the same, naming the table
        Device.open(str(a)).sync(log)
    assert error.value.table == "notes"
    se("migrate", str(a), "ALTER TABLE notes_old RENAME TO notes")
    assert "sent 2" in se("sync", str(a)).stdout
    se("sync", str(b))
    con = sqlite3.connect(b)
    assert con.execute("SELECT id FROM notes ORDER BY id").fetchall() == [("n1",), ("n2",), ("n3",)]
    con.close()
    assert json.loads(se("verify", str(a), "--json").stdout)["in_step"] is True
