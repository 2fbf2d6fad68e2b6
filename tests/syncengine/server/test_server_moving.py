"""Moving a team from a shared-log file to a server on PostgreSQL, through the command line (issue 12, case 3).

Either the log is copied across with ``copy-log`` (same id, same sequence numbers:
nobody sends anything again), or the devices simply point at a new server: then
each notices a log it has not shared with and shares its whole state there. Either
way every write reaches every device.
"""

from __future__ import annotations

import json
import os
import sqlite3

import httpx
import pytest

from tests.syncengine.test_cli import make_shop, names, se

from .servers import new_token


def _sync(db: str, remote: str, token: str | None = None) -> dict:
    env_token = ["--token", token] if token else []
    return json.loads(se("sync", db, "--remote", remote, *env_token, "--json").stdout)


def _write(path: str, sql: str) -> None:
    con = sqlite3.connect(path)
    con.execute(sql)
    con.commit()
    con.close()


@pytest.fixture
def shops(tmp_path) -> tuple[str, str, str]:
    """Two shops in step through a shared-log file; returns (a, b, the file)."""
    log = str(tmp_path / "shared.db")
    a = make_shop(tmp_path / "a.db", ("p1", "kettle"))
    b = make_shop(tmp_path / "b.db")
    se("init", a, "--table", "products", "--name", "a")
    se("init", b, "--table", "products", "--name", "b")
    _sync(a, log)
    _sync(b, log)
    assert names(b) == ["kettle"]
    return a, b, log


@pytest.mark.postgres
def test_copying_the_log_to_a_server_keeps_its_id_and_nobody_sends_again(shops, new_db, start_server) -> None:
    a, b, log = shops
    target = new_db("postgresql")
    copied = json.loads(se("copy-log", log, target, "--json").stdout)
    assert copied["batches"] == 1
    server = start_server(target)
    assert httpx.get(f"{server.url}/health").json()["log_id"] == copied["log_id"]
    token = new_token(target, "default")  # the file's log is the default user's
    _write(a, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    report = _sync(a, server.url, token)
    assert report["log_id"] == copied["log_id"] and report["new_log"] is False and report["sent"] == 1
    report = _sync(b, server.url, token)
    assert report["new_log"] is False and report["received"] == 1  # only what came after, not the history
    assert names(b) == ["kettle", "mug"]


@pytest.mark.postgres
def test_pointing_the_devices_at_a_new_server_shares_every_row_there(shops, new_db, start_server, tmp_path) -> None:
    a, b, _ = shops
    target = new_db("postgresql")
    server = start_server(target)
    token = new_token(target, "shop")
    _write(b, "INSERT INTO products (id, name) VALUES ('p2', 'mug')")
    report = _sync(b, server.url, token)
    # every row b holds, the kettle received from a through the file included; the mug also goes as its insert
    assert report["new_log"] is True and report["state_shared"] == 2
    assert report["sent"] == 3
    report = _sync(a, server.url, token)
    assert report["new_log"] is True
    assert names(a) == ["kettle", "mug"]
    newcomer = make_shop(tmp_path / "c.db")
    se("init", newcomer, "--table", "products", "--name", "c")
    _sync(newcomer, server.url, token)
    assert names(newcomer) == ["kettle", "mug"]


def test_copy_log_refuses_a_target_that_holds_a_log_and_a_device_database(shops, tmp_path) -> None:
    a, b, log = shops
    other = str(tmp_path / "other.db")
    _sync(a, other)
    refused = se("copy-log", log, other, check=False)
    assert refused.returncode == 1 and "already holds a shared log" in refused.stderr
    refused = se("copy-log", log, b, check=False)
    assert refused.returncode == 1 and "is a device database" in refused.stderr
    missing = str(tmp_path / "nothere.db")
    refused = se("copy-log", missing, str(tmp_path / "x.db"), check=False)
    assert refused.returncode == 1 and "there is no shared log" in refused.stderr
    assert not os.path.exists(missing)


def test_reset_identity_after_copying_a_database_on_purpose(shops, tmp_path) -> None:
    a, b, log = shops
    c = str(tmp_path / "c.db")
    with open(a, "rb") as source, open(c, "wb") as copy:
        copy.write(source.read())  # the fastest initial sync there is
    before = json.loads(se("status", c, "--json").stdout)["device_id"]
    changed = json.loads(se("reset-identity", c, "--json").stdout)
    assert changed["previous_device_id"] == before and changed["device_id"] != before
    _write(c, "INSERT INTO products (id, name) VALUES ('p9', 'from the copy')")
    report = _sync(c, log)
    assert report["identity_changed"] is None and report["device_id"] == changed["device_id"]
    _sync(a, log)
    _sync(b, log)
    assert names(a) == names(b) == names(c) == ["kettle", "from the copy"]
    devices = json.loads(se("devices", a, "--remote", log, "--json").stdout)
    assert len(devices) == 3
