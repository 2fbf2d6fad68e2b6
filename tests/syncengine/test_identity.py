"""Devices never drift apart silently: what people do with database files and remotes, through the CLI.

Each test is one of the everyday mistakes that used to leave devices out of step for
good while every sync exited 0 (issue 12): a copied or restored database, a moved,
deleted or mistyped shared log, devices that first synced with different logs.
Writes are made with plain ``sqlite3``, as another program would.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from .test_cli import make_shop, names, se


def _write(path: str, sql: str, *params: object) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, params)
    con.commit()
    con.close()


def _sync(db: str, remote: str) -> dict:
    return json.loads(se("sync", db, "--remote", remote, "--json").stdout)


def _shop(tmp_path: Path, name: str, *rows: tuple[str, str]) -> str:
    path = make_shop(tmp_path / f"{name}.db", *rows)
    se("init", path, "--table", "products", "--name", name)
    return path


def _device_id(db: str) -> str:
    return str(json.loads(se("status", db, "--json").stdout)["device_id"])


def test_a_copied_database_takes_a_new_id_and_every_write_reaches_both(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    laptop = _shop(tmp_path, "laptop", ("p1", "kettle"))
    _sync(laptop, log)
    desktop = str(tmp_path / "desktop.db")
    shutil.copy(laptop, desktop)  # setting up a second machine by copying the file
    _write(laptop, "INSERT INTO products (id, name) VALUES ('p2', 'from laptop')")
    _sync(laptop, log)
    _write(desktop, "INSERT INTO products (id, name) VALUES ('p3', 'from desktop')")
    report = _sync(desktop, log)
    assert report["identity_changed"] and "copied" in report["identity_changed"]
    assert report["device_id"] != _device_id(laptop) and report["device_id"] == _device_id(desktop)
    _sync(laptop, log)
    assert names(laptop) == names(desktop) == ["kettle", "from laptop", "from desktop"]
    devices = json.loads(se("devices", desktop, "--remote", log, "--json").stdout)
    assert _device_id(desktop) in {d["device_id"] for d in devices}
    assert _device_id(laptop) in {d["device_id"] for d in devices}
    # and from now on they are two devices: nothing is detected again
    _write(laptop, "UPDATE products SET name = 'kettle 2' WHERE id = 'p1'")
    assert _sync(laptop, log)["identity_changed"] is None
    assert _sync(desktop, log)["identity_changed"] is None
    assert names(desktop)[0] == "kettle 2"


def test_writes_captured_before_the_copy_are_shared_once_and_later_edits_of_them_are_no_conflict(tmp_path) -> None:
    """Helper-29's case: a write not sent when the file was copied, edited elsewhere after the original sent it."""
    log = str(tmp_path / "log.db")
    laptop = _shop(tmp_path, "laptop", ("p1", "kettle"))
    other = _shop(tmp_path, "other")
    for db in (laptop, other, laptop):
        _sync(db, log)
    se("config", other, "--review", "on")  # a false conflict would wait for a person here
    _write(laptop, "INSERT INTO products (id, name) VALUES ('p2', 'jug')")  # not sent yet
    _write(laptop, "UPDATE products SET name = 'kettle XL' WHERE id = 'p1'")
    desktop = str(tmp_path / "desktop.db")
    shutil.copy(laptop, desktop)  # both files hold the two unsent writes
    _write(desktop, "INSERT INTO products (id, name) VALUES ('p3', 'made on the copy')")  # the copy's own, before its sync
    _sync(laptop, log)  # the original sends them
    _sync(other, log)
    _write(other, "UPDATE products SET name = 'jug, edited after seeing it' WHERE id = 'p2'")
    _write(other, "UPDATE products SET name = 'kettle XXL' WHERE id = 'p1'")
    _sync(other, log)
    report = _sync(desktop, log)
    assert report["identity_changed"] and report["conflicts"] == 0
    for db in (other, laptop, desktop, other, laptop):
        assert _sync(db, log)["conflicts"] == 0, db
    for db in (laptop, desktop, other):
        assert names(db) == ["kettle XXL", "jug, edited after seeing it", "made on the copy"], db
        assert json.loads(se("conflicts", db, "--all", "--json").stdout) == [], db


