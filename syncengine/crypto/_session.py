"""What a device does about encryption: set it up, join it, rotate, re-wrap, and get its keys for a sync.

The device database keeps the setting ``encryption`` (absent on a device that does
not encrypt): the id of its secret in the key store (see :mod:`._secrets`), where
that is, the current key id, and a copy of the keyring as the log had it (wrapped
keys only: harmless to keep), so that a device that moves to a log without keys
carries its keyring there. The unwrapped keys are never written to the database.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._db import as_argument
from ..errors import EncryptionError, KeyMissing, RemoteError
from ..model import StoredKeyring
from ..remote import KeyBoard, SharedLog, remote_url
from ..store import DeviceStore
from ._envelope import Keys
from ._keyring import Keyring
from ._secrets import load_keys, save_keys

log = logging.getLogger("syncengine")

SETTING = "encryption"


def key_command(store: DeviceStore, action: str) -> str:
    """``syncengine key ACTION`` on this device's database as it was opened, for a person to paste."""
    return f"syncengine key {action} {as_argument(store.engine.url)}"


def _join(store: DeviceStore) -> str:
    return f"run '{key_command(store, 'join')}' with the passphrase (the Sync Manager: Encryption… > Unlock)"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """Whether a device encrypts, with which key, where its keys are, and what the shared log says."""

    encrypts: bool
    """This device seals what it sends."""
    key_id: str | None
    """The key new batches are sealed with (None when the device does not encrypt)."""
    keys: int
    """How many data keys the device holds (older keys read older batches)."""
    stored_in: str | None
    """Where the unwrapped keys are: "the system keyring" or a file's path."""
    log_encrypted: bool | None = None
    """Whether the shared log is encrypted (None: the log was not asked)."""
    log_key_id: str | None = None
    """The log's current key (it differs from ``key_id`` until the device's next sync after a rotation)."""
    encrypted_from: int | None = None
    """The log position from which every batch is encrypted (the batches up to it were shared before)."""
    needs_join: bool = False
    """The log is encrypted and this device cannot read its current key: ``key join`` with the passphrase."""

    def as_json(self) -> dict[str, Any]:
        return {
            "encrypts": self.encrypts,
            "key_id": self.key_id,
            "keys": self.keys,
            "stored_in": self.stored_in,
            "log_encrypted": self.log_encrypted,
            "log_key_id": self.log_key_id,
            "encrypted_from": self.encrypted_from,
            "needs_join": self.needs_join,
        }


def _board(remote: SharedLog) -> KeyBoard:
    if not isinstance(remote, KeyBoard):
        raise EncryptionError(f"the shared log {remote_url(remote)} cannot keep encryption keys")
    return remote


def _local(store: DeviceStore) -> dict[str, Any] | None:
    with store.read() as tx:
        found = tx.setting(SETTING)
    return found if isinstance(found, dict) else None


def _put(board: KeyBoard, ring: Keyring, revision: int, remote: SharedLog, doing: str) -> StoredKeyring:
    body = ring.dumps()
    try:
        return board.put_keyring(body, revision)
    except RemoteError as exc:
        if exc.kind == "changed":
            now = board.keyring()
            if now is not None and now.body == body:  # stored by an attempt whose answer was lost
                return now
            raise EncryptionError(
                f"another device changed the keys of {remote_url(remote)} while this one tried to {doing}; try again"
            ) from exc
        raise


def _adopt(
    store: DeviceStore,
    ring: Keyring,
    keys: dict[str, bytes],
    stored: StoredKeyring | None = None,
    publish: Callable[[], StoredKeyring] | None = None,
) -> KeyStatus:
    """Keep ``keys`` in the key store and the keyring's copy in the database; then ``publish`` it, if given.

    The log is written last, inside the device database's transaction: a device
    database that cannot be written (read-only, busy) fails before the log is
    touched, and a log that refuses leaves the device as it was.
    """
    local = _local(store) or {}
    secret = local.get("store") or uuid.uuid4().hex
    held: dict[str, bytes] = {}
    if local.get("store"):
        try:
            held = load_keys(secret, local.get("where"), key_command(store, "join"))
        except EncryptionError:
            held = {}
    held.update(keys)
    where = save_keys(secret, held)  # (kept also if the database then fails: unused keys harm nothing)
    with store.begin() as tx:
        tx.set_setting(SETTING, {"store": secret, "where": where, "current": ring.current, "keyring": ring.dumps()})
        if publish is not None:
            stored = publish()
    start = stored.encrypted_from if stored is not None else None
    return KeyStatus(True, ring.current, len(held), where, True, ring.current, start)


