"""Accounts: every request is scoped to its token's user; revoked tokens are refused (through either runner)."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from syncengine.errors import RemoteError

from .servers import new_token, run_cli


def test_one_user_can_never_reach_another_users_log_or_devices(log_db, start_server, http_log) -> None:
    server = start_server(log_db)
    alice = http_log(server.url, new_token(log_db, "alice"))
    bob = http_log(server.url, new_token(log_db, "bob"))
    alice.register_device("alice-laptop", "laptop")
    alice.register_device("alice-phone", "phone")
    alice.push("alice-laptop", "a1", b'{"secret": 1}', 1)

    bob.register_device("bob-pc", "pc")
    assert [d.device_id for d in bob.devices()] == ["bob-pc"]
    assert bob.pull("bob-pc", 0, 100).batches == []
    with pytest.raises(RemoteError, match="404"):
        bob.pull("alice-laptop", 0, 100)  # reading through alice's device
    with pytest.raises(RemoteError, match="404"):
        bob.push("alice-laptop", "b1", b"{}", 1)  # writing into alice's log
    with pytest.raises(RemoteError, match="409"):
        bob.register_device("alice-phone", "mine now")  # taking over alice's device
    bob.mark_pulled("alice-phone", 99)  # silently a no-op for another user's device

    phone = {d.device_id: d for d in alice.devices()}["alice-phone"]
    assert phone.name == "phone" and phone.last_pull_seq == 0
    assert [b.batch_id for b in alice.pull("alice-phone", 0, 100).batches] == ["a1"]
    engine = sa.create_engine(log_db if "://" in log_db else f"sqlite:///{log_db}")
    with engine.connect() as conn:
        owners = dict(conn.execute(sa.text("SELECT batch_id, user_id FROM sharedlog_batches")).all())
    engine.dispose()
    assert owners == {"a1": "alice"}


def test_a_revoked_token_is_refused_and_listed_as_revoked(start_server, new_db, http_log) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    keep, drop = new_token(db, "alice"), new_token(db, "alice")
    kept, dropped = http_log(server.url, keep), http_log(server.url, drop)
    dropped.register_device("d1", "one")

    listed = json.loads(run_cli("token", "list", "--db", db, "--json").stdout)
    assert [(t["user"], t["revoked_at"]) for t in listed] == [("alice", None), ("alice", None)]
    assert keep not in json.dumps(listed) and drop not in json.dumps(listed)
    run_cli("token", "revoke", "--db", db, str(listed[1]["id"]))

    with pytest.raises(RemoteError, match="refused the token"):
        dropped.devices()
    answer = httpx.get(f"{server.url}/v1/devices", headers={"Authorization": f"Bearer {drop}"})
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]
    assert [d.device_id for d in kept.devices()] == ["d1"]  # the user's other token still works
    after = json.loads(run_cli("token", "list", "--db", db, "--json").stdout)
    assert after[0]["revoked_at"] is None and after[1]["revoked_at"] is not None
    unknown = run_cli("token", "revoke", "--db", db, "999", check=False)
    assert unknown.returncode == 1 and "no token with id 999" in unknown.stderr
    bad_user = run_cli("token", "create", "--db", db, "--user", "no spaces", check=False)
    assert bad_user.returncode == 1 and "user name" in bad_user.stderr


def test_a_device_synced_with_another_users_token_is_told_how_to_go_on(log_db, start_server, tmp_path) -> None:
    from tests.syncengine.test_cli import make_shop, names, se

    server = start_server(log_db)
    alice, bob = new_token(log_db, "alice"), new_token(log_db, "bob")
    shop = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    se("init", shop, "--table", "products")
    se("sync", shop, "--remote", server.url, "--token", alice)
    refused = se("sync", shop, "--remote", server.url, "--token", bob, check=False)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "is registered to another user of the shared log" in line and "409" not in line
    assert f"syncengine reset-identity {shop}" in line
    se("reset-identity", shop)
    report = json.loads(se("sync", shop, "--remote", server.url, "--token", bob, "--json").stdout)
    assert report["sent"] >= 1 and report["state_shared"] == 1  # bob's log gets the shop's rows
    other = make_shop(tmp_path / "other.db")
    se("init", other, "--table", "products")
    se("sync", other, "--remote", server.url, "--token", bob)
    assert names(other) == ["kettle"]
