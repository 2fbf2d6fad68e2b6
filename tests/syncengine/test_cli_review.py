"""What a black-box review of the command line found, each through the real command in a real process.

Every mistake gets one sentence on stderr in our words (no traceback, no driver or
library text), and nothing is written or created by a command that refuses.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ..conftest import MYSQL, POSTGRES, _need_server
from .server.servers import free_port
from .test_cli import make_shop, se
from .test_cli_errors import one_sentence, synced_shop

LIBRARY_TEXT = ("sqlalchemy", "Can't load plugin", "Traceback", "psycopg", "pymysql", "1049", "FATAL", "uvicorn")


def in_our_words(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    line = one_sentence(result, *expected)
    for text in LIBRARY_TEXT:
        assert text not in result.stderr, (text, result.stderr)
    return line


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- A: remotes that are no remote -------------------------------------------------------------


def test_sync_with_a_mistyped_remote_url_is_refused_in_our_words(tmp_path) -> None:
    db = synced_shop(tmp_path)
    before = files(tmp_path)
    result = se("sync", db, "--remote", "htp://x", check=False, cwd=tmp_path)
    in_our_words(result, "the remote htp://x is not a path, a database URL or a server URL", "http(s)://")
    assert files(tmp_path) == before


def test_token_create_given_a_server_url_says_it_takes_the_shared_log_database(tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = se("token", "create", "--remote", url, "--user", "x", check=False, cwd=tmp_path)
    in_our_words(result, "works on the shared log's database", f"not on a server's URL like {url}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("remote", ["htp://x", "http://", "ftp://host/log.db"])
@pytest.mark.parametrize("command", ["init", "config"])
def test_init_and_config_refuse_a_remote_that_is_no_remote_and_store_nothing(tmp_path, command, remote) -> None:
    db = make_shop(tmp_path / "shop.db", ("p1", "kettle"))
    if command == "config":
        se("init", db, "--table", "products")
    before = files(tmp_path)
    args = ["init", db, "--table", "products"] if command == "init" else ["config", db]
    result = se(*args, "--remote", remote, check=False, cwd=tmp_path)
    in_our_words(result, f"the remote {remote} is not")
    assert files(tmp_path) == before
    if command == "config":
        assert json.loads(se("config", db, "--json").stdout)["remote"] is None


def test_a_good_remote_is_still_remembered(tmp_path) -> None:
    db = synced_shop(tmp_path)
    for remote in ("shared.db", "http://127.0.0.1:8765", "postgresql://u@db.example/log"):
        se("config", db, "--remote", remote, cwd=tmp_path)
        assert json.loads(se("config", db, "--json").stdout)["remote"]["url"].endswith(remote)


# -- B: a server database that does not exist --------------------------------------------------


def _no_such_database(base: str) -> str:
    return sa.make_url(base).set(database="nosuch_xyz").render_as_string(hide_password=False)


def _databases(base: str) -> set[str]:
    engine = sa.create_engine(base)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
            return set(conn.execute(sa.text("SHOW DATABASES")).scalars())
    finally:
        engine.dispose()


@pytest.mark.parametrize(("what", "port"), [("postgresql", 5432), ("mariadb", 3306)], ids=["postgresql", "mariadb"])
@pytest.mark.parametrize("role", ["device", "shared-log"])
def test_a_server_database_that_does_not_exist_is_named_in_our_words(tmp_path, what, port, role) -> None:
    base = POSTGRES if what == "postgresql" else MYSQL
    _need_server(base, what)
    assert "nosuch_xyz" not in _databases(base)
    url = _no_such_database(base)
    server = sa.make_url(base)
    db = synced_shop(tmp_path)
    before = files(tmp_path)
    args = ["status", url] if role == "device" else ["sync", db, "--remote", url]
    result = se(*args, check=False, cwd=tmp_path)
    in_our_words(
        result,
        f"the database nosuch_xyz does not exist on {server.host}:{server.port or port}: create it, or check the URL",
    )
    assert files(tmp_path) == before
    assert "nosuch_xyz" not in _databases(base)


@pytest.mark.parametrize(("what", "port"), [("postgresql", 5432), ("mariadb", 3306)], ids=["postgresql", "mariadb"])
def test_a_user_the_database_server_refuses_is_named_in_our_words(tmp_path, what, port) -> None:
    base = POSTGRES if what == "postgresql" else MYSQL
    _need_server(base, what)
    server = sa.make_url(base)
    url = server.set(username="nobody_xyz", password="s3cr3t_pw").render_as_string(hide_password=False)
    result = se("status", url, check=False, cwd=tmp_path)
    in_our_words(
        result,
        f"{server.host}:{server.port or port} refused the user nobody_xyz (no such user, or a wrong password): "
        "check the URL",
    )
    assert "s3cr3t_pw" not in result.stderr  # the password is never shown


# -- C: serve on a port another program holds --------------------------------------------------


def test_serve_on_a_port_in_use_is_one_sentence_and_creates_no_log(tmp_path) -> None:
    (tmp_path / "srv").mkdir()
    log = tmp_path / "srv" / "log.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = se("serve", "--remote", str(log), "--port", str(port), check=False)
    in_our_words(result, f"port {port} on 127.0.0.1 is already in use (another server?): choose another with --port")
    assert "Errno" not in result.stderr
    assert not log.exists()


# -- D: the message that names how to make a token ---------------------------------------------


def test_a_server_remote_without_a_token_names_the_current_flag(tmp_path) -> None:
    db = synced_shop(tmp_path)
    env = {"SYNCENGINE_TOKEN": "", "SYNCENGINE_CONFIG_DIR": str(tmp_path / "config")}
    result = se("sync", db, "--remote", f"http://127.0.0.1:{free_port()}", check=False, env=env)
    line = in_our_words(result, "syncengine token create --remote")
    assert "--db" not in line


# -- E: copy-log into a log that is in use -----------------------------------------------------


def _empty_device(tmp_path: Path, name: str) -> str:
    db = make_shop(tmp_path / name)  # no rows: registering shares nothing
    se("init", db, "--table", "products")
    return db


@pytest.mark.parametrize("use", ["devices-and-tokens", "tokens"])
def test_copy_log_refuses_a_target_in_use_even_without_batches(tmp_path, use) -> None:
    source = synced_shop(tmp_path, "a.db")
    se("sync", source, "--remote", str(tmp_path / "shared.db"))
    (tmp_path / "srv").mkdir()
    target = tmp_path / "srv" / "log.db"
    if use == "devices-and-tokens":
        for name in ("c.db", "d.db"):
            se("sync", _empty_device(tmp_path, name), "--remote", str(target))
    se("token", "create", "--remote", str(target), "--user", "alice")
    con = sqlite3.connect(target)
    if use == "devices-and-tokens":
        assert con.execute("SELECT count(*) FROM sharedlog_batches").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM sharedlog_devices").fetchone() == (2,)
    con.close()
    before = target.read_bytes()
    result = se("copy-log", str(tmp_path / "shared.db"), str(target), check=False)
    held = "2 registered devices, 1 token" if use == "devices-and-tokens" else "1 token"
    in_our_words(result, f"{target} already holds a shared log in use ({held}): copy into a new or empty database")
    assert target.read_bytes() == before


def test_copy_log_into_a_new_file_still_works(tmp_path) -> None:
    source = synced_shop(tmp_path, "a.db")
    se("sync", source, "--remote", str(tmp_path / "shared.db"))
    copied = json.loads(se("copy-log", str(tmp_path / "shared.db"), str(tmp_path / "new.db"), "--json").stdout)
    assert copied["batches"] == 1


# -- F: token list and revoke on a path with nothing there -------------------------------------


@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["revoke", "1"]], ids=["list", "json", "revoke"])
def test_token_list_and_revoke_of_a_mistyped_path_create_nothing(tmp_path, args) -> None:
    result = se("token", args[0], "--remote", "nothere-log.db", *args[1:], check=False, cwd=tmp_path)
    in_our_words(result, "there is no shared log at nothere-log.db")
    assert list(tmp_path.iterdir()) == []


def test_token_list_of_a_log_without_tokens_writes_nothing_to_it(tmp_path) -> None:
    db = synced_shop(tmp_path)
    shared = tmp_path / "shared.db"
    se("sync", db, "--remote", str(shared))
    before = shared.read_bytes()
    assert se("token", "list", "--remote", str(shared)).stdout.strip() == "no tokens"
    revoke = se("token", "revoke", "--remote", str(shared), "7", check=False)
    in_our_words(revoke, "there is no token with id 7")
    assert shared.read_bytes() == before


# -- G: a reader that stops reading ------------------------------------------------------------


def test_a_closed_stdout_pipe_ends_quietly(tmp_path) -> None:
    db = make_shop(tmp_path / "shop.db", *((f"p{i}", "x" * 40) for i in range(5000)))
    se("init", db, "--table", "products")  # 5,000 snapshot entries: far more than a pipe holds
    command = subprocess.Popen(
        [sys.executable, "-m", "syncengine", "log", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert command.stdout is not None and command.stderr is not None
    assert "ID" in command.stdout.readline()  # as `| head -1` reads it
    command.stdout.close()
    err = command.stderr.read()
    command.stderr.close()
    assert command.wait(timeout=60) in (0, 141)
    assert err == ""


# -- H: verify says when nothing was compared; doctor counts in words ------------------------


def test_verify_says_so_when_no_other_device_could_be_compared(tmp_path) -> None:
    shared = str(tmp_path / "shared.db")
    a = synced_shop(tmp_path, "a.db", ("p1", "kettle"))
    se("sync", a, "--remote", shared)
    alone = se("verify", a, "--remote", shared)
    assert alone.stdout.splitlines()[0].endswith(": no other device uses this shared log")
    b = synced_shop(tmp_path, "b.db", ("p2", "mug"))
    se("sync", b, "--remote", shared)  # b is now ahead of a: a's published state is at another position
    apart = se("verify", b, "--remote", shared)
    first = apart.stdout.splitlines()[0]
    assert first.startswith("nothing compared at position ") and "the other device is not at this position" in first
    assert "in step" not in first and "same as" not in first
    se("sync", a, "--remote", shared)  # now at the same position
    together = se("verify", b, "--remote", shared)
    assert "in step at position" in together.stdout and "same as 1 of 1 device compared" in together.stdout


def test_doctor_counts_one_quarantined_entry_in_the_singular(tmp_path) -> None:
    a = make_shop(tmp_path / "a.db")
    b = tmp_path / "b.db"
    con = sqlite3.connect(b)
    con.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT NOT NULL)")  # no price column
    con.close()
    shared = str(tmp_path / "shared.db")
    se("init", a, "--table", "products")
    se("init", str(b), "--table", "products")
    con = sqlite3.connect(a)
    con.execute("INSERT INTO products VALUES ('p1', 'kettle', 2.5)")  # a price b has no column for
    con.commit()
    con.close()
    se("sync", a, "--remote", shared)
    se("sync", str(b), "--remote", shared)
    found = json.loads(se("doctor", str(b), "--json", check=False).stdout)
    [quarantined] = [d for d in found if d["code"] == "quarantined"]
    assert quarantined["message"].startswith("1 received entry could not be applied")
