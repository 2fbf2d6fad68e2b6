"""verify and repair through the CLI: proving devices are in step, and making them so again (issue 12).

Writes made while a table's triggers are missing are never captured: nothing in the
logs says the devices differ. The digests do.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .test_cli import make_shop, names, se


def _write(path: str, *statements: str) -> None:
    con = sqlite3.connect(path)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()


def _shop(tmp_path: Path, name: str, *rows: tuple[str, str]) -> str:
    path = make_shop(tmp_path / f"{name}.db", *rows)
    se("init", path, "--table", "products", "--name", name)
    return path


def _verify(db: str, log: str) -> tuple[int, dict]:
    result = se("verify", db, "--remote", log, "--json", check=False)
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def _in_step(tmp_path: Path) -> tuple[str, str, str]:
    log = str(tmp_path / "log.db")
    a = _shop(tmp_path, "a", ("p1", "kettle"), ("p2", "mug"))
    b = _shop(tmp_path, "b")
    se("sync", a, "--remote", log)
    se("sync", b, "--remote", log)
    return a, b, log


def test_devices_in_step_verify_with_exit_0(tmp_path) -> None:
    a, b, log = _in_step(tmp_path)
    code, result = _verify(a, log)
    assert code == 0 and result["in_step"] is True
    assert [(d["name"], d["state"]) for d in result["devices"]] == [("b", "same")]
    assert result["differences"] == [] and result["position"] >= 1
    code, result = _verify(b, log)
    assert code == 0 and [d["state"] for d in result["devices"]] == ["same"]


def test_devices_syncing_different_tables_are_in_step_over_the_tables_they_share(tmp_path) -> None:
    log = str(tmp_path / "log.db")
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    _write(a, "CREATE TABLE suppliers (id TEXT PRIMARY KEY, name TEXT)", "INSERT INTO suppliers VALUES ('s1', 'Acme')")
    se("init", a, "--table", "products", "--table", "suppliers", "--name", "a")  # only a syncs its suppliers
    b = _shop(tmp_path, "b")
    for db in (a, b, a):
        se("sync", db, "--remote", log)
    code, result = _verify(a, log)
    assert code == 0 and result["in_step"] is True and result["differences"] == []
    assert [d["state"] for d in result["devices"]] == ["same"]
    _write(b, "DROP TRIGGER syncengine_products_ins", "INSERT INTO products (id, name) VALUES ('p9', 'unseen')")
    se("sync", b, "--remote", log)
    se("sync", a, "--remote", log)
    code, result = _verify(a, log)  # a real difference in a table both sync is still found
    assert code == 3 and [d["table"] for d in result["differences"]] == ["products"]


def test_a_device_that_has_not_synced_since_is_not_comparable(tmp_path) -> None:
    a, _b, log = _in_step(tmp_path)
    _write(a, "INSERT INTO products (id, name) VALUES ('p3', 'teapot')")
    code, result = _verify(a, log)  # a shares p3: b's last state is at an older position
    assert code == 0 and [d["state"] for d in result["devices"]] == ["not comparable"]


def test_a_write_made_without_triggers_is_found_and_repair_and_a_decision_make_everyone_equal(tmp_path) -> None:
    a, b, log = _in_step(tmp_path)
    # another tool rebuilt nothing, but dropped the update trigger and wrote: never captured
    _write(
        a, "DROP TRIGGER syncengine_products_upd", "UPDATE products SET name = 'kettle (uncaptured)' WHERE id = 'p1'"
    )
    code, result = _verify(a, log)
    assert code == 3 and result["in_step"] is False
    assert result["differences"] == [
        {"device_id": result["devices"][0]["device_id"], "table": "products", "keys": ["p1"], "more": 0}
    ]
    assert result["devices"][0]["state"] == "differs"
    text = se("verify", a, "--remote", log, check=False)
    assert text.returncode == 3 and "products" in text.stdout and '"p1"' in text.stdout

    repaired = json.loads(se("repair", a, "--remote", log, "--json").stdout)
    assert repaired["restated"] >= 1 and repaired["sync"]["sent"] >= 1
    report = json.loads(se("sync", b, "--remote", log, "--json").stdout)
    assert report["conflicts"] == 1 and report["held"] == 1  # the restated row waits: it is not applied
    assert report["applied"] == report["received"] - 1
    conflicts = json.loads(se("conflicts", b, "--json").stdout)
    assert [(c["kind"], c["field"], c["local"], c["remote"], c["held"]) for c in conflicts] == [
        ("diverged", "name", "kettle", "kettle (uncaptured)", True)
    ]
    assert names(b) == ["kettle", "mug"]  # held: nothing changes until a person decides
    se("resolve", b, str(conflicts[0]["id"]), "--take", "remote")
    se("sync", b, "--remote", log)
    se("sync", a, "--remote", log)
    assert names(a) == names(b) == ["kettle (uncaptured)", "mug"]
    se("sync", b, "--remote", log)
    code, result = _verify(a, log)
    assert code == 0, result
    code, result = _verify(b, log)
    assert code == 0, result


def test_a_diverged_conflict_is_not_closed_by_a_row_restated_elsewhere_only_by_a_decision(tmp_path) -> None:
    """Moving to a new log restates every row with its versions: that decides nothing (the review's case)."""
    a, b, log = _in_step(tmp_path)
    c = _shop(tmp_path, "c")
    se("sync", c, "--remote", log)
    _write(a, "DROP TRIGGER syncengine_products_upd", "UPDATE products SET name = 'kettle (silent)' WHERE id = 'p1'")
    se("repair", a, "--remote", log)
    for device in (b, c):
        assert _sync_json(device, log)["conflicts"] == 1
    moved = str(tmp_path / "moved.db")
    for _ in range(2):
        for device in (a, b, c):
            se("sync", device, "--remote", moved)
    for device in (b, c):
        [conflict] = json.loads(se("conflicts", device, "--all", "--json").stdout)
        assert (conflict["kind"], conflict["status"], conflict["decided_by"]) == ("diverged", "open", None)
    [conflict] = json.loads(se("conflicts", b, "--json").stdout)
    se("resolve", b, str(conflict["id"]), "--take", "remote")  # a person decides on b: that settles it everywhere
    for _ in range(2):
        for device in (b, a, c):
            se("sync", device, "--remote", moved)
    assert names(a) == names(b) == names(c) == ["kettle (silent)", "mug"]
    for device in (a, c):
        assert json.loads(se("conflicts", device, "--json").stdout) == []
    assert _verify(c, moved)[0] == 0


def _sync_json(db: str, log: str) -> dict:
    return json.loads(se("sync", db, "--remote", log, "--json").stdout)


def test_repair_shares_rows_inserted_while_capture_was_off(tmp_path) -> None:
    a, b, log = _in_step(tmp_path)
    _write(a, "DROP TRIGGER syncengine_products_ins", "INSERT INTO products (id, name) VALUES ('p9', 'never captured')")
    code, result = _verify(a, log)
    assert code == 3 and result["differences"][0]["keys"] == ["p9"]
    repaired = json.loads(se("repair", a, "--remote", log, "--json").stdout)
    assert repaired["captured"] == 1
    se("sync", b, "--remote", log)
    assert names(b) == ["kettle", "mug", "never captured"]
    assert _verify(a, log)[0] == 0


def test_repair_shares_a_row_adopted_without_a_snapshot_that_only_an_edit_made_known(tmp_path) -> None:
    """init --no-snapshot: an edit of an older row reaches a device without that row as versions only."""
    log = str(tmp_path / "log.db")
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    se("init", a, "--table", "products", "--no-snapshot")
    se("init", b, "--table", "products")
    _write(a, "UPDATE products SET name = 'kettle XL' WHERE id = 'p1'")
    se("sync", a, "--remote", log)
    assert _sync_json(b, log)["applied"] == 0 and names(b) == []  # nothing to write it into: said by the count
    code, result = _verify(b, log)
    assert code == 3 and result["differences"][0]["table"] == "products"
    repaired = json.loads(se("repair", a, "--remote", log, "--json").stdout)
    assert repaired["captured"] == 1  # the row itself, never shared as created
    assert _sync_json(b, log)["applied"] >= 1 and names(b) == ["kettle XL"]
    assert _verify(a, log)[0] == 0


def test_repair_of_devices_in_step_changes_nothing(tmp_path) -> None:
    a, b, log = _in_step(tmp_path)
    repaired = json.loads(se("repair", a, "--remote", log, "--json").stdout)
    assert repaired["captured"] == 0 and repaired["restated"] == 0 and repaired["differences"] == []
    assert names(a) == names(b)


def _doctor(db: str, *args: str) -> tuple[int, list[dict]]:
    result = se("doctor", db, *args, "--json", check=False)
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_doctor_finds_nothing_wrong_with_devices_in_step(tmp_path) -> None:
    a, _b, log = _in_step(tmp_path)
    assert _doctor(a, "--remote", log) == (0, [])
    assert "nothing wrong" in se("doctor", a).stdout


def test_doctor_names_each_problem_and_its_fix(tmp_path) -> None:
    a, _b, log = _in_step(tmp_path)
    _write(a, "DROP TRIGGER syncengine_products_upd", "UPDATE products SET name = 'uncaptured' WHERE id = 'p2'")
    code, found = _doctor(a, "--remote", log)
    by_code = {f["code"]: f for f in found}
    assert code == 3 and by_code["differs"]["severity"] == "error"
    assert by_code["differs"]["fix"] == f"syncengine repair {a} --remote {log}"
    assert by_code["schema_changed"]["severity"] == "info"  # opening the device put the trigger back


def test_doctor_notices_a_copied_database_before_its_sync(tmp_path) -> None:
    import shutil

    a, _b, log = _in_step(tmp_path)
    c = str(tmp_path / "c.db")
    shutil.copy(a, c)
    _write(a, "INSERT INTO products (id, name) VALUES ('p3', 'teapot')")
    se("sync", a, "--remote", log)
    code, found = _doctor(c, "--remote", log)
    assert code == 3 and [f["code"] for f in found if f["severity"] == "error"] == ["copied"]
    assert "sync" in found[0]["fix"]


def test_doctor_lists_quarantined_entries_and_held_conflicts(tmp_path) -> None:
    a, b, log = _in_step(tmp_path)
    # b lacks a column a writes: its entries are quarantined on b
    _write(a, "ALTER TABLE products ADD COLUMN colour TEXT", "UPDATE products SET colour = 'red' WHERE id = 'p1'")
    se("sync", a, "--remote", log)
    se("config", b, "--review", "on")
    _write(b, "UPDATE products SET name = 'mug on b' WHERE id = 'p2'")
    _write(a, "UPDATE products SET name = 'mug on a' WHERE id = 'p2'")
    se("sync", a, "--remote", log)
    se("sync", b, "--remote", log)
    code, found = _doctor(b)
    codes = {f["code"]: f for f in found}
    assert code == 3 and {"quarantined", "open_conflicts"} <= set(codes)
    assert "unknown column" in codes["quarantined"]["message"] and "--retry --all" in codes["quarantined"]["fix"]
    assert "edit/edit" in codes["open_conflicts"]["message"]


def test_doctor_says_an_unreachable_server_or_a_missing_log(tmp_path) -> None:
    a, _b, _log = _in_step(tmp_path)
    code, found = _doctor(a, "--remote", "http://127.0.0.1:9/", "--token", "t")
    assert code == 3 and found[0]["code"] == "remote_unreachable"
    code, found = _doctor(a, "--remote", str(tmp_path / "nothere.db"))
    assert code == 3 and found[0]["code"] == "remote_unusable" and "there is no shared log" in found[0]["message"]
    assert found[0]["fix"].startswith(f"syncengine sync {a} --remote {tmp_path / 'nothere.db'}")
    # a database server where nothing listens: unreachable too, not merely unusable
    code, found = _doctor(a, "--remote", "postgresql://postgres@127.0.0.1:9/log")
    assert code == 3 and found[0]["code"] == "remote_unreachable" and "nothing answers" in found[0]["message"]
    assert "when it is back" in found[0]["fix"]
    code, found = _doctor(a, "--remote", "http://127.0.0.1:9/")  # no token at all
    assert code == 3 and found[0]["fix"] == f"syncengine config {a} --token TOKEN"