def setup(store: DeviceStore, remote: SharedLog, passphrase: str, *, cost: dict[str, int] | None = None) -> KeyStatus:
    """Make the user's first data key, wrap it with the passphrase, store it in the log and on this device.

    A device that encrypts already gives a log without keys its keyring instead
    (after checking the passphrase against it): how a log other devices share in
    the clear becomes encrypted with the keys this device has.
    """
    board = _board(remote)
    local = _local(store)
    found = board.keyring()
    if local is not None:
        if found is not None:
            raise EncryptionError(f"this device already encrypts (key {local.get('current')}): nothing to set up")
        ring = Keyring.loads(local["keyring"])
        ring.unwrap_all(passphrase)  # only the person who knows the passphrase encrypts a log
        stored = _put(board, ring, 0, remote, "set up encryption")
        log.warning("the shared log %s is encrypted from now on (key %s)", remote_url(remote), ring.current)
        return _adopt(store, ring, {}, stored)
    if found is not None:
        raise EncryptionError(f"the shared log {remote_url(remote)} is already encrypted: {_join(store)}")
    ring, keys = Keyring.create(passphrase, cost=cost)
    status = _adopt(store, ring, keys, publish=lambda: _put(board, ring, 0, remote, "set up encryption"))
    log.warning("the shared log %s is encrypted from now on (key %s)", remote_url(remote), ring.current)
    return status


def join(store: DeviceStore, remote: SharedLog, passphrase: str) -> KeyStatus:
    """Unwrap the log's keys with the passphrase and keep them on this device."""
    stored = _board(remote).keyring()
    if stored is None:
        raise EncryptionError(
            f"the shared log {remote_url(remote)} is not encrypted: set it up with '{key_command(store, 'setup')}'"
        )
    ring = Keyring.loads(stored.body)
    return _adopt(store, ring, ring.unwrap_all(passphrase), stored)


def rotate(store: DeviceStore, remote: SharedLog, passphrase: str, *, chained: bool = True) -> KeyStatus:
    """A new data key for new batches; the older ones stay (older batches stay readable)."""
    board = _board(remote)
    stored = board.keyring()
    if stored is None:
        raise EncryptionError(f"the shared log {remote_url(remote)} is not encrypted: nothing to rotate")
    ring, keys = Keyring.loads(stored.body).rotated(passphrase, chained=chained)
    revision = stored.revision
    return _adopt(store, ring, keys, publish=lambda: _put(board, ring, revision, remote, "rotate the key"))


def change_passphrase(store: DeviceStore, remote: SharedLog, old: str, new: str) -> KeyStatus:
    """Wrap every key under ``new`` instead of ``old``; nothing in the log is encrypted again."""
    board = _board(remote)
    stored = board.keyring()
    if stored is None:
        raise EncryptionError(f"the shared log {remote_url(remote)} is not encrypted: there is no passphrase")
    ring = Keyring.loads(stored.body).rewrapped(old, new)
    revision = stored.revision
    keys = ring.unwrap_all(new)
    return _adopt(store, ring, keys, publish=lambda: _put(board, ring, revision, remote, "change the passphrase"))


def adopt(store: DeviceStore, keyring_body: str, keys: dict[str, bytes]) -> KeyStatus:
    """Take keys handed over by another device (pairing), with the keyring they belong to."""
    ring = Keyring.loads(keyring_body)
    if ring.current not in keys:
        raise EncryptionError("the keys handed over do not include the current one")
    return _adopt(store, ring, keys)