def test_the_summary_line_says_the_database_took_a_new_id(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    a = _shop(tmp_path, "a", ("p1", "kettle"))
    _sync(a, log)
    b = str(tmp_path / "b.db")
    shutil.copy(a, b)
    _write(a, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    _sync(a, log)
    out = se("sync", b, "--remote", log).stdout
    assert "restored from a backup" in out and "now device" in out
    assert names(b) == ["kettle", "mug"]


def test_a_database_restored_from_a_backup_gets_back_the_writes_it_shared_after_the_backup(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    shop = _shop(tmp_path, "shop", ("p1", "kettle"))
    other = _shop(tmp_path, "other")
    _sync(shop, log)
    backup = str(tmp_path / "backup.db")
    shutil.copy(shop, backup)
    _write(shop, "INSERT INTO products (id, name) VALUES ('p2', 'after the backup')")
    _sync(shop, log)
    shutil.copy(backup, shop)  # the disk died; the backup comes back
    _write(shop, "INSERT INTO products (id, name) VALUES ('p3', 'after the restore')")
    report = _sync(shop, log)
    assert report["identity_changed"]
    assert names(shop) == ["kettle", "after the backup", "after the restore"]
    _sync(other, log)
    assert names(other) == names(shop)


def _decided_conflict(tmp_path: Path, log: str) -> tuple[str, str]:
    """Two shops; a concurrent edit of p1 that a person on b decided (kept b's value); both synced after."""
    a, b = _shop(tmp_path, "a", ("p1", "kettle")), _shop(tmp_path, "b")
    se("config", b, "--review", "on")
    _sync(a, log)
    _sync(b, log)
    _write(a, "UPDATE products SET name = 'from a' WHERE id = 'p1'")
    _write(b, "UPDATE products SET name = 'from b' WHERE id = 'p1'")
    _sync(a, log)
    _sync(b, log)
    se("resolve", b, "1", "--take", "local")
    _sync(b, log)
    _sync(a, log)
    assert names(a) == names(b) == ["from b"]
    return a, b


def _open_conflicts(db: str) -> list[dict]:
    return [c for c in json.loads(se("conflicts", db, "--all", "--json").stdout) if c["status"] == "open"]


def test_a_restored_backup_does_not_bring_back_conflicts_already_decided(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    a, b = _decided_conflict(tmp_path, log)
    backup = str(tmp_path / "b.bak")
    shutil.copy(b, backup)
    _write(b, "INSERT INTO products (id, name) VALUES ('p2', 'after the backup')")
    _sync(b, log)
    shutil.copy(backup, b)  # restored: it holds the decision, but not p2
    report = _sync(b, log)
    assert report["identity_changed"]
    assert report["conflicts"] == 0 and _open_conflicts(b) == []
    assert names(b) == ["from b", "after the backup"]
    _sync(a, log)
    assert names(a) == names(b) and _open_conflicts(a) == []


def test_a_copied_database_does_not_decide_old_conflicts_again(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    a, _ = _decided_conflict(tmp_path, log)
    c = str(tmp_path / "c.db")
    shutil.copy(a, c)  # a second machine set up by copying a's file
    _write(a, "INSERT INTO products (id, name) VALUES ('p2', 'from a again')")
    _sync(a, log)
    report = _sync(c, log)
    assert report["identity_changed"] and report["conflicts"] == 0
    assert names(c) == ["from b", "from a again"] and _open_conflicts(c) == []
    # no conflict recorded twice: the copy holds the same conflict history as the original
    assert len(json.loads(se("conflicts", c, "--all", "--json").stdout)) == len(
        json.loads(se("conflicts", a, "--all", "--json").stdout)
    )


def test_a_log_recreated_or_deleted_is_said_and_every_device_shares_its_state_there(tmp_path) -> None:
    log = tmp_path / "log.db"
    a = _shop(tmp_path, "a", ("p1", "kettle"))
    b = _shop(tmp_path, "b")
    _sync(a, str(log))
    _sync(b, str(log))
    old_id = _sync(b, str(log))["log_id"]
    log.unlink()
    _write(a, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    out = se("sync", a, "--remote", str(log)).stdout
    assert "created a new shared log" in out
    report = _sync(b, str(log))
    assert report["log_id"] != old_id and report["new_log"] is True
    assert names(b) == ["kettle", "mug"]
    # a device that only ever knew the new log gets every row, though p1 was shared to the old one
    c = _shop(tmp_path, "c")
    _sync(c, str(log))
    assert names(c) == ["kettle", "mug"]


def test_a_shared_log_restored_from_a_backup_is_said_and_every_write_reaches_every_device(tmp_path) -> None:
    """The review's case: the log file put back from a backup, then devices write and sync on."""
    log, backup = str(tmp_path / "log.db"), tmp_path / "log.backup"
    a, b = _shop(tmp_path, "a", ("k1", "one")), _shop(tmp_path, "b")
    _sync(a, log)
    _sync(b, log)
    shutil.copy(log, backup)
    _write(a, "INSERT INTO products (id, name) VALUES ('k2', 'two')")
    _sync(a, log)
    _sync(b, log)
    _write(b, "INSERT INTO products (id, name) VALUES ('k3', 'three')")
    _sync(b, log)
    shutil.copy(backup, log)  # k2 and k3 are gone from the log; b's cursor stands past its end
    _write(a, "INSERT INTO products (id, name) VALUES ('k4', 'four')")
    report = _sync(a, log)
    assert report["log_restored"] and "restored from a backup" in report["log_restored"]
    assert report["new_log"] and report["state_shared"] == 3
    _write(b, "INSERT INTO products (id, name) VALUES ('k5', 'five')")
    out = se("sync", b, "--remote", log).stdout
    assert "restored from a backup or rolled back; this device shared the state of 4 rows there again" in out
    assert _sync(a, log)["log_restored"] is None  # said once
    _sync(b, log)
    assert names(a) == names(b) == ["one", "two", "three", "four", "five"]
    assert json.loads(se("verify", a, "--remote", log, "--json").stdout)["in_step"] is True


def test_a_log_restored_from_a_backup_does_not_raise_again_conflicts_decided_automatically(tmp_path) -> None:
    """The old batches are read again from the restored log: a conflict they made then is not a new one."""
    log, backup = str(tmp_path / "log.db"), tmp_path / "log.backup"
    a, b = _shop(tmp_path, "a", ("k1", "one")), _shop(tmp_path, "b")
    _sync(a, log)
    _sync(b, log)
    _write(a, "UPDATE products SET name = 'from a' WHERE id = 'k1'")
    _write(b, "UPDATE products SET name = 'from b' WHERE id = 'k1'")
    for db in (a, b, a):
        _sync(db, log)
    decided = [json.loads(se("conflicts", db, "--all", "--json").stdout) for db in (a, b)]
    assert [len(d) for d in decided] == [1, 1] and names(a) == names(b)
    shutil.copy(log, backup)
    _write(b, "INSERT INTO products (id, name) VALUES ('k2', 'after the backup')")
    _sync(b, log)
    _sync(a, log)
    shutil.copy(backup, log)
    for db in (a, b):  # a person now reviews every conflict: one found again would wait for them
        se("config", db, "--review", "on")
    reports = [_sync(db, log) for db in (a, b, a, b)]
    assert [r["conflicts"] for r in reports] == [0, 0, 0, 0]
    assert all(r["held"] == 0 for r in reports), reports
    for db, before in zip((a, b), decided, strict=True):
        assert json.loads(se("conflicts", db, "--all", "--json").stdout) == before
    assert names(a) == names(b) and sorted(names(a)) == sorted([names(a)[0], "after the backup"])
    assert json.loads(se("verify", a, "--remote", log, "--json").stdout)["in_step"] is True


def test_a_copy_is_told_how_to_take_a_name_of_its_own_and_the_others_see_it(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    laptop = _shop(tmp_path, "laptop", ("p1", "kettle"))
    _sync(laptop, log)
    desktop = str(tmp_path / "desktop.db")
    shutil.copy(laptop, desktop)
    _write(laptop, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    _sync(laptop, log)
    out = se("sync", desktop, "--remote", log).stdout
    assert f"give it a name of its own: syncengine config {desktop} --name NAME" in out
    names_seen = [d["name"] for d in json.loads(se("devices", laptop, "--remote", log, "--json").stdout)]
    assert names_seen.count("laptop") == 2  # the copy kept the name
    se("config", desktop, "--name", "  desktop ", "--json")
    assert json.loads(se("status", desktop, "--json").stdout)["name"] == "desktop"
    assert "name: desktop" in se("config", desktop).stdout
    _sync(desktop, log)
    names_seen = sorted(d["name"] for d in json.loads(se("devices", laptop, "--remote", log, "--json").stdout))
    assert names_seen == ["desktop", "laptop"]


def test_reset_identity_can_name_the_copy_and_refuses_a_bad_name_before_changing_anything(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    till = _shop(tmp_path, "till", ("p1", "kettle"))
    _sync(till, log)
    second = str(tmp_path / "second.db")
    shutil.copy(till, second)
    before = _device_id(second)
    for bad, said in (("   ", "cannot be empty"), ("x" * 257, "at most 256"), ("two\nlines", "one line")):
        refused = se("reset-identity", second, "--name", bad, check=False)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
        assert _device_id(second) == before
    done = json.loads(se("reset-identity", second, "--name", "till 2", "--json").stdout)
    assert done["previous_device_id"] == before and done["device_id"] == _device_id(second) != before
    assert json.loads(se("status", second, "--json").stdout)["name"] == "till 2"
    assert "named 'till 1'" in se("reset-identity", till, "--name", "till 1").stdout
    refused = se("config", second, "--name", "", check=False)
    assert refused.returncode == 1 and "cannot be empty" in refused.stderr
    _sync(second, log)
    _sync(till, log)
    names_seen = sorted(d["name"] for d in json.loads(se("devices", till, "--remote", log, "--json").stdout))
    assert names_seen == ["till", "till 1", "till 2"]  # the first id stays registered under its old name


def test_a_device_that_only_read_after_the_log_was_backed_up_notices_its_restore(tmp_path) -> None:
    """A reader's cursor stands past batch numbers the restored log gives to new batches: it must not skip them."""
    log, backup = str(tmp_path / "log.db"), tmp_path / "log.backup"
    a, b, c = _shop(tmp_path, "a", ("k1", "one")), _shop(tmp_path, "b"), _shop(tmp_path, "c")
    for device in (a, b, c):
        _sync(device, log)
    shutil.copy(log, backup)
    _write(a, "INSERT INTO products (id, name) VALUES ('k2', 'two')")
    _sync(a, log)
    assert _sync(c, log)["received"] == 1  # c has read k2's batch; then a is put away
    shutil.copy(backup, log)
    _write(b, "INSERT INTO products (id, name) VALUES ('k3', 'three')")
    assert _sync(b, log)["log_restored"] is None  # b lost nothing it sent or read
    report = _sync(c, log)  # k3 has the number k2's batch had, which c read
    assert report["log_restored"] and "read up to batch number" in report["log_restored"]
    assert report["new_log"] and report["state_shared"] == 2
    assert names(c) == ["one", "two", "three"]
    assert _sync(c, log)["log_restored"] is None  # said once
    doctor = json.loads(se("doctor", b, "--remote", log, "--json", check=False).stdout)
    assert "log_restored" not in {d["code"] for d in doctor}
    _sync(b, log)
    _sync(a, log)
    assert names(a) == names(b) == names(c) == ["one", "two", "three"]
    assert json.loads(se("verify", c, "--remote", log, "--json").stdout)["in_step"] is True


def test_doctor_says_a_restored_log_before_the_sync_that_heals_it(tmp_path) -> None:
    log, backup = str(tmp_path / "log.db"), tmp_path / "log.backup"
    a, b = _shop(tmp_path, "a", ("k1", "one")), _shop(tmp_path, "b")
    _sync(a, log)
    _sync(b, log)
    shutil.copy(log, backup)
    _write(a, "INSERT INTO products (id, name) VALUES ('k2', 'two')")
    _sync(a, log)
    shutil.copy(backup, log)
    doctor = json.loads(se("doctor", a, "--remote", log, "--json", check=False).stdout)
    found = {d["code"]: d for d in doctor}
    assert "log_restored" in found and "restored from a backup" in found["log_restored"]["message"]
    assert "new_log" not in found


def test_devices_that_first_synced_with_different_logs_converge_on_one(tmp_path) -> None:
    log_a, log_b = str(tmp_path / "logA.db"), str(tmp_path / "logB.db")
    x = _shop(tmp_path, "x", ("p1", "from x"))
    y = _shop(tmp_path, "y", ("p2", "from y"))
    _sync(x, log_a)
    _sync(y, log_b)
    _write(y, "UPDATE products SET name = 'from y, edited' WHERE id = 'p2'")
    _sync(y, log_b)
    report = _sync(y, log_a)
    assert report["new_log"] is True and report["state_shared"] == 1
    assert report["conflicts"] == 0
    _sync(x, log_a)
    assert names(x) == names(y) == ["from x", "from y, edited"]


def test_moving_to_another_log_and_back_loses_nothing_written_in_between(tmp_path) -> None:
    real, typo = str(tmp_path / "shared.db"), str(tmp_path / "shraed.db")
    a = _shop(tmp_path, "a", ("p1", "kettle"))
    b = _shop(tmp_path, "b")
    _sync(a, real)
    _sync(b, real)
    _write(a, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    out = se("sync", a, "--remote", typo).stdout  # a typo: a log that did not exist
    assert "created a new shared log" in out
    report = _sync(a, real)  # the typo noticed
    assert report["new_log"] is True
    _sync(b, real)
    assert names(b) == ["kettle", "mug"]


def test_a_newer_write_is_never_overwritten_by_a_restated_row(tmp_path) -> None:
    log_a, log_b = str(tmp_path / "logA.db"), str(tmp_path / "logB.db")
    x = _shop(tmp_path, "x", ("p1", "old"))
    y = _shop(tmp_path, "y")
    _sync(x, log_a)
    _sync(y, log_a)
    _sync(x, log_b)  # x moves on alone
    _write(y, "UPDATE products SET name = 'newer on y' WHERE id = 'p1'")
    _sync(y, log_a)
    report = _sync(x, log_a)  # back: x restates p1 at its older version, and receives y's edit
    assert report["new_log"] is True and report["conflicts"] == 0
    _sync(y, log_a)
    assert names(x) == names(y) == ["newer on y"]


def test_a_device_database_is_refused_as_a_remote_and_a_log_as_a_device(tmp_path) -> None:
    a = _shop(tmp_path, "a", ("p1", "kettle"))
    b = _shop(tmp_path, "b")
    log = str(tmp_path / "log.db")
    _sync(a, log)
    refused = se("sync", a, "--remote", b, check=False)
    assert refused.returncode == 1 and "is a device database, not a shared log" in refused.stderr
    refused = se("status", log, check=False)
    assert refused.returncode == 1 and "is a shared log, not a device database" in refused.stderr
    refused = se("init", log, "--table", "products", check=False)
    assert refused.returncode == 1 and "is a shared log" in refused.stderr
    assert _sync(a, log)["sent"] == 0  # nothing was half-written to either


def test_devices_never_creates_a_log(tmp_path) -> None:
    a = _shop(tmp_path, "a")
    missing = tmp_path / "nothere.db"
    refused = se("devices", a, "--remote", str(missing), check=False)
    assert refused.returncode == 1 and "there is no shared log" in refused.stderr
    assert not missing.exists()


def test_token_create_refuses_a_device_database(tmp_path) -> None:
    a = _shop(tmp_path, "a")
    result = se("token", "create", "--db", a, "--user", "ann", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "is a device database" in result.stderr
    con = sqlite3.connect(a)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert not any(t.startswith(("sharedlog_", "server_")) for t in tables), tables


def test_log_created_is_said_by_the_first_sync_only(tmp_path) -> None:
    from syncengine import Device, SqlSharedLog

    a = Device.open(_shop(tmp_path, "a", ("p1", "kettle")))
    shared = SqlSharedLog(str(tmp_path / "new-log.db"))
    assert shared.created
    assert a.sync(shared).log_created is True
    assert a.sync(shared).log_created is False
    assert SqlSharedLog(str(tmp_path / "new-log.db")).created is False
    assert a.synced_rows() == 1
    shared.close()
    a.close()


def test_an_application_database_given_as_the_remote_is_refused_untouched(tmp_path) -> None:
    app = str(tmp_path / "app.db")
    con = sqlite3.connect(app)
    con.execute("CREATE TABLE invoices (id TEXT PRIMARY KEY)")
    con.commit()
    con.close()
    before = Path(app).read_bytes()
    shop = _shop(tmp_path, "shop", ("p1", "kettle"))
    done = se("sync", shop, "--remote", app, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "another program's database" in done.stderr and "invoices" in done.stderr
    assert Path(app).read_bytes() == before  # not a table added
    assert _sync(shop, str(tmp_path / "log.db"))["sent"] == 1  # nothing unshared was lost


def test_a_device_that_is_gone_can_be_forgotten_and_comes_back_whole_if_it_syncs_again(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    a, b = _shop(tmp_path, "a", ("k1", "one")), _shop(tmp_path, "b")
    _sync(a, log)
    _sync(b, log)
    backup = tmp_path / "b.backup"
    shutil.copy(b, backup)
    Path(b).unlink()  # b's laptop is lost
    _write(a, "INSERT INTO products (id, name) VALUES ('k2', 'two')")
    _sync(a, log)
    verified = json.loads(se("verify", a, "--remote", log, "--json", check=False).stdout)
    assert [d["state"] for d in verified["devices"]] == ["not comparable"]  # b waits at its old position
    gone = json.loads(se("devices", a, "--remote", log, "--forget", "b", "--json").stdout)
    assert gone["name"] == "b"
    assert [d["name"] for d in json.loads(se("devices", a, "--remote", log, "--json").stdout)] == ["a"]
    assert json.loads(se("verify", a, "--remote", log, "--json", check=False).stdout)["devices"] == []
    own = se("devices", a, "--remote", log, "--forget", "a", check=False)
    assert own.returncode == 1 and "that is this device" in own.stderr
    unknown = se("devices", a, "--remote", log, "--forget", "nobody", check=False)
    assert unknown.returncode == 1 and "lists no device 'nobody'" in unknown.stderr
    shutil.copy(backup, b)  # found again after all: it registers again, and every write reaches both
    _write(b, "INSERT INTO products (id, name) VALUES ('k3', 'three')")
    back = _sync(b, log)
    assert "it was forgotten in the log (devices --forget)" in back["log_restored"]  # not only "restored"
    _sync(a, log)
    assert names(a) == names(b) == ["one", "two", "three"]
    assert sorted(d["name"] for d in json.loads(se("devices", a, "--remote", log, "--json").stdout)) == ["a", "b"]
