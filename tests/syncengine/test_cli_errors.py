"""Every mistake a person makes at the command line gets one sentence on stderr, and nothing is written or lost.

Each test runs the real command in a real process on real files, and checks that
stderr holds exactly the sentence (no traceback, no log lines) and that the files
are as they were.
"""

from __future__ import annotations

import http.server
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .server.servers import free_port
from .test_cli import make_shop, names, se


def one_sentence(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The one line of stderr, which must start with "error:" and hold each expected part."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert "Traceback" not in result.stderr and "sqlalche.me" not in result.stderr and "[SQL:" not in result.stderr
    return lines[0]


def synced_shop(tmp_path: Path, name: str = "shop.db", *rows: tuple[str, str]) -> str:
    db = make_shop(tmp_path / name, *(rows or (("p1", "kettle"),)))
    se("init", db, "--table", "products")
    return db


COMMANDS = [
    ["status", "{db}"],
    ["sync", "{db}", "--remote", "{shared}"],
    ["log", "{db}"],
    ["history", "{db}"],
    ["conflicts", "{db}"],
    ["config", "{db}"],
    ["quarantine", "{db}"],
    ["resolve", "{db}", "1", "--take", "auto"],
    ["devices", "{db}", "--remote", "{shared}"],
    ["watch", "{db}", "--remote", "{shared}", "--max-syncs", "1"],
    ["verify", "{db}", "--remote", "{shared}"],
    ["repair", "{db}", "--remote", "{shared}"],
    ["doctor", "{db}"],
    ["reset-identity", "{db}"],
    ["init", "{db}", "--table", "products"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_file_that_is_not_a_database_given_as_db_is_one_sentence(tmp_path, args) -> None:
    db = tmp_path / "notes.db"
    db.write_text("shopping: milk, eggs\n" * 50)
    shared = synced_shop(tmp_path, "other.db")  # a real log beside it, to tell the two apart
    se("sync", shared, "--remote", str(tmp_path / "shared.db"))
    before = db.read_bytes()
    result = se(*[a.format(db=db, shared=tmp_path / "shared.db") for a in args], check=False)
    one_sentence(result, f"{db} is not an SQLite database, or it is damaged")
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [["serve", "--remote", "{log}", "--port", "0"], ["token", "create", "--remote", "{log}", "--user", "alice"]],
    ids=["serve", "token-create"],
)
def test_a_shared_log_that_is_not_a_database_is_one_sentence_for_the_server_commands(tmp_path, args) -> None:
    log = tmp_path / "shared.db"
    log.write_bytes(b"not sqlite at all" * 100)
    before = log.read_bytes()
    result = se(*[a.format(log=log) for a in args], check=False)
    one_sentence(result, f"the shared log {log} is not an SQLite database, or it is damaged")
    assert log.read_bytes() == before


def _read_only(db: str) -> str:
    return f"sqlite:///file:{db}?mode=ro&uri=true"


@pytest.mark.parametrize(
    "args",
    [
        ["config", "{db}", "--review", "on"],
        ["resolve", "{db}", "--all", "--take", "auto"],
        ["quarantine", "{db}", "--retry", "--all"],
    ],
    ids=["config", "resolve", "quarantine"],
)
def test_a_read_only_database_is_one_sentence(tmp_path, args) -> None:
    db = synced_shop(tmp_path)
    before = Path(db).read_bytes()
    result = se(*[a.format(db=_read_only(db)) for a in args], check=False)
    one_sentence(result, "is read-only, and this needs to write to it")
    assert Path(db).read_bytes() == before


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_shared_log_is_named_in_our_words(tmp_path, damage) -> None:
    a = synced_shop(tmp_path, "a.db")
    good = tmp_path / "good.db"
    se("sync", a, "--remote", str(good))
    broken = tmp_path / "shared.db"
    data = good.read_bytes()
    broken.write_bytes(data[:3000] if damage == "truncated" else b"\0" * len(data))
    con = sqlite3.connect(a)
    con.execute("INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    con.commit()
    con.close()
    line = one_sentence(se("sync", a, "--remote", str(broken), check=False), str(broken), "restore it from a backup")
    assert "damaged" in line
    assert json.loads(se("status", a, "--json").stdout)["unshared"] == 1  # the write waits, nothing lost


def test_a_server_that_is_down_is_one_sentence_and_its_retries_are_only_shown_with_v(tmp_path) -> None:
    a = synced_shop(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    quiet = se("sync", a, "--remote", url, "--token", "t", check=False)
    one_sentence(quiet, f"cannot reach the shared log at {url} to start the sync", "connection refused")
    assert "register the device" not in quiet.stderr and "stamina" not in quiet.stderr
    loud = se("-v", "sync", a, "--remote", url, "--token", "t", check=False)
    assert "stamina.retry_scheduled" in loud.stderr  # the retries happened, and -v shows them
    assert json.loads(se("status", a, "--json").stdout)["unshared"] == 1


def test_an_unknown_host_is_not_retried(tmp_path) -> None:
    a = synced_shop(tmp_path)
    result = se("-v", "sync", a, "--remote", "http://no-such-host.invalid:8765", "--token", "t", check=False)
    assert result.returncode == 1
    assert "its host name is not known" in result.stderr and "check the URL" in result.stderr
    assert "retry_scheduled" not in result.stderr  # a name no DNS knows will not be known in a second


def test_https_spoken_to_an_http_server_is_not_retried(tmp_path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        a = synced_shop(tmp_path)
        url = f"https://127.0.0.1:{server.server_port}"
        result = se("-v", "sync", a, "--remote", url, "--token", "t", check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    assert "does not speak https" in result.stderr and "retry_scheduled" not in result.stderr


HOLDER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("UPDATE products SET name = name")
print("holding", flush=True)
sys.stdin.readline()  # until the test says so
con.execute("ROLLBACK")
"""


def _hold_lock(db: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_a_database_another_program_writes_says_at_once_that_it_waits(tmp_path) -> None:
    db = synced_shop(tmp_path)
    holder = _hold_lock(db)
    command = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "config", db, "--review", "on"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert command.stderr is not None
    first = command.stderr.readline()  # said while the other program still holds the lock
    assert first.startswith(f"{db} is busy: another program (or another sync of it) is writing to it; waiting for it")
    holder.communicate("go\n", timeout=30)
    out, err = command.communicate(timeout=60)
    assert command.returncode == 0, err
    assert err == "" and "held for review" in out


def test_a_database_that_stays_busy_names_the_likely_cause(tmp_path) -> None:
    db = synced_shop(tmp_path)
    holder = _hold_lock(db)
    try:
        result = se("--wait", "1", "config", db, "--review", "on", check=False)
    finally:
        holder.communicate("go\n", timeout=30)
    assert result.returncode == 1
    busy, error = result.stderr.strip().splitlines()
    assert busy.startswith(f"{db} is busy")
    assert error.startswith(f"error: the device database {db} stayed busy: another program holds its write lock")
    assert "open transaction" in error
    assert json.loads(se("config", db, "--json").stdout)["review"] == {"products": False}


def test_a_sync_of_a_database_that_stays_busy_waits_once_and_says_so_once(tmp_path) -> None:
    """The failed sync's history record used to wait (and say it waits) a second time."""
    db = synced_shop(tmp_path)
    holder = _hold_lock(db)
    try:
        result = se("--wait", "1", "sync", db, "--remote", str(tmp_path / "shared.db"), check=False)
    finally:
        holder.communicate("go\n", timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert sum(line.startswith(f"{db} is busy") for line in lines) == 1, lines
    assert lines[-1].startswith(f"error: the device database {db} stayed busy")


def test_user_with_a_servers_url_is_refused_not_ignored(tmp_path) -> None:
    """A server takes the user from the token: --user there would be ignored without a word."""
    db = synced_shop(tmp_path)
    for command in ("sync", "devices", "verify"):
        refused = se(command, db, "--remote", "http://127.0.0.1:9", "--user", "bob", check=False)
        assert refused.returncode == 2 and "--user is for shared-log databases" in refused.stderr, refused.stderr
    assert se("sync", db, "--remote", str(tmp_path / "log.db"), "--user", "bob").returncode == 0  # a log database
    before = json.loads(se("config", db, "--json").stdout)["remote"]
    refused = se("config", db, "--remote", "http://127.0.0.1:9", "--user", "bob", check=False)  # not stored either
    assert refused.returncode == 2 and "--user is for shared-log databases" in refused.stderr
    assert json.loads(se("config", db, "--json").stdout)["remote"] == before
    fresh = make_shop(tmp_path / "fresh.db")
    refused = se("init", fresh, "--table", "products", "--remote", "http://127.0.0.1:9", "--user", "bob", check=False)
    assert refused.returncode == 2 and "--user is for shared-log databases" in refused.stderr


def test_reading_commands_do_not_wait_for_a_writer(tmp_path) -> None:
    """What the README promises of reads: they take no write lock, so a sync in progress never holds them up."""
    db = synced_shop(tmp_path)
    holder = _hold_lock(db)
    try:
        results = [se("--wait", "1", command, db, "--json", check=False) for command in ("status", "log", "conflicts")]
    finally:
        holder.communicate("go\n", timeout=30)
    for result in results:
        assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(results[0].stdout)["tables"] == ["products"]


def test_init_of_a_file_that_does_not_exist_leaves_no_file(tmp_path) -> None:
    missing = tmp_path / "nothere.db"
    one_sentence(se("init", str(missing), "--table", "products", check=False), "does not exist")
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_resolve_value_takes_plain_text_as_text(tmp_path) -> None:
    from .test_cli import _conflicting_pair

    _, b, _ = _conflicting_pair(tmp_path, review=True)
    [conflict] = json.loads(se("conflicts", b, "--json").stdout)
    out = se("resolve", b, str(conflict["id"]), "--value", "Kettle XL").stdout
    assert '"Kettle XL"' in out and names(b) == ["Kettle XL"]


def test_an_unexpected_error_is_still_one_sentence(tmp_path) -> None:
    db = synced_shop(tmp_path)
    result = se("log", db, "--table", "products", "--limit", "1", check=False)  # fine: a baseline
    assert result.returncode == 0
    bad_remote = se("devices", db, "--remote", str(tmp_path / "missing" / "x.db"), check=False)
    one_sentence(bad_remote, "does not exist")
