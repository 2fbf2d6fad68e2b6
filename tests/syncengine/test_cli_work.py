"""The command line as a person uses it: progress, Ctrl-C, two syncs at once, what it says, the remembered remote.

Real processes on real files. Where a test must act in the middle of a command it
waits for a signal from that command (a line it prints), never for the clock.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from .test_cli import _conflicting_pair, make_shop, names, se

ROWS = 20000


def big_shop(path: Path, n: int = ROWS) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL, price REAL)")
    con.executemany("INSERT INTO products VALUES (?, ?, ?)", ((f"p{i:06}", f"item {i}", i / 2) for i in range(n)))
    con.commit()
    con.close()
    se("init", str(path), "--table", "products")
    return str(path)


def count(db: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM products").fetchone()[0])
    finally:
        con.close()


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncengine", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def interrupt_when(command: subprocess.Popen[str], marker: str) -> tuple[str, str]:
    """Send Ctrl-C once ``marker`` appears on the command's stderr (its -vv log); return its output."""
    assert command.stderr is not None
    seen = []
    for line in command.stderr:
        seen.append(line)
        if marker in line:
            command.send_signal(signal.SIGINT)
            break
    out, err = command.communicate(timeout=60)
    return out, "".join(seen) + err


# -- progress ---------------------------------------------------------------------------------


