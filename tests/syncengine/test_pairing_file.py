"""A new SQLite database joins as one file (issue 13): the same device as pages make, stopped and resumed safely.

The joiner's database appears only once it is a whole device; what arrived before a
stop waits beside it in a partial file named after the code, which joining again with
the same code continues and a damaged one is refused and started over.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from syncengine import DatabaseError, Device, PairReport, RemoteError, SyncCancelled, join
from syncengine.pairing import _file

from .test_cli import se
from .test_pairing import _big_shop, _rows


def _serving(device: Device, **kwargs) -> tuple[threading.Thread, dict, str]:
    pairing = device.pair(host="127.0.0.1")
    out: dict = {}
    thread = threading.Thread(target=lambda: out.setdefault("report", pairing.serve(**kwargs)))
    thread.start()
    return thread, out, str(pairing.code)


def _join_both_ways(shop: Device, tmp_path: Path, monkeypatch) -> dict[bool, tuple[Path, PairReport]]:
    """Join ``shop`` into new-True.db as one file and into new-False.db as pages; each database and report."""
    out = {}
    for files in (True, False):
        monkeypatch.setattr("syncengine.pairing._transfer.FILES", files)
        thread, _out, code = _serving(shop)
        new = tmp_path / f"new-{files}.db"
        report = join(str(new), code)
        thread.join(60)
        out[files] = (new, report)
    return out


def _partials(new: Path) -> list[Path]:
    return sorted(new.parent.glob(new.name + ".joining-*"))


def _state(path: Path) -> dict:
    con = sqlite3.connect(path)
    try:
        return {
            "rows": con.execute("SELECT * FROM products ORDER BY id").fetchall(),
            "registers": con.execute("SELECT * FROM syncengine_rows ORDER BY tbl, pk").fetchall(),
            "schema": sorted(con.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str),
            "settings": {
                k: v
                for k, v in con.execute("SELECT key, value FROM syncengine_state")
                if k not in ("device_id", "created_at", "joining")
            },
        }
    finally:
        con.close()


@pytest.mark.parametrize("unstamped", [False, True], ids=["searched-beside-the-copy", "searched-in-the-copy"])
def test_a_file_and_pages_make_the_same_device_leaving_out_what_sync_does_not_know(
    tmp_path, monkeypatch, unstamped
) -> None:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"old{i}", f"never shared {i}", i) for i in range(5)])
    con.commit()
    con.close()
    shop = Device.init(str(path), ["products"], snapshot=False)  # the five rows stay this device's own
    assert _file.can_send(shop)
    con = sqlite3.connect(path)
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"p{i}", f"item {i}", i / 4) for i in range(40)])
    con.execute("UPDATE products SET price = 1e999 WHERE id = 'p3'")
    con.commit()
    con.close()
    with shop.store.begin() as tx:
        tx.stamp(shop.device_id)
    con = sqlite3.connect(path)  # a row removed behind capture's back: live by its register, gone from the table
    con.execute("UPDATE syncengine_control SET applying = 1")
    con.execute("DELETE FROM products WHERE id = 'p7'")
    con.execute("UPDATE syncengine_control SET applying = 0")
    if unstamped:  # a write captured but not stamped yet: the file's transaction stamps it, then searches its copy
        con.execute("INSERT INTO products VALUES ('p40', 'written last', 10)")
    con.commit()
    con.close()
    expected = 40 if unstamped else 39
    joined = {}
    for files, (new, report) in _join_both_ways(shop, tmp_path, monkeypatch).items():
        assert report.received == expected and report.tables_created == ["products"]
        joined[files] = _state(new)
    shop.close()
    assert joined[True] == joined[False]
    ids = [r[0] for r in joined[True]["rows"]]
    assert len(ids) == expected and "p7" not in ids and not any(i.startswith("old") for i in ids)
    assert [r[2] for r in joined[True]["rows"] if r[0] == "p3"] == [float("inf")]
    assert b"never shared" not in (tmp_path / "new-True.db").read_bytes()  # not even in a free page


def test_ctrl_c_mid_file_leaves_no_database_and_joining_again_resumes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("syncengine.pairing._transfer.WINDOW", 1)
    monkeypatch.setattr("syncengine.pairing._file.CHUNK", 64 << 10)
    shop_path = Path(_big_shop(tmp_path / "shop.db", 20_000))
    shop = Device.open(str(shop_path))
    held, go_on = threading.Event(), threading.Event()

    def hold(progress) -> None:
        if progress.rows and not held.is_set():
            held.set()
            go_on.wait(60)

    thread, served, code = _serving(shop, on_progress=hold)
    new = tmp_path / "new.db"
    joiner = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "join", str(new), code], stderr=subprocess.PIPE, text=True
    )
    assert held.wait(60)
    joiner.send_signal(signal.SIGINT)  # Ctrl-C while the sender holds its second chunk
    _, err = joiner.communicate(timeout=60)
    go_on.set()
    assert joiner.returncode == 130 and "Traceback" not in err
    assert not new.exists()  # the database appears whole, or not at all
    [part] = _partials(new)
    arrived = part.stat().st_size
    assert arrived == 64 << 10
    resumed = json.loads(se("join", str(new), code, "--json").stdout)
    thread.join(60)
    assert resumed["resumed"] is True and 0 < resumed["received"] < 20_000
    assert served["report"].sent == resumed["received"] and served["report"].device_id == resumed["device_id"]
    assert _rows(new) == _rows(shop_path) and not _partials(new)
    assert json.loads(se("status", str(new), "--json").stdout)["device_id"] == resumed["device_id"] != shop.device_id
    shop.close()


def test_a_damaged_partial_file_is_refused_with_a_sentence_and_joining_again_starts_over(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("syncengine.pairing._file.CHUNK", 64 << 10)
    shop = Device.open(_big_shop(tmp_path / "shop.db", 5_000))
    thread, _out, code = _serving(shop)
    new = tmp_path / "new.db"
    cancel = threading.Event()
    with pytest.raises(SyncCancelled):
        join(str(new), code, on_progress=lambda _p: cancel.set(), cancel=cancel)
    [part] = _partials(new)
    damaged = bytearray(part.read_bytes())
    damaged[200] ^= 0xFF
    part.write_bytes(bytes(damaged))
    with pytest.raises(RemoteError, match="arrived damaged"):
        join(str(new), code)
    assert not new.exists() and not _partials(new)
    report = join(str(new), code)
    thread.join(60)
    assert report.resumed is False and report.received == 5_000 and len(_rows(new)) == 5_000
    assert not list(tmp_path.glob(".syncengine-pairing-*"))  # the sender's snapshot file went with the pairing
    shop.close()


def test_a_file_holding_anything_else_is_refused(tmp_path) -> None:
    shapes = {
        "products": {
            "columns": [
                {"name": "id", "type": "Text", "nullable": True, "primary_key": True},
                {"name": "name", "type": "Text", "nullable": False, "primary_key": False},
            ],
            "unique": [],
        }
    }
    path = tmp_path / "f.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT, name TEXT NOT NULL, PRIMARY KEY (id))")
    con.execute(
        "CREATE TABLE syncengine_rows (tbl TEXT, pk TEXT, exists_v TEXT, alive INT, fields TEXT, dead TEXT, "
        "PRIMARY KEY (tbl, pk)) WITHOUT ROWID"
    )
    con.commit()
    _file.check(path, shapes)  # as described: taken
    con.execute("CREATE TRIGGER sneaky AFTER INSERT ON products BEGIN DELETE FROM products; END")
    con.commit()
    with pytest.raises(RemoteError, match="trigger 'sneaky'"):
        _file.check(path, shapes)
    con.execute("DROP TRIGGER sneaky")
    con.execute("ALTER TABLE syncengine_rows ADD COLUMN extra TEXT")
    con.commit()
    with pytest.raises(RemoteError, match="registers"):
        _file.check(path, shapes)
    con.execute("ALTER TABLE syncengine_rows DROP COLUMN extra")
    con.execute("ALTER TABLE products ADD COLUMN extra TEXT")
    con.commit()
    con.close()
    with pytest.raises(RemoteError, match="another shape"):
        _file.check(path, shapes)


def test_integer_keys_unique_columns_and_names_that_need_quoting_arrive_as_pages_make_them(
    tmp_path, monkeypatch
) -> None:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE "order lines" (n BIGINT PRIMARY KEY, sku TEXT UNIQUE, "qty.x" INTEGER, note BLOB)')
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany(
        'INSERT INTO "order lines" VALUES (?, ?, ?, ?)', [(i, f"s{i}", i * 7, bytes([i])) for i in range(60)]
    )
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"p{i}", f"it's {i}", i / 3) for i in range(30)])
    con.commit()
    con.close()
    shop = Device.init(str(path), ["order lines", "products"])
    assert _file.can_send(shop)  # (else both ways below would be pages)
    con = sqlite3.connect(path)
    con.execute('DELETE FROM "order lines" WHERE n = 5')
    con.execute("UPDATE products SET name = 'changed' WHERE id = 'p2'")
    con.commit()
    con.close()
    joined = {}
    for files, (new, report) in _join_both_ways(shop, tmp_path, monkeypatch).items():
        assert report.received == 90 and sorted(report.tables_created) == ["order lines", "products"]
        con = sqlite3.connect(new)
        joined[files] = [
            con.execute('SELECT * FROM "order lines" ORDER BY n').fetchall(),
            con.execute("SELECT * FROM products ORDER BY id").fetchall(),
            con.execute("SELECT * FROM syncengine_rows ORDER BY tbl, pk").fetchall(),
            sorted(con.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=str),
        ]
        con.close()
    shop.close()
    assert joined[True] == joined[False]
    assert len(joined[True][0]) == 59 and joined[True][0][0] == (0, "s0", 0, b"\x00")


def test_a_sender_that_cannot_make_the_file_sends_pages(tmp_path, monkeypatch) -> None:
    def no_room(*_args, **_kwargs):
        raise DatabaseError("cannot write the snapshot: database or disk is full")

    monkeypatch.setattr("syncengine.pairing._file.Snapshot.__init__", no_room)
    shop = Device.open(_big_shop(tmp_path / "shop.db", 3_000))
    thread, _out, code = _serving(shop)
    new = tmp_path / "new.db"
    report = join(str(new), code)
    thread.join(60)
    assert report.received == 3_000 and _rows(new) == _rows(tmp_path / "shop.db") and not _partials(new)
    assert not list(tmp_path.glob(".syncengine-pairing-*"))  # the pairing's folder went with it
    shop.close()
