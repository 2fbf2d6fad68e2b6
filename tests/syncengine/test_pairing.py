"""Fast initial sync through the CLI: pair on one device, join on a new one, over real TLS on loopback (issue 13).

Where a test must act in the middle of a transfer, one side runs in this process and
holds the transfer at a progress event (a signal), so no test depends on speed.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from syncengine import Device, RemoteError, RemoteUnavailable, SqlSharedLog, join

from .test_cli import make_shop, names, se


def _rows(path: str | Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT id, name, price FROM products ORDER BY id").fetchall()
    finally:
        con.close()


def _write(path: str | Path, sql: str, *params: object) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, params)
    con.commit()
    con.close()


def _big_shop(path: Path, n: int) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"p{i:06d}", f"item {i}", i / 4) for i in range(n)])
    con.commit()
    con.close()
    se("init", str(path), "--table", "products", "--name", path.stem)
    return str(path)


def _pair(db: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``syncengine pair DB --json`` and return it with the code (its first line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "pair", db, "--host", "127.0.0.1", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first, process.stderr.read() if process.stderr else ""
    return process, json.loads(first)["code"]


def _changed(code: str, letter: int) -> str:
    """The code with one letter of its body changed (letters 10-22 carry the secret, 23-37 the pin)."""
    body = list(code[len("SE1-") :].replace("-", ""))
    body[letter] = "A" if body[letter] != "A" else "B"
    text = "".join(body)
    return "SE1-" + "-".join(text[i : i + 5] for i in range(0, len(text), 5))


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill a sender (as a crash would) and close its pipes."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def _finish(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_a_new_database_joins_with_every_row_and_then_syncs_only_what_came_after(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    shop = _big_shop(tmp_path / "shop.db", 50_000)
    se("sync", shop, "--remote", log)
    sender, code = _pair(shop)
    new = str(tmp_path / "till.db")
    joined = json.loads(se("join", new, code, "--name", "till", "--json").stdout)
    served = _finish(sender)
    assert joined["received"] == 50_000 == served["sent"] and joined["device_id"] == served["device_id"]
    assert joined["tables_created"] == ["products"]
    assert _rows(new) == _rows(shop)
    ids = {json.loads(se("status", db, "--json").stdout)["device_id"] for db in (shop, new)}
    assert len(ids) == 2
    first = json.loads(se("sync", new, "--remote", log, "--json").stdout)
    assert first["received"] == 0 and first["new_log"] is False and first["sent"] == 0  # nothing replayed
    _write(shop, "UPDATE products SET name = 'from the shop' WHERE id = 'p000001'")
    _write(new, "UPDATE products SET name = 'from the till' WHERE id = 'p000002'")
    se("sync", shop, "--remote", log)
    assert json.loads(se("sync", new, "--remote", log, "--json").stdout)["received"] == 1
    se("sync", shop, "--remote", log)
    assert _rows(new)[:3] == _rows(shop)[:3]
    assert [r[1] for r in _rows(shop)[1:3]] == ["from the shop", "from the till"]
    # the joiner's rows carry the shop's versions: verify finds the two in step
    assert se("verify", new, "--remote", log, check=False).returncode == 0


def test_both_ways_join_sends_the_joiners_rows_and_records_real_conflicts(tmp_path) -> None:
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"), ("p2", "mug"))
    se("init", shop, "--table", "products", "--name", "shop")
    laptop = make_shop(tmp_path / "laptop.db", ("p3", "teapot"), ("p2", "mug, blue"))
    sender, code = _pair(shop)
    joined = json.loads(se("join", laptop, code, "--json").stdout)
    served = _finish(sender)
    assert joined["sent"] == 2 and joined["received"] == 2 and joined["tables_created"] == []
    assert served["conflicts"] == 1  # the same key created on both with other values: a create/create conflict
    assert _rows(shop) == _rows(laptop) and [r[0] for r in _rows(shop)] == ["p1", "p2", "p3"]
    conflicts = json.loads(se("conflicts", shop, "--all", "--json").stdout)  # decided automatically (no review)
    assert [(c["kind"], c["status"]) for c in conflicts] == [("create/create", "decided")]


def test_a_wrong_code_an_unknown_one_and_a_used_one_get_a_sentence_and_nothing_is_written(tmp_path) -> None:
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    se("init", shop, "--table", "products")
    sender, code = _pair(shop)
    new = tmp_path / "new.db"
    wrong_secret = _changed(code, 15)
    refused = se("join", str(new), wrong_secret, check=False)
    assert refused.returncode == 1 and "wrong pairing code" in refused.stderr and not new.exists()
    refused = se("join", str(new), "SE1-NOTAC-ODE", check=False)
    assert refused.returncode == 1 and "is not a pairing code" in refused.stderr and not new.exists()
    assert "starts as one but the rest is cut short" in refused.stderr  # it does start with SE1-
    refused = se("join", str(new), code[: len(code) // 2], check=False)  # half of it pasted
    assert "starts as one but the rest is cut short" in refused.stderr and not new.exists()
    refused = se("join", str(new), "hello", check=False)
    assert "(a pairing code starts with SE1-;" in refused.stderr
    se("join", str(new), code)
    _finish(sender)
    again = se("join", str(tmp_path / "other.db"), code, check=False)
    assert again.returncode == 1 and "cannot reach the device that made the code" in again.stderr
    assert not (tmp_path / "other.db").exists()


def test_a_code_for_another_certificate_is_refused_before_anything_is_sent(tmp_path) -> None:
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    se("init", shop, "--table", "products")
    sender, code = _pair(shop)
    pin_changed = _changed(code, 30)
    refused = se("join", str(tmp_path / "new.db"), pin_changed, check=False)
    assert refused.returncode == 1 and "is not the one that made this code" in refused.stderr
    se("join", str(tmp_path / "new.db"), code)  # the real code still works
    _finish(sender)


def test_an_expired_code_stops_the_sender_with_a_sentence(tmp_path) -> None:
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    se("init", shop, "--table", "products")
    sender, code = _pair(shop, "--timeout", "1")
    _, err = sender.communicate(timeout=60)
    assert sender.returncode == 1 and "expired" in err
    refused = se("join", str(tmp_path / "new.db"), code, check=False)
    assert refused.returncode == 1 and not (tmp_path / "new.db").exists()


def test_a_sender_killed_mid_transfer_fails_the_join_clearly_and_a_new_pairing_works(tmp_path) -> None:
    shop = _big_shop(tmp_path / "shop.db", 20_000)
    new = str(tmp_path / "new.db")
    sender, code = _pair(shop)

    def kill_after_first_batch(progress) -> None:
        if sender.poll() is None:
            sender.send_signal(signal.SIGKILL)
            sender.wait()

    with pytest.raises(RemoteUnavailable, match=r"connection|closed"):
        join(new, code, on_progress=kill_after_first_batch)
    _stop(sender)
    left = list(tmp_path.glob(".syncengine-pairing-*"))  # the killed sender's snapshot file stayed behind
    assert left and any(p.is_file() for p in left[0].iterdir())
    assert (left[0] / "in-use.lock").exists()  # marked, and no process holds it: the next pairing removes it at once
    busy = tmp_path / ".syncengine-pairing-busy"
    busy.mkdir()
    os.utime(busy, (time.time() - 3600, time.time() - 3600))
    holder = subprocess.Popen(  # another pairing, alive, serving from its folder
        [sys.executable, "-c", HOLD, str(busy / "in-use.lock")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    sender, code = _pair(shop)
    se("join", new, code)
    _finish(sender)
    assert _rows(new) == _rows(shop)
    assert list(tmp_path.glob(".syncengine-pairing-*")) == [busy]  # the stale folder went; the one in use stayed
    holder.kill()
    holder.wait()
    holder.stdout.close()


HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1], timeout=0)
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_ctrl_c_mid_transfer_leaves_a_consistent_database_and_joining_again_resumes(tmp_path, monkeypatch) -> None:
    # one page in flight at a time, so that when the sender holds its second page the joiner has
    # committed the first and waits for the next (with more in flight, Ctrl-C would land mid-write)
    monkeypatch.setattr("syncengine.pairing._transfer.WINDOW", 1)
    monkeypatch.setattr("syncengine.pairing._transfer.FILES", False)  # pages, as to an existing database
    shop_path = Path(_big_shop(tmp_path / "shop.db", 20_000))
    shop = Device.open(str(shop_path))
    pairing = shop.pair(host="127.0.0.1")
    first_batch, go_on = threading.Event(), threading.Event()
    served: dict = {}

    def hold(progress) -> None:
        if progress.rows and not first_batch.is_set():
            first_batch.set()
            go_on.wait(60)

    def serve() -> None:
        served["report"] = pairing.serve(on_progress=hold)

    thread = threading.Thread(target=serve)
    thread.start()
    new = tmp_path / "new.db"
    joiner = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "join", str(new), str(pairing.code)], stderr=subprocess.PIPE, text=True
    )
    assert first_batch.wait(60)
    joiner.send_signal(signal.SIGINT)  # Ctrl-C while the sender holds its second batch
    _, err = joiner.communicate(timeout=60)
    go_on.set()
    assert joiner.returncode == 130 and "Traceback" not in err
    held = len(_rows(new))
    assert 0 < held < 20_000  # the first page, committed whole
    con = sqlite3.connect(new)
    registers = con.execute("SELECT count(*) FROM syncengine_rows").fetchone()[0]
    con.close()
    assert registers == held  # every row with its registers: nothing half-written
    resumed = json.loads(se("join", str(new), str(pairing.code), "--json").stdout)
    thread.join(60)
    assert resumed["resumed"] is True and resumed["received"] == 20_000 - held
    assert served["report"].sent == 20_000 - held
    assert _rows(new) == _rows(shop_path)
    shop.close()


def test_joining_refuses_a_database_whose_table_does_not_fit(tmp_path) -> None:
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    se("init", shop, "--table", "products")
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, title TEXT)")
    con.commit()
    con.close()
    sender, code = _pair(shop, "--timeout", "30")
    refused = se("join", str(other), code, check=False)
    _stop(sender)
    assert refused.returncode == 1 and "lacks the columns name, price" in refused.stderr
    con = sqlite3.connect(other)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert tables == {"products"}  # nothing written


def test_the_joiner_takes_the_senders_remote_but_never_its_token_or_password(tmp_path) -> None:
    shop_path = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    shop = Device.init(shop_path, ["products"])
    shop.set_remote("postgresql://sync:s3cret@db.example/sync", user="shop")
    shop.set_setting("token", "secret-token")  # a device may keep its own token; it must stay there
    shop.sync(SqlSharedLog(str(tmp_path / "log.db")))
    pairing = shop.pair(host="127.0.0.1")
    thread = threading.Thread(target=pairing.serve)
    thread.start()
    join(str(tmp_path / "new.db"), str(pairing.code))
    thread.join(60)
    new = Device.open(str(tmp_path / "new.db"))
    assert new.remote_settings() == {"url": "postgresql://sync@db.example/sync", "user": "shop"}  # no password
    assert new.setting("token") is None
    assert names(str(tmp_path / "new.db")) == ["kettle"]
    with pytest.raises(RemoteError):
        join(str(tmp_path / "third.db"), str(pairing.code), timeout=5)
    new.close()
    shop.close()


def test_large_rows_travel_a_few_at_a_time(tmp_path, monkeypatch) -> None:
    """Pages shrink to stay under a size: rows of 300 kB each arrive whole, never in one huge message."""
    monkeypatch.setattr("syncengine.pairing._transfer.PAGE_BYTES", 1 << 20)
    monkeypatch.setattr("syncengine.pairing._transfer.FILES", False)
    sizes: list[int] = []
    real_send = __import__("syncengine.pairing._channel", fromlist=["Channel"]).Channel.send

    def spy(self, header, payload=b""):
        if header.get("kind") == "snapshot":
            sizes.append(len(payload))
        return real_send(self, header, payload)

    monkeypatch.setattr("syncengine.pairing._channel.Channel.send", spy)
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [(f"p{i:03d}", "x" * 300_000, i) for i in range(40)])
    con.commit()
    con.close()
    shop = Device.init(str(path), ["products"])
    pairing = shop.pair(host="127.0.0.1")
    thread = threading.Thread(target=pairing.serve)
    thread.start()
    report = join(str(tmp_path / "new.db"), str(pairing.code))
    thread.join(60)
    assert report.received == 40 and _rows(tmp_path / "new.db") == _rows(path)
    assert max(sizes) < 3 << 20 and len(sizes) > 4
    shop.close()


def test_writes_the_sender_makes_during_the_transfer_reach_the_joiner_through_the_shared_log(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("syncengine.pairing._transfer.WINDOW", 1)
    log = str(tmp_path / "log.db")
    shop_path = Path(_big_shop(tmp_path / "shop.db", 3_000))
    se("sync", str(shop_path), "--remote", log)
    shop = Device.open(str(shop_path))
    pairing = shop.pair(host="127.0.0.1")
    held, go_on = threading.Event(), threading.Event()

    def hold(progress) -> None:
        if progress.rows and not held.is_set():
            held.set()
            go_on.wait(60)

    thread = threading.Thread(target=lambda: pairing.serve(on_progress=hold))
    thread.start()
    new = tmp_path / "new.db"
    out: dict = {}
    joiner = threading.Thread(target=lambda: out.setdefault("report", join(str(new), str(pairing.code))))
    joiner.start()
    assert held.wait(60)
    # mid-transfer, another program writes on the sender: a new row, and a row already sent
    _write(shop_path, "INSERT INTO products VALUES ('zz-new', 'written during the transfer', 1)")
    _write(shop_path, "UPDATE products SET name = 'edited during the transfer' WHERE id = 'p000000'")
    go_on.set()
    joiner.join(60)
    thread.join(60)
    assert out["report"].received >= 3_000
    se("sync", str(shop_path), "--remote", log)
    se("sync", str(new), "--remote", log)
    assert _rows(new) == _rows(shop_path)
    names_by_id = {r[0]: r[1] for r in _rows(new)}
    assert names_by_id["zz-new"] == "written during the transfer"
    assert names_by_id["p000000"] == "edited during the transfer"
    shop.close()


def test_pairing_hands_the_encryption_key_over_so_no_passphrase_is_typed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYNCENGINE_CONFIG_DIR", str(tmp_path / "config"))
    log = SqlSharedLog(str(tmp_path / "log.db"))
    shop = Device.init(make_shop(tmp_path / "shop.db", ("p1", "kettle")), ["products"])
    shop.set_remote(str(tmp_path / "log.db"))
    key = shop.setup_encryption(
        log, "correct horse battery staple", cost={"memory_kib": 1024, "iterations": 1, "lanes": 1}
    )
    shop.sync(log)
    pairing = shop.pair(host="127.0.0.1")
    served: list[Any] = []
    thread = threading.Thread(target=lambda: served.append(pairing.serve()))
    thread.start()
    report = join(str(tmp_path / "till.db"), str(pairing.code))
    thread.join(60)
    assert report.key_id == key.key_id
    assert served[0].key_id == key.key_id  # the sender's report says which key it handed over too
    till = Device.open(str(tmp_path / "till.db"))
    assert till.encryption_status(log).key_id == key.key_id
    _write(tmp_path / "till.db", "UPDATE products SET name = 'sealed kettle' WHERE id = 'p1'")
    assert till.sync(log).sent == 1  # sealed with the handed-over key, which the log requires
    shop.sync(log)
    assert names(str(tmp_path / "shop.db")) == ["sealed kettle"]
    till.close()
    shop.close()
    log.close()