def test_progress_is_drawn_on_a_terminal_and_nowhere_else(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db", 6000)
    shared = str(tmp_path / "shared.db")
    code, out, screen = _on_a_terminal("sync", a, "--remote", shared, "--batch-size", "1000", "--json")
    assert code == 0
    assert json.loads(out)["sent"] == 6000  # stdout stays clean JSON
    assert "sending" in screen and "entries" in screen
    b = big_shop(tmp_path / "b.db", 0)
    plain = se("sync", b, "--remote", shared)
    assert plain.stderr == ""  # not a terminal: no progress at all


def _on_a_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``syncengine ARGS`` with stderr on a pseudo-terminal; return its exit status, stdout and what it drew."""
    leader, follower = pty.openpty()
    try:
        command = subprocess.Popen(
            [sys.executable, "-m", "syncengine", *args], stdout=subprocess.PIPE, stderr=follower, text=True
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command ended and closed its side
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = command.communicate(timeout=120)
    finally:
        os.close(leader)
    return command.returncode, out, drawn.decode("utf-8", "replace")


def test_repair_and_verify_draw_their_progress_too(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db", 6000)
    shared = str(tmp_path / "shared.db")
    se("sync", big_shop(tmp_path / "b.db", 0), "--remote", shared)  # the log exists; a's rows are not in it yet
    code, out, screen = _on_a_terminal("verify", a, "--remote", shared, "--json")
    assert code == 0 and json.loads(out)["in_step"] is True
    assert "sending" in screen and "entries" in screen
    code, out, screen = _on_a_terminal("repair", a, "--remote", shared, "--all", "--json")
    assert code == 0 and json.loads(out)["restated"] == 6000
    assert "sending" in screen


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_while_sharing_stops_loses_nothing_is_recorded_and_counts_once(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db")
    shared = str(tmp_path / "shared.db")
    command = start("-vv", "sync", a, "--remote", shared, "--batch-size", "1000")
    out, err = interrupt_when(command, "DEBUG pushed batch")
    assert command.returncode == 130, err
    assert "interrupted; nothing saved was lost" in err and "Traceback" not in err
    assert "sent" in out and "interrupted" in out  # what it did, on stdout like a whole sync's summary
    [record] = json.loads(se("history", a, "--json").stdout)
    assert record["error"] in (None, "interrupted") and record["report"]["cancelled"] is True
    assert record["remote"] == str(Path(shared).resolve())
    assert "interrupted after" in se("history", a).stdout
    first = record["report"]["sent"]
    assert 0 < first < ROWS
    second = json.loads(se("sync", a, "--remote", shared, "--json").stdout)["sent"]
    assert first + second == ROWS  # what the interrupted sync had sent is not counted again
    b = big_shop(tmp_path / "b.db", 0)
    assert json.loads(se("sync", b, "--remote", shared, "--json").stdout)["applied"] == ROWS
    assert count(b) == ROWS


@pytest.mark.parametrize(
    "server", [pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)]
)
def test_ctrl_c_on_a_server_database_is_recorded_too(tmp_path, new_db, server) -> None:
    url = new_db(server)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE products (id VARCHAR(20) PRIMARY KEY, name TEXT NOT NULL, price REAL)")
        conn.execute(
            sa.text("INSERT INTO products VALUES (:id, :name, :price)"),
            [{"id": f"p{i:06}", "name": f"item {i}", "price": i / 2} for i in range(ROWS)],
        )
    engine.dispose()
    se("init", url, "--table", "products")
    shared = str(tmp_path / "shared.db")
    command = start("-vv", "sync", url, "--remote", shared, "--batch-size", "1000")
    _, err = interrupt_when(command, "DEBUG pushed batch")
    assert command.returncode == 130, err
    assert "Traceback" not in err
    found = json.loads(se("history", url, "--json").stdout)
    assert len(found) == 1, err[-3000:]
    [record] = found
    assert record["report"]["cancelled"] is True
    first = record["report"]["sent"]
    second = json.loads(se("sync", url, "--remote", shared, "--json").stdout)["sent"]
    assert first + second == ROWS


def test_an_interrupted_json_sync_still_prints_its_report(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db")
    command = start("-vv", "sync", a, "--remote", str(tmp_path / "shared.db"), "--batch-size", "1000", "--json")
    out, err = interrupt_when(command, "DEBUG pushed batch")
    assert command.returncode == 130, err
    report = json.loads(out)
    assert report["cancelled"] is True and 0 < report["sent"] < ROWS


def test_ctrl_c_while_receiving_stops_and_the_next_sync_goes_on(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db")
    shared = str(tmp_path / "shared.db")
    se("sync", a, "--remote", shared, "--batch-size", "1000")
    b = big_shop(tmp_path / "b.db", 0)
    command = start("-vv", "sync", b, "--remote", shared, "--batch-size", "1000")
    _, err = interrupt_when(command, "DEBUG pulled")
    assert command.returncode == 130, err
    [record] = json.loads(se("history", b, "--json").stdout)
    assert record["error"] in (None, "interrupted") and record["report"]["cancelled"] is True
    first = record["report"]["received"]
    assert count(b) == first == record["report"]["applied"]  # a batch rolled back by Ctrl-C is not counted
    second = json.loads(se("sync", b, "--remote", shared, "--json").stdout)["received"]
    assert first + second == ROWS and count(b) == ROWS


def test_ctrl_c_inside_a_pull_of_many_batches_counts_only_what_was_kept(tmp_path) -> None:
    a = big_shop(tmp_path / "a.db")
    shared = str(tmp_path / "shared.db")
    se("sync", a, "--remote", shared, "--batch-size", "1000")  # 20 batches, pulled by b at once below
    b = big_shop(tmp_path / "b.db", 0)
    command = start("-vv", "sync", b, "--remote", shared)
    _, err = interrupt_when(command, "DEBUG pulled")  # the pull's one transaction is under way
    assert command.returncode == 130, err
    [record] = json.loads(se("history", b, "--json").stdout)
    assert count(b) == record["report"]["received"] == record["report"]["applied"]
    second = json.loads(se("sync", b, "--remote", shared, "--json").stdout)["received"]
    assert record["report"]["received"] + second == ROWS and count(b) == ROWS


# -- two syncs of one database ----------------------------------------------------------------


def test_a_second_sync_of_a_database_waits_for_the_first_and_says_so(tmp_path) -> None:
    from filelock import FileLock

    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    shared = str(tmp_path / "shared.db")
    running = FileLock(a + "-synclock")  # the lock a sync in another program holds
    running.acquire()
    try:
        refused = se("sync", a, "--remote", shared, "--no-wait", check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"error: another sync of this database is running ({a}): try again when it has finished"
        ]
        waiting = start("sync", a, "--remote", shared)
        assert waiting.stderr is not None
        assert waiting.stderr.readline().startswith(f"another sync of this database is running ({a}); waiting")
    finally:
        running.release()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and "sent 1" in out and err == ""


def test_a_program_waiting_for_another_sync_of_its_database_is_told_by_an_event(tmp_path) -> None:
    """What a window shows while it waits (the command line says it on stderr, above)."""
    import threading

    from filelock import FileLock

    from syncengine import Device, SqlSharedLog, events

    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    running = FileLock(a + "-synclock")  # the lock a sync in another program holds
    running.acquire()
    told = threading.Event()
    seen: list[object] = []

    def listen(event: object) -> None:
        seen.append(event)
        if isinstance(event, events.Waiting):
            told.set()

    device, log = Device.open(a), SqlSharedLog(str(tmp_path / "shared.db"))
    done: dict[str, object] = {}
    worker = threading.Thread(target=lambda: done.setdefault("report", device.sync(log, on_event=listen)))
    try:
        worker.start()
        assert told.wait(60)
        assert not any(isinstance(e, events.SyncStarted) for e in seen)  # it waits before it begins
        [waiting] = [e for e in seen if isinstance(e, events.Waiting)]
        assert "another sync of this database is running" in waiting.reason
    finally:
        running.release()
        worker.join(60)
        device.close()
        log.close()
    assert done["report"].sent == 1  # type: ignore[attr-defined]


# -- saying what matters ------------------------------------------------------------------------


def test_the_sync_summary_says_conflicts_and_how_to_see_them(tmp_path) -> None:
    a, b, shared = _conflicting_pair(tmp_path, review=True)
    con = sqlite3.connect(a)
    con.execute("UPDATE products SET price = 9 WHERE id = 'p1'")
    con.commit()
    con.close()
    se("sync", a, "--remote", shared)
    out = se("sync", b, "--remote", shared).stdout
    assert "applied 1 in" in out  # the price: no conflict
    assert "1 conflict waits for a decision: syncengine conflicts " + b in out
    assert "1 conflicts" not in out
    status = se("status", b).stdout
    assert "conflicts   1 (see: syncengine conflicts" in status


def test_a_change_held_for_review_is_counted_as_held_not_applied(tmp_path) -> None:
    a, b = make_shop(tmp_path / "a.db", ("p1", "kettle")), make_shop(tmp_path / "b.db")
    shared = str(tmp_path / "shared.db")
    for db in (a, b):
        se("init", db, "--table", "products")
        se("sync", db, "--remote", shared)
    se("config", b, "--review", "on")
    for db, name in ((a, "Kettle A"), (b, "Kettle B")):  # neither has seen the other's edit
        con = sqlite3.connect(db)
        con.execute("UPDATE products SET name = ? WHERE id = 'p1'", (name,))
        con.commit()
        con.close()
    se("sync", a, "--remote", shared)
    out = se("sync", b, "--remote", shared).stdout
    assert "received 1, sent 1, applied 0, held 1, 1 conflict found" in out
    assert "1 conflict waits for a decision" in out
    assert "received 1, sent 1, applied 0, held 1, 1 conflict" in se("history", b).stdout
    con = sqlite3.connect(b)
    assert con.execute("SELECT name FROM products").fetchall() == [("Kettle B",)]
    con.close()
    [conflict] = json.loads(se("conflicts", b, "--json").stdout)
    se("resolve", b, str(conflict["id"]), "--take", "remote")  # a's name
    se("sync", b, "--remote", shared)
    report = json.loads(se("sync", a, "--remote", shared, "--json").stdout)
    assert report["held"] == 0 and report["applied"] == report["received"] >= 1  # a holds nothing for review
    for db in (a, b):
        con = sqlite3.connect(db)
        assert con.execute("SELECT name FROM products").fetchall() == [("Kettle A",)]
        con.close()


def test_conflicts_all_shows_the_value_kept_and_who_decided(tmp_path) -> None:
    a, b, shared = _conflicting_pair(tmp_path, review=True)
    se("config", a, "--review", "on")  # a has not seen b's edit yet: it will hold the conflict too
    [conflict] = json.loads(se("conflicts", b, "--json").stdout)
    se("resolve", b, str(conflict["id"]), "--take", "remote")  # b keeps a's value, "Kettle A"
    se("sync", b, "--remote", shared)
    se("sync", a, "--remote", shared)
    a_id = json.loads(se("status", a, "--json").stdout)["device_id"]
    b_id = json.loads(se("status", b, "--json").stdout)["device_id"]
    on_a = se("conflicts", a, "--all").stdout
    host = socket.gethostname()  # both devices took the host's name: the id tells them apart
    assert 'kept "Kettle A"' in on_a and f"decided on device {host} ({b_id}), by a person" in on_a
    assert "-> remote" not in on_a
    on_b = se("conflicts", b, "--all").stdout
    assert 'kept "Kettle A"' in on_b and "decided here, by a person" in on_b
    assert a_id != b_id and names(a) == names(b) == ["Kettle A"]


@pytest.mark.postgres
def test_history_names_the_remote_without_secrets(tmp_path, new_db) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    url = sa.make_url(new_db("postgresql")).set(password="s3cret").render_as_string(hide_password=False)
    se("sync", a, "--remote", url)
    se("sync", a, "--remote", "shared.db", cwd=tmp_path)
    on_file, on_server = json.loads(se("history", a, "--json").stdout)
    assert "s3cret" not in json.dumps(on_server) and "s3cret" not in se("history", a).stdout
    server = sa.make_url(url)
    assert on_server["remote"] == f"postgresql+psycopg://{server.host}:{server.port}/{server.database}"
    assert on_file["remote"] == str(tmp_path / "shared.db")  # absolute, whatever the folder it ran in


def test_log_has_a_header_and_the_values(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products")
    con = sqlite3.connect(a)
    con.execute("UPDATE products SET name = 'Kettle XL' WHERE id = 'p1'")
    con.commit()
    con.close()
    header, *lines = se("log", a).stdout.splitlines()
    assert header.split() == ["ID", "STATE", "OP", "TABLE", "KEY", "VALUES"]
    assert any('"kettle" → "Kettle XL"' in line and '"p1"' in line for line in lines)
    assert any("insert" in line and 'name="kettle"' in line for line in lines)


# -- the remembered remote, tokens, watch, config -------------------------------------------------


def test_the_remote_is_remembered_and_used_by_every_command(tmp_path) -> None:
    shared = tmp_path / "shared.db"
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    out = se("init", a, "--table", "products", "--remote", "shared.db", cwd=tmp_path).stdout
    assert f"remote: {shared}" in out  # made absolute: found again from any folder
    assert "sent 1" in se("sync", a).stdout
    b = make_shop(tmp_path / "b.db")
    se("init", b, "--table", "products")
    missing = se("sync", b, check=False)
    assert missing.returncode == 2 and "no remote: pass --remote REMOTE" in missing.stderr
    se("config", b, "--remote", str(shared))
    assert "applied 1" in se("sync", b).stdout
    assert len(json.loads(se("devices", b, "--json").stdout)) == 2
    assert "sent" in se("watch", b, "--max-syncs", "1").stdout
    assert json.loads(se("verify", b, "--json").stdout)["in_step"] is True
    assert json.loads(se("config", b, "--json").stdout)["remote"] == {"url": str(shared), "user": None}


def test_a_token_is_kept_only_when_asked_and_only_its_owner_can_read_it(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    se("init", a, "--table", "products", "--remote", "https://sync.example.com")
    env = {"SYNCENGINE_CONFIG_DIR": str(tmp_path / "config")}
    assert not (tmp_path / "config" / "tokens.json").exists()
    out = se("config", a, "--token", "s3cret-token", env=env).stdout
    kept = tmp_path / "config" / "tokens.json"
    assert f"token kept in {kept}" in out
    assert json.loads(kept.read_text()) == {f"https://sync.example.com for {Path(a).resolve()}": "s3cret-token"}
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert b"s3cret-token" not in Path(a).read_bytes()  # never in the device database
    refused = se("config", make_shop(tmp_path / "b.db"), "--token", "x", check=False)
    assert refused.returncode in (1, 2)


def test_watch_syncs_when_automatic_sync_is_off_keeps_the_setting_and_stamps_its_lines(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products", "--remote", str(tmp_path / "shared.db"))
    se("config", a, "--auto", "off")
    result = se("watch", a, "--interval", "0.2", "--max-syncs", "2")
    assert "automatic sync is off for the Sync Manager" in result.stderr and "watch syncs anyway" in result.stderr
    lines = result.stdout.splitlines()
    assert len([x for x in lines if "sent" in x]) == 2
    assert all(re.match(r"\d\d:\d\d:\d\d  ", line) for line in lines)
    assert json.loads(se("config", a, "--json").stdout)["interval"] == 60.0  # --interval was for that run


def test_watch_whose_last_sync_failed_exits_1_and_says_it_was_the_last_try(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    se("init", a, "--table", "products", "--remote", "http://127.0.0.1:9")
    failed = se("watch", a, "--token", "t", "--interval", "0.2", "--max-syncs", "2", check=False)
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 1, failed.stderr
    assert sum("sync failed" in line for line in lines) == 2
    assert lines[-1].endswith("that was the last try (--max-syncs)") and "next try" in lines[-2]


def test_an_interval_that_is_not_a_number_of_seconds_is_refused_and_nothing_is_stored(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    se("init", a, "--table", "products")
    for bad in ("nan", "inf", "1e300", "0"):
        refused = se("config", a, "--interval", bad, check=False)
        assert refused.returncode == 2, (bad, refused.stderr)
        assert se("watch", a, "--interval", bad, "--max-syncs", "1", check=False).returncode == 2
    assert json.loads(se("config", a, "--json").stdout)["interval"] == 60.0  # still the default, still readable


def test_config_says_what_automatic_sync_governs(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    se("init", a, "--table", "products")
    out = se("config", a).stdout
    assert "automatic sync in the Sync Manager: on, every 60 s" in out
    assert "'syncengine watch' syncs whenever it runs" in out  # watch does not follow the on/off setting
    se("config", a, "--auto", "off")
    assert "automatic sync in the Sync Manager: off" in se("config", a).stdout
    assert "remote: none remembered" in out


def test_serve_warns_about_plain_http_on_the_network_and_a_log_without_tokens(tmp_path) -> None:
    log = str(tmp_path / "shared.db")
    server = start("serve", "--remote", log, "--host", "0.0.0.0", "--port", "0")
    try:
        assert server.stderr is not None
        new, first, second = server.stderr.readline(), server.stderr.readline(), server.stderr.readline()
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=60)
    assert new.startswith(f"note: there was no shared log at {log}: serving a new, empty one")  # a typo shows
    assert first.startswith("warning: serving on 0.0.0.0 without TLS")
    assert second.startswith("warning: this shared log has no device tokens yet")
    assert f"syncengine token create --remote {log} --user NAME" in second
    token = se("token", "create", "--db", log, "--user", "alice")  # the old name still works
    assert token.stdout.strip() and "for user alice" in token.stderr
    assert "alice" in se("token", "list", "--remote", log).stdout
    again = start("serve", "--remote", log, "--port", "0")  # the log exists now: nothing to note
    try:
        assert again.stderr is not None
        said = again.stderr.readline()  # (uvicorn's first line once it runs)
    finally:
        again.send_signal(signal.SIGINT)
        _, rest = again.communicate(timeout=60)
    assert said and "no shared log" not in said + rest
    fresh = str(tmp_path / "fresh.db")
    se("token", "create", "--remote", fresh, "--user", "bob")  # the README's order: a token first, then serve
    third = start("serve", "--remote", fresh, "--port", "0")
    try:
        assert third.stderr is not None
        said = third.stderr.readline()
    finally:
        third.send_signal(signal.SIGINT)
        _, rest = third.communicate(timeout=60)
    assert said and "no shared log" not in said + rest


@pytest.mark.postgres
def test_a_password_in_the_remote_is_kept_out_of_the_device_database_and_still_used(tmp_path, new_db) -> None:
    url = sa.make_url(new_db("postgresql"))  # trust auth here: the password is carried, not checked
    secret_url = url.set(password="S3cretPW-in-url").render_as_string(hide_password=False)
    a = make_shop(tmp_path / "a.db")
    env = {"SYNCENGINE_CONFIG_DIR": str(tmp_path / "config")}
    done = se("init", a, "--table", "products", "--remote", secret_url, env=env)
    assert "password is kept in" in done.stderr and "S3cretPW" not in done.stdout + done.stderr
    assert b"S3cretPW" not in Path(a).read_bytes()
    assert "S3cretPW" not in se("status", a, "--json", env=env).stdout
    kept = (tmp_path / "config" / "tokens.json").read_text()
    assert "S3cretPW-in-url" in kept and stat.S_IMODE((tmp_path / "config" / "tokens.json").stat().st_mode) == 0o600
    report = json.loads(se("sync", a, "--json", env=env).stdout)  # the remembered remote, its password put back
    assert report["log_created"] is True and report["sent"] == len(names(a))
