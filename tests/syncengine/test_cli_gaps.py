"""The last gaps of the command line as a product, each through the real command in a real process.

A message that tells a person to run a command names the database they gave, so
the command can be pasted as it stands.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from syncengine import Device, open_shared_log

from .test_cli import make_shop, names, se

PASS = "correct horse battery staple"
CHEAP = {"memory_kib": 1024, "iterations": 1, "lanes": 1}


pytestmark = pytest.mark.usefixtures("key_folder")  # keys in a folder of the test's own (conftest)


def _device(path: Path) -> str:
    db = make_shop(path, ("p1", "kettle"))
    se("init", db, "--table", "products")
    return db


# -- messages name the database given, not a placeholder ----------------------------------------


def test_a_device_without_the_key_is_told_to_run_key_join_on_its_own_database(tmp_path) -> None:
    a = _device(tmp_path / "a.db")
    till = _device(tmp_path / "my till.db")  # a space: the command quotes it
    shared = str(tmp_path / "shared.db")
    se("sync", a, "--remote", shared)
    log = open_shared_log(shared)
    try:
        Device.open(a).setup_encryption(log, PASS, cost=CHEAP)
    finally:
        log.close()
    refused = se("sync", till, "--remote", shared, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"run 'syncengine key join \"{till}\"' with the passphrase" in refused.stderr
    status = se("key", "status", till, "--remote", shared).stdout
    assert f"run 'syncengine key join \"{till}\"' with the passphrase to sync with it" in status
    assert " DB" not in refused.stderr + status


def test_key_join_on_a_log_that_is_not_encrypted_names_the_setup_command_for_this_database(tmp_path) -> None:
    a = _device(tmp_path / "a.db")
    shared = str(tmp_path / "shared.db")
    se("sync", a, "--remote", shared)
    refused = se("key", "join", a, "--remote", shared, env={"SYNCENGINE_PASSPHRASE": PASS}, check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: the shared log {shared} is not encrypted: set it up with 'syncengine key setup {a}'"
    )


def test_without_a_remote_the_config_command_to_paste_names_the_database(tmp_path) -> None:
    a = _device(tmp_path / "a.db")
    refused = se("sync", a, check=False)
    assert refused.returncode == 2
    assert f"remember one with 'syncengine config {a} --remote REMOTE'" in refused.stderr
    assert f"none remembered (pass --remote, or: syncengine config {a} --remote REMOTE)" in se("status", a).stdout


def test_copy_log_says_what_every_device_runs_without_a_placeholder(tmp_path) -> None:
    a = _device(tmp_path / "a.db")
    shared, copy = str(tmp_path / "shared.db"), str(tmp_path / "copy.db")
    se("sync", a, "--remote", shared)
    out = se("copy-log", shared, copy).stdout
    assert f"point every device at it: run 'syncengine config' on its database with --remote {copy}" in out
    assert " DB " not in out


# -- a person's decision elsewhere replaces an automatic one here -------------------------------


def _edit(db: str, name: str, *, later: bool = False) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE products SET name = ? WHERE id = 'p1'", (name,))
    if later:  # a second later than the other edit (both could share a millisecond): it wins automatically
        con.execute("UPDATE syncengine_log SET wall = wall + 1000 WHERE state = 0")
    con.commit()
    con.close()


def _decided_elsewhere(tmp_path: Path) -> tuple[str, str, str]:
    """A reviews its conflicts and B decides them automatically; A's person takes the value that lost on B."""
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products", "--name", "shop-a")
    se("init", b, "--table", "products", "--name", "shop-b")
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)
    se("config", a, "--review", "on")
    _edit(a, "Kettle A")
    _edit(b, "Kettle B", later=True)
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)  # B decides automatically: its own later write wins
    se("sync", a, "--remote", shared)  # A holds the conflict for a person
    [on_b] = json.loads(se("conflicts", b, "--all", "--json").stdout)
    assert (on_b["decided_value"], on_b["decided_how"]) == ("Kettle B", "automatic")
    [held] = json.loads(se("conflicts", a, "--json").stdout)
    se("resolve", a, str(held["id"]), "--take", "local")  # "Kettle A", the value that lost on B
    se("sync", a, "--remote", shared)
    se("sync", b, "--remote", shared)
    return a, b, shared


