"""Encryption as a person uses it: the command line, a real server process, its database on SQLite and PostgreSQL.

The passphrase is derived at the real Argon2id cost here (about 0.3 s a time).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from .servers import new_token, run_cli

SECRET = "Sesame-4b1d-private-recipe"
PASS = "correct horse battery staple"


pytestmark = pytest.mark.usefixtures("key_folder")  # keys in a folder of the test's own (conftest)


def _shop(tmp_path: Path, name: str, url: str, token: str) -> str:
    path = tmp_path / f"{name}.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE recipes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    con.commit()
    con.close()
    run_cli("init", str(path), "--table", "recipes", "--name", name, "--remote", url)
    return str(path)


def _write(db: str, key: str, body: str) -> None:
    con = sqlite3.connect(db)
    con.execute("INSERT INTO recipes VALUES (?, ?)", (key, body))
    con.commit()
    con.close()


def _bodies(db: str) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT body FROM recipes ORDER BY id")]
    finally:
        con.close()


def _server_bytes(log_db: str) -> bytes:
    """What the server's owner can read: every shared-log table dumped, and the SQLite file itself."""
    url = sa.make_url(log_db if "://" in log_db else f"sqlite:///{log_db}")
    engine = sa.create_engine(url)
    out = []
    with engine.connect() as conn:
        for name in sorted(sa.inspect(conn).get_table_names()):
            for row in conn.execute(sa.text(f"SELECT * FROM {name}")):
                out += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row]
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        out.append(Path(str(url.database)).read_bytes())
    return b"\n".join(out)


def test_two_devices_sync_a_secret_through_a_server_that_holds_only_ciphertext(
    tmp_path, log_db, start_server, key_folder
) -> None:
    server = start_server(log_db)
    token = new_token(log_db, "alice")
    env = {"SYNCENGINE_TOKEN": token}
    a, b, c = (_shop(tmp_path, n, server.url, token) for n in ("a", "b", "c"))

    done = run_cli("key", "setup", a, "--json", env={**env, "SYNCENGINE_PASSPHRASE": PASS})
    setup = json.loads(done.stdout)
    assert setup["encrypts"] and setup["log_encrypted"] and setup["key_id"]
    passfile = tmp_path / "pass.txt"
    passfile.write_bytes(PASS.encode() + b"\r\n\n\n")  # an editor's line ending and blank lines: not part of it
    two = tmp_path / "two.txt"
    two.write_text(f"{PASS}\nsecond line\n")
    refused = run_cli("key", "join", b, "--passphrase-file", str(two), env=env, check=False)
    assert refused.returncode == 1 and "holds 2 lines: put the passphrase alone on its first line" in refused.stderr
    wrong = run_cli("key", "join", b, "--passphrase-file", str(tmp_path / "nope.txt"), env=env, check=False)
    assert wrong.returncode == 1 and "nope.txt does not exist" in wrong.stderr
    bad = run_cli("key", "join", b, env={**env, "SYNCENGINE_PASSPHRASE": "not the passphrase"}, check=False)
    assert bad.returncode == 1 and "does not unlock" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    run_cli("key", "join", b, "--passphrase-file", str(passfile), env=env)

    _write(a, "r1", SECRET)
    _write(c, "r2", "written on c, which has no key")
    run_cli("sync", a, env=env)
    run_cli("sync", b, env=env)
    assert _bodies(b) == [SECRET]

    refused = run_cli("sync", c, env=env, check=False)
    assert refused.returncode == 1 and "syncengine key join" in refused.stderr
    assert json.loads(run_cli("status", c, "--json", env=env).stdout)["unshared"] == 1

    status = json.loads(run_cli("key", "status", b, "--json", env=env).stdout)
    assert status == {**status, "encrypts": True, "key_id": setup["key_id"], "log_encrypted": True}

    dump = _server_bytes(log_db)
    assert SECRET.encode() not in dump and b"recipes" not in dump
    for path in (key_folder / "keys").glob("*.json"):
        for key in json.loads(path.read_text()).values():
            assert base64.b64decode(key) not in dump and key.encode() not in dump

    # a new key for new batches; c joins afterwards and reads batches of both keys
    rotated = json.loads(run_cli("key", "rotate", a, "--json", env={**env, "SYNCENGINE_PASSPHRASE": PASS}).stdout)
    assert rotated["key_id"] != setup["key_id"] and rotated["keys"] == 2
    _write(a, "r3", "after the rotation " + SECRET)
    run_cli("sync", a, env=env)
    run_cli("key", "join", c, env={**env, "SYNCENGINE_PASSPHRASE": PASS})
    run_cli("sync", c, env=env)
    assert _bodies(c) == [SECRET, "written on c, which has no key", "after the rotation " + SECRET]
    run_cli("sync", b, env=env)
    run_cli("sync", a, env=env)
    assert _bodies(a) == _bodies(b) == _bodies(c)
    assert b"after the rotation" not in _server_bytes(log_db)


def test_a_new_passphrase_must_be_long_enough_and_is_never_stored(tmp_path, key_folder) -> None:
    log = str(tmp_path / "shared.db")
    con = sqlite3.connect(tmp_path / "x.db")
    con.execute("CREATE TABLE recipes (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    con.commit()
    con.close()
    db = str(tmp_path / "x.db")
    run_cli("init", db, "--table", "recipes", "--remote", log)
    run_cli("sync", db)
    short = run_cli("key", "setup", db, env={"SYNCENGINE_PASSPHRASE": "short"}, check=False)
    assert short.returncode == 1 and "at least 8" in short.stderr
    none = run_cli("key", "setup", db, check=False)  # no terminal, no variable, no file
    assert none.returncode == 1 and "SYNCENGINE_PASSPHRASE" in none.stderr
    weak = run_cli("key", "setup", db, env={"SYNCENGINE_PASSPHRASE": "password1"})
    assert "weak passphrase" in weak.stderr
    assert b"password1" not in Path(db).read_bytes() and b"password1" not in Path(log).read_bytes()
    assert all(b"password1" not in p.read_bytes() for p in key_folder.rglob("*") if p.is_file())
    text = run_cli("key", "status", db).stdout
    assert "this device encrypts with key" in text and "the shared log is encrypted" in text