def status(store: DeviceStore, remote: SharedLog | None = None) -> KeyStatus:
    """This device's encryption as it stands; with ``remote``, the log's too."""
    local = _local(store)
    ring: Keyring | None = None
    start: int | None = None
    log_encrypted: bool | None = None if remote is None else False
    if remote is not None and isinstance(remote, KeyBoard):
        stored = remote.keyring()
        log_encrypted = stored is not None
        if stored is not None:
            ring, start = Keyring.loads(stored.body), stored.encrypted_from
    log_key = ring.current if ring is not None else None
    if local is None:
        return KeyStatus(False, None, 0, None, log_encrypted, log_key, start, needs_join=ring is not None)
    try:
        held = load_keys(local["store"], local.get("where"), key_command(store, "join"))
    except EncryptionError:
        held = {}  # gone or damaged where they were kept: 0 keys says so, and a sync says what to do
    needs_join = ring is not None and ring.current not in ring.follow_chain(held)
    return KeyStatus(
        True, local.get("current"), len(held), local.get("where"), log_encrypted, log_key, start, needs_join
    )


def held_keys(store: DeviceStore) -> tuple[str, dict[str, bytes]] | None:
    """The keyring copy and the keys this device holds (for handing over when pairing); None when it does not encrypt."""
    local = _local(store)
    if local is None:
        return None
    return local["keyring"], load_keys(local["store"], local.get("where"), key_command(store, "join"))


def problem(store: DeviceStore, remote: SharedLog) -> str | None:
    """Why a sync with ``remote`` would be refused for want of a key (None: it would not); changes nothing."""
    found = status(store, remote)
    if not found.needs_join:
        return None
    if not found.encrypts:
        return f"the shared log {remote_url(remote)} is encrypted and this device has no key"
    if not found.keys:
        return f"this device's keys are gone from {found.stored_in} or damaged there"
    return f"the key of the shared log {remote_url(remote)} was replaced and this device cannot take it without the passphrase"


def keys_for_sync(store: DeviceStore, remote: SharedLog) -> Keys | None:
    """The keys a sync with ``remote`` seals and opens with; None when neither the log nor the device encrypts.

    Raises KeyMissing (nothing sent, nothing received) when the log is encrypted and
    this device lacks its current key, and EncryptionError when the device encrypts
    but the log cannot keep keys. A log without keys gets this device's keyring.
    Keys made by a rotation elsewhere are taken through the chain.
    """
    local = _local(store)
    board = remote if isinstance(remote, KeyBoard) else None
    stored = board.keyring() if board is not None else None
    if stored is None:
        if local is None:
            return None
        if board is None:
            raise EncryptionError(
                f"this device encrypts, but the shared log {remote_url(remote)} cannot keep keys: nothing was sent"
            )
        with store.read() as tx:
            me = tx.setting("device_id")
        if any(d.device_id != me and d.last_push_seq is not None for d in remote.devices()):
            raise EncryptionError(
                f"this device encrypts, but the shared log {remote_url(remote)} is not encrypted and other devices "
                "share there in the clear: nothing was sent. To encrypt that log with this device's keys, run "
                f"'{key_command(store, 'setup')}' with the passphrase (then each of the others needs "
                "'syncengine key join' with its own database)"
            )
        try:
            stored = board.put_keyring(local["keyring"], 0)
            log.warning("the shared log %s had no keys: it has this device's now", remote_url(remote))
        except RemoteError as exc:
            if exc.kind != "changed":
                raise
            stored = board.keyring()
            assert stored is not None
    if local is None:
        raise KeyMissing(f"the shared log {remote_url(remote)} is encrypted and this device has no key: {_join(store)}")
    ring = Keyring.loads(stored.body)
    held = load_keys(local["store"], local.get("where"), key_command(store, "join"))
    if ring.current not in held:
        found = ring.follow_chain(held)
        if ring.current not in found:
            raise KeyMissing(
                f"the key of the shared log {remote_url(remote)} was replaced (key {ring.current}) "
                f"and this device cannot take it without the passphrase: {_join(store)}"
            )
        log.info("took the shared log's new key %s", ring.current)
        _adopt(store, ring, found)
        held = found
    elif stored.body != local.get("keyring"):
        _adopt(store, ring, {})  # the log's copy changed (a new passphrase): keep it
    return Keys(held, ring.current, stored.encrypted_from)