def test_conflicts_all_shows_a_persons_decision_elsewhere_in_place_of_the_automatic_one(tmp_path) -> None:
    a, b, _ = _decided_elsewhere(tmp_path)
    assert names(a) == names(b) == ["Kettle A"]
    a_id = json.loads(se("status", a, "--json").stdout)["device_id"]
    [record] = json.loads(se("conflicts", b, "--all", "--json").stdout)
    assert record["status"] == "decided"
    assert (record["decided_value"], record["decided_by"], record["decided_how"]) == ("Kettle A", a_id, "remote")
    assert record["decided_by_name"] == "shop-a"  # learnt by b's sync, which received the decision
    line = se("conflicts", b, "--all").stdout
    assert 'kept "Kettle A"' in line and "decided on device shop-a, by a person" in line
    assert "automatically" not in line
    assert json.loads(se("conflicts", b, "--json").stdout) == []  # nothing opened by it


def test_a_device_whose_name_is_not_known_here_is_named_by_its_id_until_devices_lists_it(tmp_path) -> None:
    a, b, shared = _decided_elsewhere(tmp_path)
    a_id = json.loads(se("status", a, "--json").stdout)["device_id"]
    Device.open(b).set_setting("device_names", None)  # as if the name had never been learnt
    assert f"decided on device {a_id}, by a person" in se("conflicts", b, "--all").stdout
    se("devices", b, "--remote", shared)  # lists the devices, and keeps their names
    assert "decided on device shop-a, by a person" in se("conflicts", b, "--all").stdout
    [record] = json.loads(se("conflicts", b, "--all", "--json").stdout)
    assert (record["decided_by"], record["decided_by_name"]) == (a_id, "shop-a")


# -- Ctrl-C while the command line loads -----------------------------------------------------------

INTERRUPTED = "interrupted; nothing saved was lost (run the command again to finish)"
SCRIPT = Path(sys.executable).with_name("syncengine")  # the console script pip installed


def _loading(launch: list[str], db: str) -> tuple[subprocess.Popen[bytes], int]:
    """``syncengine status DB`` started with Python's import log on stderr, caught while it loads SQLAlchemy.

    stderr is a one-page pipe: the process cannot write more than a page of that log
    beyond what was read, so when a line about SQLAlchemy has been read, the command
    line is still loading (hundreds of modules are left) whatever the machine's speed.
    Returns the process and the pipe to read the rest from.
    """
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", *launch, "status", db], stdout=subprocess.PIPE, stderr=write
    )
    os.close(write)
    seen = b""
    while b"sqlalchemy" not in seen:
        chunk = os.read(read, 512)
        assert chunk, seen.decode()  # it ended before loading SQLAlchemy
        seen += chunk
    return process, read


def _ended(process: subprocess.Popen[bytes], read: int) -> tuple[int, str, list[str]]:
    """Read the rest; the exit status, stdout, and stderr without the import log."""
    rest = b""
    while chunk := os.read(read, 65536):
        rest += chunk
    os.close(read)
    out = process.communicate(timeout=60)[0].decode()
    code = process.returncode
    lines = [line for line in rest.decode(errors="replace").splitlines() if not line.startswith("import time:")]
    return code, out, lines


LAUNCHES = [pytest.param(["-m", "syncengine"], id="python -m syncengine"), pytest.param([str(SCRIPT)], id="script")]


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux's pipe size control")
@pytest.mark.parametrize("launch", LAUNCHES)
def test_ctrl_c_while_the_command_line_loads_ends_with_the_interrupted_line(tmp_path, launch) -> None:
    db = _device(tmp_path / "a.db")
    process, read = _loading(launch, db)
    process.send_signal(signal.SIGINT)
    code, out, lines = _ended(process, read)
    assert (code, out) == (130, "")
    assert lines == [INTERRUPTED]  # nothing else: no traceback, no "Aborted!"  # nothing else: no traceback, no "Aborted!"


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux's pipe size control")
@pytest.mark.parametrize("launch", LAUNCHES)
def test_ctrl_c_pressed_again_and_again_still_ends_with_one_line(tmp_path, launch) -> None:
    db = _device(tmp_path / "a.db")
    process, read = _loading(launch, db)
    for _ in range(20):
        process.send_signal(signal.SIGINT)
    code, out, lines = _ended(process, read)
    assert (code, out, lines) == (130, "", [INTERRUPTED])


