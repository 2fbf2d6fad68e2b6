"""Tokens kept with ``config DB --token``: each device database keeps its own, even on one server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .servers import new_token, run_cli


def _shop(tmp_path: Path, name: str, url: str) -> str:
    path = tmp_path / f"{name}.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    con.execute("INSERT INTO notes VALUES (?, ?)", (f"{name}-1", f"written by {name}"))
    con.commit()
    con.close()
    run_cli("init", str(path), "--table", "notes", "--name", name, "--remote", url)
    return str(path)


def test_two_users_databases_on_one_machine_keep_their_own_tokens_for_one_server(tmp_path, start_server) -> None:
    log = str(tmp_path / "log.db")
    alice_token, bob_token = new_token(log, "alice"), new_token(log, "bob")
    server = start_server(log)
    alice, bob = _shop(tmp_path, "alice", server.url), _shop(tmp_path, "bob", server.url)
    run_cli("config", alice, "--token", alice_token)
    run_cli("sync", alice)
    run_cli("config", bob, "--token", bob_token)  # the same server: alice's token must stay hers
    run_cli("sync", bob)
    assert "sent 0" in run_cli("sync", alice).stdout  # still alice's log (bob's token would be refused here)
    assert [d["name"] for d in json.loads(run_cli("devices", alice, "--json").stdout)] == ["alice"]
    assert [d["name"] for d in json.loads(run_cli("devices", bob, "--json").stdout)] == ["bob"]


def test_a_device_that_is_gone_is_forgotten_through_the_server_for_its_own_user_only(tmp_path, start_server) -> None:
    log = str(tmp_path / "log.db")
    alice_token, bob_token = new_token(log, "alice"), new_token(log, "bob")
    server = start_server(log)
    laptop, desktop = _shop(tmp_path, "laptop", server.url), _shop(tmp_path, "desktop", server.url)
    bobs = _shop(tmp_path, "bobs", server.url)
    for db, token in ((laptop, alice_token), (desktop, alice_token), (bobs, bob_token)):
        run_cli("config", db, "--token", token)
        run_cli("sync", db)
    bob_id = json.loads(run_cli("status", bobs, "--json").stdout)["device_id"]
    refused = run_cli("devices", laptop, "--forget", bob_id, check=False)  # another user's device: not in alice's log
    assert refused.returncode == 1 and "lists no device" in refused.stderr
    gone = json.loads(run_cli("devices", laptop, "--forget", "desktop", "--json").stdout)
    assert gone["name"] == "desktop"
    assert [d["name"] for d in json.loads(run_cli("devices", laptop, "--json").stdout)] == ["laptop"]
    assert [d["name"] for d in json.loads(run_cli("devices", bobs, "--json").stdout)] == ["bobs"]


def test_mistakes_with_tokens_and_server_addresses_get_a_sentence_and_keep_secrets(tmp_path, start_server) -> None:
    log = str(tmp_path / "log.db")
    made = run_cli("token", "create", "--remote", log, "--user", "alice")  # a path with no log yet: made, and said
    assert "note: there was no shared log at" in made.stderr
    token = made.stdout.strip().splitlines()[-1]
    pasted = run_cli("token", "revoke", "--remote", log, token, check=False)  # the token where its number goes
    assert pasted.returncode == 2 and token not in pasted.stderr + pasted.stdout
    assert "not the token itself" in pasted.stderr
    server = start_server(log)
    shop = _shop(tmp_path, "shop", str(tmp_path / "other.db"))
    address = server.url.removeprefix("http://")
    no_scheme = run_cli("sync", shop, "--remote", address, "--token", token, check=False)
    assert no_scheme.returncode != 0 and f"write it http://{address}" in no_scheme.stderr
    assert not Path(address).exists() and not (tmp_path / address).exists()  # no file named after the address
    with_path = run_cli("sync", shop, "--remote", f"{server.url}/v1", "--token", token, check=False)
    assert with_path.returncode == 1 and "give the server's own address" in with_path.stderr
    assert "Traceback" not in with_path.stderr
    assert run_cli("sync", shop, "--remote", server.url, "--token", token).returncode == 0
