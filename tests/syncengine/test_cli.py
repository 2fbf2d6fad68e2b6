"""The command line, run as a person or a script would: a real process, real files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def se(
    *args: str, check: bool = True, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "syncengine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"syncengine {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def make_shop(path: Path, *rows: tuple[str, str]) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products (id, name) VALUES (?, ?)", rows)
    con.commit()
    con.close()
    return str(path)


def names(path: str) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT name FROM products ORDER BY id")]
    finally:
        con.close()


def test_init_sync_status_log_devices_round_trip(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"), ("p2", "mug"))
    b = make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    out = se("init", a, "--table", "products", "--name", "shop-a").stdout
    assert "shop-a" in out and "2 existing rows" in out
    se("init", b, "--table", "products", "--name", "shop-b")
    status = json.loads(se("status", a, "--json").stdout)
    assert {"device_id", "unshared", "pending", "conflicts"} <= set(status)
    assert status["unshared"] == 2
    unshared = json.loads(se("log", a, "--unshared", "--json").stdout)
    assert sorted(e["pk"] for e in unshared) == [["p1"], ["p2"]]
    both = se("log", a, "--unshared", "--pending", check=False)  # alternatives: both at once is a mistake
    assert both.returncode == 2 and "--unshared or --pending, not both" in both.stderr
    assert "sent 2" in se("sync", a, "--remote", shared).stdout
    assert "applied 2" in se("sync", b, "--remote", shared).stdout
    assert names(b) == ["kettle", "mug"]
    devices = json.loads(se("devices", b, "--remote", shared, "--json").stdout)
    assert sorted(d["name"] for d in devices) == ["shop-a", "shop-b"]
    assert [d["this_device"] for d in devices if d["name"] == "shop-b"] == [True]
    report = json.loads(se("sync", a, "--remote", shared, "--json").stdout)
    assert report["sent"] == 0 and report["received"] == 0


def test_receive_only_leaves_entries_pending(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products")
    se("init", b, "--table", "products")
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared, "--stage", "receive")
    assert json.loads(se("status", b, "--json").stdout)["pending"] == 1
    assert [e["pk"] for e in json.loads(se("log", b, "--pending", "--json").stdout)] == [["p1"]]
    se("sync", b, "--remote", shared)
    assert names(b) == ["kettle"]


def test_no_snapshot_shares_nothing_that_was_there(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products", "--no-snapshot")
    assert json.loads(se("status", a, "--json").stdout)["unshared"] == 0


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("shop", ["init", "{db}", "--table", "nope"], "table 'nope' does not exist"),
        ("nokey", ["init", "{db}", "--table", "things"], "table 'things' has no primary key"),
        ("autoinc", ["init", "{db}", "--table", "things"], "auto-incremented integer key"),
        ("none", ["status", "{db}"], "does not exist"),
        ("shop", ["status", "{db}"], "has no sync installed"),
        ("synced", ["sync", "{db}", "--remote", "{tmp}/missing/dir/shared.db"], "does not exist"),
        ("synced", ["sync", "{db}", "--remote", "nope://x"], "database URL"),
        (
            "synced",
            ["sync", "{db}", "--remote", "postgresql+psycopg://nobody@127.0.0.1:1/x"],
            "cannot reach the shared log",
        ),
        ("synced", ["quarantine", "{db}", "--retry", "999"], "no quarantined entry with id 999"),
    ],
)
def test_errors_are_one_clear_sentence_without_a_traceback(tmp_path, setup, args, message) -> None:
    db = tmp_path / "x.db"
    if setup in ("shop", "synced"):
        make_shop(db, ("p1", "kettle"))
    if setup == "synced":
        se("init", str(db), "--table", "products")
    if setup in ("nokey", "autoinc"):
        con = sqlite3.connect(db)
        key = "" if setup == "nokey" else " PRIMARY KEY"
        con.execute(f"CREATE TABLE things (id INTEGER{key}, name TEXT)")
        con.close()
    result = se(*[a.format(db=db, tmp=tmp_path) for a in args], check=False)
    assert result.returncode == 1, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path) -> None:
    result = se("--debug", "status", str(tmp_path / "none.db"), check=False)
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_unreachable_remote_loses_nothing(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    result = se("sync", a, "--remote", "postgresql+psycopg://nobody@127.0.0.1:1/x", check=False)
    assert result.returncode == 1
    assert json.loads(se("status", a, "--json").stdout)["unshared"] == 1
    se("sync", a, "--remote", str(tmp_path / "shared.db"))
    assert json.loads(se("status", a, "--json").stdout)["unshared"] == 0


def test_quarantine_list_retry_and_skip(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    b = tmp_path / "b.db"
    con = sqlite3.connect(b)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    con.close()
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products")
    se("init", str(b), "--table", "products")
    con = sqlite3.connect(a)
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", [("p1", "kettle", 2.5), ("p2", "mug", 1.5)])
    con.commit()
    con.close()
    se("sync", a, "--remote", shared)
    se("sync", str(b), "--remote", shared)
    listed = json.loads(se("quarantine", str(b), "--json").stdout)
    assert len(listed) == 2 and all("unknown column 'price'" in q["reason"] for q in listed)
    assert json.loads(se("status", str(b), "--json").stdout)["quarantined"] == 2
    assert "name the entry ids" in se("quarantine", str(b), "--retry", check=False).stderr
    retried = json.loads(se("quarantine", str(b), "--retry", str(listed[0]["id"]), "--json").stdout)
    assert retried == {"applied": 0, "quarantined": 2}  # the column is still missing
    skipped = json.loads(se("quarantine", str(b), "--skip", str(listed[1]["id"]), "--json").stdout)
    assert skipped == {"skipped": 1}
    con = sqlite3.connect(b)
    con.execute("ALTER TABLE products ADD COLUMN price REAL")
    con.close()
    retried = json.loads(se("quarantine", str(b), "--retry", str(listed[0]["id"]), "--json").stdout)
    assert retried == {"applied": 1, "quarantined": 0}  # the skipped entry stays skipped
    assert json.loads(se("quarantine", str(b), "--json").stdout) == []
    assert json.loads(se("quarantine", str(b), "--skip", "--all", "--json").stdout) == {"skipped": 0}


def test_config_stores_the_continuous_sync_settings(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    se("init", a, "--table", "products")
    assert json.loads(se("config", a, "--json").stdout) == {
        "enabled": True,
        "interval": 60.0,
        "review": {"products": False},
        "remote": None,
    }
    assert json.loads(se("config", a, "--auto", "off", "--interval", "5", "--json").stdout) == {
        "enabled": False,
        "interval": 5.0,
        "review": {"products": False},
        "remote": None,
    }
    assert json.loads(se("config", a, "--review", "on", "--table", "products", "--json").stdout)["review"] == {
        "products": True
    }
    assert "goes with --review" in se("config", a, "--table", "products", check=False).stderr


def test_watch_syncs_until_told_to_stop(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    out = se("watch", a, "--remote", str(tmp_path / "shared.db"), "--interval", "0.2", "--max-syncs", "2").stdout
    assert out.count("sent") == 2 and "sent 1" in out


def test_demo_builds_two_shops_that_converge(tmp_path) -> None:
    result = json.loads(se("demo", str(tmp_path / "demo"), "--json").stdout)
    assert result["converged"] is True
    assert len(result["shop_a"]) == 5 and result["shop_a"] == result["shop_b"]
    assert (tmp_path / "demo" / "shared.db").exists()
    human = se("demo", str(tmp_path / "demo2")).stdout
    assert "both shops hold the same catalogue" in human
    assert json.loads(se("demo", str(tmp_path / "demo"), "--json").stdout)["converged"] is True  # an earlier demo: replaced


def test_demo_never_writes_over_files_that_are_not_an_earlier_demos(tmp_path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    con = sqlite3.connect(mine / "shop-a.db")
    con.execute("CREATE TABLE precious (x)")
    con.execute("INSERT INTO precious VALUES (42)")
    con.commit()
    con.close()
    refused = se("demo", str(mine), check=False)
    assert refused.returncode == 2 and "holds shop-a.db, and no earlier demo made it" in refused.stderr
    con = sqlite3.connect(mine / "shop-a.db")
    assert con.execute("SELECT x FROM precious").fetchall() == [(42,)]  # untouched
    con.close()
    (tmp_path / "synced").mkdir()
    synced = make_shop(tmp_path / "synced" / "shop-a.db", ("p1", "mine"))  # a device of one's own, named as the demo's
    se("init", synced, "--table", "products")
    assert se("demo", str(tmp_path / "synced"), check=False).returncode == 2
    assert names(synced) == ["mine"]
    demo = tmp_path / "demo"
    se("demo", str(demo))
    (demo / "notes.txt").write_text("keep")  # a demo's folder holding something else: refused too
    refused = se("demo", str(demo), check=False)
    assert refused.returncode == 2 and "holds notes.txt, which is not the demo's" in refused.stderr


def _conflicting_pair(tmp_path, *, review: bool) -> tuple[str, str, str]:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products")
    se("init", b, "--table", "products")
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)
    if review:
        se("config", b, "--review", "on")
    for db, name in ((a, "Kettle A"), (b, "Kettle B")):
        con = sqlite3.connect(db)
        con.execute("UPDATE products SET name = ? WHERE id = 'p1'", (name,))
        if db == b:  # b's edit is a second later (both could share a millisecond): it wins automatically
            con.execute("UPDATE syncengine_log SET wall = wall + 1000 WHERE state = 0")
        con.commit()
        con.close()
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)
    return a, b, shared


def test_conflicts_are_listed_and_resolved_from_the_command_line(tmp_path) -> None:
    a, b, shared = _conflicting_pair(tmp_path, review=True)
    assert json.loads(se("status", b, "--json").stdout)["conflicts"] == 1
    [conflict] = json.loads(se("conflicts", b, "--json").stdout)
    assert {k: conflict[k] for k in ("kind", "table", "pk", "field", "local", "remote", "auto")} == {
        "kind": "edit/edit",
        "table": "products",
        "pk": "p1",
        "field": "name",
        "local": "Kettle B",
        "remote": "Kettle A",
        "auto": "Kettle B",
    }
    assert names(b) == ["Kettle B"]
    assert "give exactly one" in se("resolve", b, str(conflict["id"]), check=False).stderr
    assert 'local "Kettle B", remote "Kettle A"' in se("conflicts", b).stdout
    [decided] = json.loads(se("resolve", b, str(conflict["id"]), "--value", '"Kettle C ☃ é"', "--json").stdout)
    assert decided["decided_value"] == "Kettle C ☃ é" and decided["status"] == "decided"
    assert 'kept "Kettle C ☃ é"' in se("conflicts", b, "--all").stdout  # letters as they are, not \u escapes
    assert decided["decided_by_name"] == json.loads(se("status", b, "--json").stdout)["name"]  # decided here
    assert json.loads(se("conflicts", b, "--json").stdout) == []
    history = json.loads(se("conflicts", b, "--all", "--json").stdout)
    assert [(h["decision"], h["decided_how"]) for h in history] == [("custom", "person")]
    se("sync", b, "--remote", shared)
    se("sync", a, "--remote", shared)
    assert names(a) == names(b) == ["Kettle C ☃ é"]


def test_resolve_all_takes_one_side_for_every_open_conflict(tmp_path) -> None:
    _, b, _ = _conflicting_pair(tmp_path, review=True)
    out = se("resolve", b, "--all", "--table", "products", "--take", "remote").stdout
    assert "decided: remote" in out
    assert names(b) == ["Kettle A"]
    assert "no conflict with id 42" in se("resolve", b, "42", "--take", "local", check=False).stderr


def test_automatic_policy_keeps_conflicts_in_the_history_only(tmp_path) -> None:
    _, b, _ = _conflicting_pair(tmp_path, review=False)
    assert json.loads(se("conflicts", b, "--json").stdout) == []
    [decided] = json.loads(se("conflicts", b, "--all", "--json").stdout)
    assert decided["decided_how"] == "automatic" and names(b) == ["Kettle B"]
    assert "automatic" in se("conflicts", b, "--all").stdout


def test_an_automatic_delete_edit_decision_says_the_delete_won_even_when_it_was_the_earlier_write(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    for db in (a, b):
        se("init", db, "--table", "products")
        se("sync", db, "--remote", shared)
    for db, statement in (
        (a, "DELETE FROM products WHERE id = 'p1'"),
        (b, "UPDATE products SET name = 'later' WHERE id = 'p1'"),
    ):
        con = sqlite3.connect(db)
        con.execute(statement)
        if db == b:  # the edit is a second after the delete
            con.execute("UPDATE syncengine_log SET wall = wall + 1000 WHERE state = 0")
        con.commit()
        con.close()
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)
    line = se("conflicts", b, "--all").stdout
    assert "delete/edit" in line and "automatically (the delete won)" in line and "later write" not in line


def test_verbose_prints_the_engines_log(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    quiet = se("sync", a, "--remote", str(tmp_path / "shared.db"))
    assert quiet.stderr == ""
    loud = se("-vv", "sync", a, "--remote", str(tmp_path / "shared.db"))
    assert "INFO sync of" in loud.stderr and "sync done" in loud.stderr
    add_b = make_shop(tmp_path / "b.db")
    se("init", add_b, "--table", "products")
    pulled = se("-vv", "sync", add_b, "--remote", str(tmp_path / "shared.db")).stderr
    assert "DEBUG pulled 1 batches" in pulled


def test_the_engines_warnings_stay_off_stderr_unless_asked(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    b = tmp_path / "b.db"
    con = sqlite3.connect(b)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL)")
    con.close()
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products")
    se("init", str(b), "--table", "products")
    con = sqlite3.connect(a)
    con.execute("INSERT INTO products VALUES ('p1', 'kettle', 2.5)")
    con.commit()
    con.close()
    se("sync", a, "--remote", shared)
    quiet = se("sync", str(b), "--remote", shared)  # quarantines p1: a warning in the engine's log
    assert "quarantined 1" in quiet.stdout and quiet.stderr == ""
    loud = se("-v", "sync", str(b), "--remote", shared, "--stage", "reconcile")
    assert "WARNING" not in loud.stderr  # nothing new to quarantine