# A Ctrl-C that arrives exactly while the package binds ``reconcile`` (before the command's main()
# runs): Python reads this file at start-up from PYTHONPATH and the hook sends it then.
_BELL = """
import os, signal, sys
class Bell:
    def find_spec(self, name, path=None, target=None):
        if name == "syncengine.reconcile":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
sys.meta_path.insert(0, Bell())
"""


@pytest.mark.parametrize("launch", LAUNCHES)
def test_ctrl_c_while_the_package_itself_loads_ends_with_the_interrupted_line(tmp_path, launch) -> None:
    db = _device(tmp_path / "a.db")
    (tmp_path / "bell").mkdir()
    (tmp_path / "bell" / "sitecustomize.py").write_text(_BELL)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "bell")}
    done = subprocess.run([sys.executable, *launch, "status", db], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr.splitlines()) == (130, "", [INTERRUPTED])


def test_a_program_importing_syncengine_keeps_its_own_ctrl_c() -> None:
    probe = "import signal, syncengine; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "True\n"


def test_import_syncengine_loads_none_of_the_engines_libraries() -> None:
    """What lets the command hear Ctrl-C at once: the package loads its names when they are used."""
    probe = "import sys, syncengine; print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'click', 'cryptography', 'httpx'}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_command_line_group_still_runs_as_before() -> None:
    run = "import sys; from syncengine.cli import main; sys.argv = ['syncengine', '--version']; main()"
    done = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True)
    assert done.returncode == 0 and "syncengine, version" in done.stdout


def _two_devices(tmp_path: Path, table: str, *sql: str, init: tuple[str, ...] = ()) -> tuple[str, str]:
    """SQLite devices a and b, each made by ``sql`` then ``init`` with one shared log remembered as their remote."""
    log = str(tmp_path / "log.db")
    paths = []
    for name in ("a", "b"):
        path = str(tmp_path / f"{name}.db")
        con = sqlite3.connect(path)
        for statement in sql:
            con.execute(statement)
        con.commit()
        con.close()
        se("init", path, "--table", table, "--name", name, *init, "--remote", log)
        paths.append(path)
    return paths[0], paths[1]


def _constraint_and_edit_conflicts(tmp_path: Path) -> str:
    """Device b (review on) holding a constraint conflict (two new products with one sku) and an edit/edit one."""
    a, b = _two_devices(
        tmp_path,
        "products",
        "CREATE TABLE products (id TEXT PRIMARY KEY, sku TEXT UNIQUE, name TEXT)",
        "INSERT INTO products VALUES ('p1', 'A-1', 'kettle')",
        init=("--no-snapshot",),
    )
    se("config", b, "--review", "on")
    for path, key, name in ((a, "p3", "from a"), (b, "p4", "from b")):
        con = sqlite3.connect(path)
        con.execute("INSERT INTO products VALUES (?, 'Z-1', 'new')", (key,))
        con.execute("UPDATE products SET name = ? WHERE id = 'p1'", (name,))
        con.commit()
        con.close()
    se("sync", a)
    se("sync", b)
    kinds = sorted(c["kind"] for c in json.loads(se("conflicts", b, "--json").stdout))
    assert kinds == ["constraint", "edit/edit"], kinds
    return b


