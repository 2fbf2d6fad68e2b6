"""End-to-end encryption through the public API: two devices, one passphrase, a log that holds no secret.

Argon2id runs at a low cost here (``CHEAP``) so the tests stay quick; the command
line's tests (test_cli_encryption.py) run it at the real cost.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncengine import (
    Device,
    EncryptionError,
    KeyMissing,
    MemorySharedLog,
    RemoteError,
    SqlSharedLog,
    SyncOptions,
    WrongPassphrase,
    events,
)

from .helpers import add, every_dialect, products, rows, write

CHEAP = {"memory_kib": 1024, "iterations": 1, "lanes": 1}
SECRET = "Sesame-7f3a-private-recipe"
PASS = "correct horse battery staple"


pytestmark = pytest.mark.usefixtures("key_folder")  # keys in a folder of the test's own (conftest)


def _log_bytes(log: SqlSharedLog) -> bytes:
    """Everything the shared log's tables hold, as the server's owner could read it."""
    out = []
    with log.engine.connect() as conn:
        for name in sorted(sa.inspect(conn).get_table_names()):
            if name.startswith("sharedlog_"):
                for row in conn.execute(sa.text(f"SELECT * FROM {name}")):
                    for value in row:
                        out.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    return b"\n".join(out)


def _both(a: Device, b: Device, shared: Any) -> None:
    """``a`` encrypts the log; ``b`` joins with the same passphrase."""
    a.setup_encryption(shared, PASS, cost=CHEAP)
    b.join_encryption(shared, PASS)


def _held_keys(folder: Path) -> list[bytes]:
    """Every unwrapped key the devices keep in their key files."""
    found = []
    for path in (folder / "keys").glob("*.json"):
        found += [base64.b64decode(v) for v in json.loads(path.read_text()).values()]
    return found


@every_dialect
def test_two_devices_share_a_secret_through_a_log_that_cannot_read_it(devices, shared, key_folder) -> None:
    a, b = devices("a"), devices("b")
    status = a.setup_encryption(shared, PASS, cost=CHEAP)
    assert status.encrypts and status.log_encrypted and status.key_id
    assert b.join_encryption(shared, PASS).key_id == status.key_id
    add(a, ("p1", SECRET, 7))
    add(b, ("p2", "from b " + SECRET, 8))
    for device in (a, b, a):
        device.sync(shared)
    assert rows(a) == rows(b) and {r["name"] for r in rows(a)} == {SECRET, "from b " + SECRET}

    dump = _log_bytes(shared)
    assert SECRET.encode() not in dump
    assert b"products" not in dump  # the table name is inside the ciphertext too
    keys = _held_keys(key_folder)
    assert keys and all(k not in dump and base64.b64encode(k) not in dump for k in keys)
    if shared.engine.url.get_backend_name() == "sqlite":
        raw = Path(str(shared.engine.url.database)).read_bytes()
        assert SECRET.encode() not in raw and b"products\x00" not in raw


def test_a_users_encryption_starts_after_its_own_batches_not_the_other_users(a, b, tmp_path) -> None:
    """Users of one log share its numbering: a new user has nothing unencrypted, and learns nothing of the others."""
    alice, bob = (SqlSharedLog(str(tmp_path / "log.db"), user=u) for u in ("alice", "bob"))
    try:
        for i in range(3):
            add(a, (f"p{i}", "x", i))
            a.sync(alice)
        assert b.setup_encryption(bob, PASS, cost=CHEAP).encrypted_from == 0  # nothing of bob's was shared
        add(b, ("q1", "bob's", 1))
        b.sync(bob)
        assert a.setup_encryption(alice, PASS, cost=CHEAP).encrypted_from == 3  # alice's three, plain before
    finally:
        alice.close()
        bob.close()


def test_the_keys_live_in_an_owner_only_file_and_never_in_the_database(a, shared, key_folder) -> None:
    status = a.setup_encryption(shared, PASS, cost=CHEAP)
    path = Path(str(status.stored_in))
    assert path.parent.parent == key_folder
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = _held_keys(key_folder)[0]
    database = Path(str(a.engine.url.database)).read_bytes()
    assert key not in database and base64.b64encode(key) not in database


def test_a_wrong_passphrase_is_refused_and_leaves_the_device_as_it_was(a, b, shared) -> None:
    a.setup_encryption(shared, PASS, cost=CHEAP)
    with pytest.raises(WrongPassphrase, match="does not unlock"):
        b.join_encryption(shared, "correct horse battery stapler")
    assert not b.encryption_status().encrypts


def test_a_device_without_the_key_is_refused_and_keeps_its_writes(a, b, shared) -> None:
    add(b, ("p1", "written before the log was encrypted", 1))
    a.setup_encryption(shared, PASS, cost=CHEAP)
    with pytest.raises(KeyMissing, match="syncengine key join"):
        b.sync(shared)
    assert b.status().unshared == 1  # nothing was sent, nothing lost
    with shared.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM sharedlog_batches")).scalar() == 0
    b.join_encryption(shared, PASS)
    assert b.sync(shared).sent == 1
    a.sync(shared)
    assert rows(a) == rows(b) and len(rows(a)) == 1


def test_the_log_refuses_a_plain_batch_once_encrypted(a, shared) -> None:
    a.setup_encryption(shared, PASS, cost=CHEAP)
    shared.register_device("intruder", "old client")
    with pytest.raises(RemoteError) as refused:
        shared.push("intruder", "b1", b'[{"plain": true}]', 1)
    assert refused.value.kind == "encrypted"


def test_a_tampered_batch_is_quarantined_never_applied(a, b, shared) -> None:
    _both(a, b, shared)
    add(a, ("p1", "genuine", 1))
    a.sync(shared)
    with shared.engine.begin() as conn:
        payload = bytearray(conn.execute(sa.text("SELECT payload FROM sharedlog_batches")).scalar_one())
        payload[-5] ^= 0x01
        conn.execute(sa.text("UPDATE sharedlog_batches SET payload = :p"), {"p": bytes(payload)})
    report = b.sync(shared)
    assert report.quarantined == 1 and report.applied == 0
    assert rows(b) == []
    (held,) = b.quarantined()
    assert "integrity check" in held.reason


def test_a_batch_replayed_under_another_name_is_quarantined(a, b, shared) -> None:
    _both(a, b, shared)
    add(a, ("p1", "sent once", 1))
    a.sync(shared)
    b.sync(shared)
    with shared.engine.connect() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM sharedlog_batches")).scalar_one()
    shared.register_device("replayer", "a copy")
    shared.push("replayer", "again", payload, 1)  # sealed, so the log takes it; its name does not fit
    write(b, products.update().values(name="changed on b"))
    report = b.sync(shared)
    assert report.quarantined == 1 and rows(b)[0]["name"] == "changed on b"


def test_rotation_keeps_old_batches_readable_and_reaches_every_device(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    first = a.setup_encryption(shared, PASS, cost=CHEAP).key_id
    b.join_encryption(shared, PASS)
    add(a, ("p1", "before the rotation", 1))
    a.sync(shared)
    second = a.rotate_key(shared, PASS)
    assert second.key_id != first and second.keys == 2
    add(a, ("p2", "after the rotation", 2))
    a.sync(shared)
    b.sync(shared)  # b held only the first key: it takes the second through the chain
    assert b.encryption_status().key_id == second.key_id
    assert len(rows(b)) == 2
    c = devices("c")  # joins afterwards: reads the batches of both keys
    c.join_encryption(shared, PASS)
    c.sync(shared)
    assert rows(c) == rows(a)


def test_an_unchained_rotation_needs_the_passphrase_on_every_other_device(a, b, shared) -> None:
    _both(a, b, shared)
    a.rotate_key(shared, PASS, chained=False)
    add(b, ("p1", "waiting on b", 1))
    with pytest.raises(KeyMissing, match="replaced"):
        b.sync(shared)
    b.join_encryption(shared, PASS)
    b.sync(shared)
    a.sync(shared)
    assert len(rows(a)) == 1


def test_a_new_passphrase_rewraps_the_keys_and_the_devices_go_on(devices, shared) -> None:
    a, b = devices("a"), devices("b")
    key = a.setup_encryption(shared, PASS, cost=CHEAP).key_id
    b.join_encryption(shared, PASS)
    add(a, ("p1", "old batch", 1))
    a.sync(shared)
    assert a.change_passphrase(shared, PASS, "a brand new passphrase").key_id == key
    add(a, ("p2", "new batch", 2))
    a.sync(shared)
    b.sync(shared)  # b needed nothing new
    assert len(rows(b)) == 2
    c = devices("c")
    with pytest.raises(WrongPassphrase):
        c.join_encryption(shared, PASS)
    c.join_encryption(shared, "a brand new passphrase")
    c.sync(shared)
    assert rows(c) == rows(a)


def test_extra_info_travels_inside_the_ciphertext(a, b, shared) -> None:
    _both(a, b, shared)
    add(a, ("p1", "x", 1))
    a.sync(shared, options=SyncOptions(extra_info={"shop": "north-" + SECRET}))
    seen: list[Any] = []
    b.sync(shared, options=SyncOptions(on_event=lambda e: seen.append(e.batch.extra) if isinstance(e, events.Received) else None))
    assert seen == [{"shop": "north-" + SECRET}]
    assert SECRET.encode() not in _log_bytes(shared)


def test_verify_compares_sealed_digests(a, b, shared) -> None:
    _both(a, b, shared)
    add(a, ("p1", "x", 1))
    a.sync(shared)
    b.sync(shared)
    a.sync(shared)
    assert a.verify(shared).in_step and b.verify(shared).in_step
    with shared.engine.connect() as conn:
        digests = [r[0] for r in conn.execute(sa.text("SELECT digest FROM sharedlog_states"))]
    assert len(digests) == 2 and all("products" not in d and "sealed" in d for d in digests)


def test_lost_keys_are_named_and_joining_again_restores_them(a, shared) -> None:
    status = a.setup_encryption(shared, PASS, cost=CHEAP)
    Path(str(status.stored_in)).unlink()
    add(a, ("p1", "kept", 1))
    with pytest.raises(EncryptionError, match="key join"):
        a.sync(shared)
    a.join_encryption(shared, PASS)
    assert a.sync(shared).sent == 1


def test_setup_twice_is_refused_with_the_way_forward(a, b, shared) -> None:
    a.setup_encryption(shared, PASS, cost=CHEAP)
    with pytest.raises(EncryptionError, match="already encrypted"):
        b.setup_encryption(shared, PASS, cost=CHEAP)


def test_an_encrypting_device_that_meets_a_new_log_brings_its_keys_and_seals_its_state(a, shared, tmp_path) -> None:
    a.setup_encryption(shared, PASS, cost=CHEAP)
    add(a, ("p1", SECRET, 1))
    a.sync(shared)
    moved = SqlSharedLog(str(tmp_path / "moved.db"))
    report = a.sync(moved)
    assert report.new_log and report.sent == 1
    assert moved.keyring() is not None
    assert SECRET.encode() not in _log_bytes(moved)
    b = Device.init(str(tmp_path / "b2.db"), metadata=products.metadata, name="b2")
    b.join_encryption(moved, PASS)
    b.sync(moved)
    assert rows(b) == rows(a)
    b.close()
    moved.close()


def test_the_memory_log_is_encrypted_alike() -> None:
    log = MemorySharedLog()
    assert log.keyring() is None
    stored = log.put_keyring("{}", 0)
    assert stored.revision == 1
    with pytest.raises(RemoteError) as changed:
        log.put_keyring("{}", 0)
    assert changed.value.kind == "changed"


def test_doctor_names_a_missing_key_and_its_fix_without_changing_anything(a, b, shared) -> None:
    a.setup_encryption(shared, PASS, cost=CHEAP)
    found = {d.code: d for d in b.doctor(shared)}
    assert found["no_key"].severity == "error" and "key join" in str(found["no_key"].fix)
    assert not b.encryption_status().encrypts
    b.join_encryption(shared, PASS)
    assert "no_key" not in {d.code for d in b.doctor(shared)}


def test_retrying_a_batch_that_did_not_open_keeps_its_reason(a, b, shared) -> None:
    _both(a, b, shared)
    add(a, ("p1", "genuine", 1))
    a.sync(shared)
    with shared.engine.begin() as conn:
        conn.execute(sa.text("UPDATE sharedlog_batches SET payload = :p"), {"p": b"\x00SE1" + bytes(40)})
    b.sync(shared)
    (before,) = b.quarantined()
    b.retry_quarantined()
    (after,) = b.quarantined()
    assert after.reason == before.reason and "key" in after.reason and rows(b) == []


def test_status_says_when_the_keys_are_gone(a, shared) -> None:
    status = a.setup_encryption(shared, PASS, cost=CHEAP)
    Path(str(status.stored_in)).unlink()
    after = a.encryption_status(shared)
    assert after.encrypts and after.keys == 0 and after.log_encrypted


def test_a_device_database_that_cannot_be_written_leaves_the_log_unencrypted(devices, shared) -> None:
    import sqlite3

    from syncengine import DatabaseError
    from syncengine._db import set_lock_wait

    devices("a")
    b = devices("b")
    set_lock_wait(0.2)  # for databases opened from now on
    a = devices.reopen("a")
    holder = sqlite3.connect(str(a.engine.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program holds the device database's write lock
    try:
        with pytest.raises(DatabaseError):
            a.setup_encryption(shared, PASS, cost=CHEAP)
    finally:
        set_lock_wait(30)
        holder.execute("ROLLBACK")
        holder.close()
    assert shared.keyring() is None
    add(b, ("p1", "still in the clear", 1))
    assert b.sync(shared).sent == 1  # nobody was locked out


def test_a_log_that_refuses_the_keys_leaves_the_device_as_it_was(a, shared, monkeypatch) -> None:
    def refuse(body: str, revision: int) -> Any:
        raise RemoteError("the shared log is down", kind="unavailable")

    monkeypatch.setattr(shared, "put_keyring", refuse)
    with pytest.raises(RemoteError):
        a.setup_encryption(shared, PASS, cost=CHEAP)
    assert not a.encryption_status().encrypts


def test_an_encrypting_device_does_not_lock_others_out_of_a_log_they_share_in_the_clear(devices, shared, tmp_path) -> None:
    a, b = devices("a"), devices("b")
    other = SqlSharedLog(str(tmp_path / "other.db"))
    a.setup_encryption(other, PASS, cost=CHEAP)
    add(b, ("p1", "in the clear", 1))
    b.sync(shared)
    with pytest.raises(EncryptionError, match="other devices share there in the clear"):
        a.sync(shared)
    assert shared.keyring() is None and b.sync(shared).received == 0
    # on purpose, with the passphrase: the log takes a's keys, and b needs them
    a.setup_encryption(shared, PASS, cost=CHEAP)
    assert shared.keyring() is not None
    with pytest.raises(KeyMissing):
        b.sync(shared)
    other.close()


def test_status_says_a_device_must_join_after_an_unchained_rotation(a, b, shared) -> None:
    _both(a, b, shared)
    a.rotate_key(shared, PASS, chained=False)
    assert b.encryption_status(shared).needs_join
    assert not a.encryption_status(shared).needs_join


def test_a_damaged_key_file_is_a_sentence_not_a_library_error(a, shared) -> None:
    status = a.setup_encryption(shared, PASS, cost=CHEAP)
    path = Path(str(status.stored_in))
    path.write_text(json.dumps({str(status.key_id): base64.b64encode(b"short").decode()}))
    add(a, ("p1", "x", 1))
    with pytest.raises(EncryptionError, match="damaged"):
        a.sync(shared)
    assert a.encryption_status().keys == 0


def test_a_new_passphrase_on_a_busy_device_database_leaves_the_log_as_it_was(devices, shared) -> None:
    import sqlite3

    from syncengine import DatabaseError
    from syncengine._db import set_lock_wait

    devices("a").setup_encryption(shared, PASS, cost=CHEAP)
    before = shared.keyring()
    set_lock_wait(0.2)  # for databases opened from now on
    a = devices.reopen("a")
    holder = sqlite3.connect(str(a.engine.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseError):
            a.change_passphrase(shared, PASS, "another long passphrase")
    finally:
        set_lock_wait(30)
        holder.execute("ROLLBACK")
        holder.close()
    assert shared.keyring() == before