def test_resolve_all_auto_with_a_constraint_conflict_says_how_to_decide_the_others(tmp_path) -> None:
    b = _constraint_and_edit_conflicts(tmp_path)
    refused = se("resolve", b, "--all", "--take", "auto", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "nothing was decided" in refused.stderr and "--skip-undecidable" in refused.stderr
    assert len(json.loads(se("conflicts", b, "--json").stdout)) == 2  # all or nothing
    done = se("resolve", b, "--all", "--take", "auto", "--skip-undecidable", "--json")
    assert [c["kind"] for c in json.loads(done.stdout)] == ["edit/edit"]
    assert "1 conflict left open" in done.stderr
    assert [c["kind"] for c in json.loads(se("conflicts", b, "--json").stdout)] == ["constraint"]


def test_a_blob_that_sqlite_holds_in_a_text_column_reaches_another_sqlite_device(tmp_path) -> None:
    a, b = _two_devices(tmp_path, "notes", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT, code VARCHAR(3))")
    con = sqlite3.connect(a)
    con.execute("INSERT INTO notes VALUES ('n1', x'00ff', 'abc')")  # SQLite keeps the blob as given
    con.commit()
    con.close()
    se("sync", a)
    report = json.loads(se("sync", b, "--json").stdout)
    assert (report["applied"], report["quarantined"]) == (1, 0)
    con = sqlite3.connect(b)
    try:
        assert con.execute("SELECT body, code FROM notes").fetchone() == (b"\x00\xff", "abc")
    finally:
        con.close()
    assert se("verify", a, "--json", check=False).returncode == 0


def test_the_demo_devices_remember_their_shared_log(tmp_path) -> None:
    se("demo", str(tmp_path / "d"))
    report = json.loads(se("sync", str(tmp_path / "d" / "shop-a.db"), "--json").stdout)  # no --remote needed
    assert report["received"] >= 0 and report["quarantined"] == 0
    verified = se("verify", str(tmp_path / "d" / "shop-b.db"), "--json", check=False)
    assert "no remote" not in verified.stderr and verified.returncode != 2  # not a usage error: it knew the log


# rings Ctrl-C as the receiving device starts writing a received batch to its table, and lets
# that statement start only once the command has heard it: it is stopped in the middle
_BELL_MID_APPLY = """
import os, signal, threading, time
import sqlalchemy as sa
from sqlalchemy import event
rung = []
@event.listens_for(sa.engine.Engine, "before_cursor_execute")
def ring(conn, cursor, statement, parameters, context, many):
    if rung or not statement.startswith("UPDATE items"):
        return
    rung.append(1)
    from syncengine import _db
    os.kill(os.getpid(), signal.SIGINT)
    if threading.current_thread() is not threading.main_thread():
        deadline = time.monotonic() + 30
        while not _db._stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
"""


def test_ctrl_c_in_the_middle_of_writing_a_batch_captures_none_of_the_engines_writes(tmp_path) -> None:
    """The review's case: the engine's own writes, after SQLite rolled the batch back, came back as local edits."""
    rows = [(f"k{i:05d}", f"item {i}", 0) for i in range(3000)]
    x, y = _two_devices(tmp_path, "items", "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, n INTEGER NOT NULL)")
    con = sqlite3.connect(x)
    con.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
    con.commit()
    se("sync", x)
    se("sync", y)
    con.execute("UPDATE items SET n = n + 1")
    con.commit()
    con.close()
    se("sync", x)
    (tmp_path / "bell").mkdir()
    (tmp_path / "bell" / "sitecustomize.py").write_text(_BELL_MID_APPLY)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "bell")}
    stopped = subprocess.run(
        [sys.executable, "-m", "syncengine", "sync", y, "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert stopped.returncode == 130, stopped.stderr
    assert json.loads(se("status", y, "--json").stdout)["unshared"] == 0  # nothing of the engine's counts as y's own
    assert json.loads(stopped.stdout)["cancelled"] is True  # and it said what it did, as JSON
    se("sync", y)
    se("sync", x)
    for db in (x, y):
        con = sqlite3.connect(db)
        assert con.execute("SELECT n, count(*) FROM items GROUP BY n").fetchall() == [(1, 3000)], db
        con.close()
    assert json.loads(se("conflicts", x, "--all", "--json").stdout) == []


def test_ctrl_c_that_stops_a_statement_ends_the_command_as_interrupted_not_as_an_error(tmp_path, monkeypatch) -> None:
    """What a joiner met half the time: Ctrl-C during a commit came out as the driver's "interrupted", status 1."""
    import sqlalchemy as sa
    from click.testing import CliRunner

    import syncengine.pairing
    from syncengine.cli import main

    def stopped(*_args: object, **_kwargs: object) -> None:
        raise sa.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("interrupted"))

    monkeypatch.setattr(syncengine.pairing, "join", stopped)  # the statement Ctrl-C stopped (a join's copy)
    result = CliRunner().invoke(main, ["join", str(tmp_path / "new.db"), "ABCD-EFGH"])
    assert result.exit_code == 130
    assert "interrupted; nothing saved was lost" in result.output and "error:" not in result.output
