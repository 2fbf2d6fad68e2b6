"""A user's data keys, wrapped: what the shared log keeps so that every device can find them.

The keyring is JSON the log stores without reading. Each data key (32 random bytes,
named by a random 8-byte id) is wrapped with ChaCha20-Poly1305 under a key derived
from the user's passphrase by Argon2id, whose salt and cost are stored beside it; a
key made by a rotation is also wrapped under the key before it (``chained``), so a
device that holds the older key takes the newer one at its next sync without the
passphrase. The id is the wrap's associated data: a wrapped key cannot be passed
off under another id. Nothing here touches the network or a database.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from ..errors import EncryptionError, WrongPassphrase

FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12

# Argon2id at 128 MiB, 3 passes, 4 lanes: about 0.3 s on this project's 2-core test
# machine (bench/bench_crypto.py), and 128 MiB of memory for every guess an attacker makes.
DEFAULT_COST = {"memory_kib": 128 * 1024, "iterations": 3, "lanes": 4}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True, slots=True)
class Kdf:
    """How the passphrase becomes the key that wraps the data keys: Argon2id, its salt and its cost."""

    salt: bytes
    memory_kib: int
    iterations: int
    lanes: int

    @classmethod
    def new(cls, cost: dict[str, int] | None = None) -> Kdf:
        return cls(os.urandom(16), **(cost or DEFAULT_COST))

    def derive(self, passphrase: str) -> bytes:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # loaded only by who encrypts

        return Argon2id(
            salt=self.salt,
            length=KEY_BYTES,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        ).derive(passphrase.encode("utf-8"))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": "argon2id",
            "salt": _b64(self.salt),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """One data key as the log keeps it: wrapped under the passphrase, and maybe under the key before it."""

    id: str
    created_at: float
    wrapped: bytes
    chained: bytes | None = None
    chained_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "wrapped": _b64(self.wrapped),
            "chained": _b64(self.chained) if self.chained is not None else None,
            "chained_by": self.chained_by,
        }


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every data key of a user, wrapped; ``current`` is the one new batches are sealed with."""

    kdf: Kdf
    keys: tuple[WrappedKey, ...]
    current: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.keys)

    def dumps(self) -> str:
        return orjson.dumps(
            {
                "format": FORMAT,
                "kdf": self.kdf.as_json(),
                "keys": [k.as_json() for k in self.keys],
                "current": self.current,
                **self.extra,
            }
        ).decode()

    @classmethod
    def loads(cls, body: str) -> Keyring:
        """Read a keyring's JSON; EncryptionError names what is wrong with it."""
        try:
            data = orjson.loads(body)
            if data.get("format") != FORMAT:
                raise EncryptionError(
                    f"the shared log's keyring has format {data.get('format')!r}, which this version of "
                    "syncengine does not know: upgrade syncengine"
                )
            k = data["kdf"]
            if k["name"] != "argon2id":
                raise EncryptionError(f"the shared log's keyring uses the key derivation {k['name']!r}, unknown here")
            kdf = Kdf(_unb64(k["salt"]), int(k["memory_kib"]), int(k["iterations"]), int(k["lanes"]))
            keys = tuple(
                WrappedKey(
                    str(w["id"]),
                    float(w["created_at"]),
                    _unb64(w["wrapped"]),
                    _unb64(w["chained"]) if w.get("chained") else None,
                    w.get("chained_by"),
                )
                for w in data["keys"]
            )
            current = str(data["current"])
        except EncryptionError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EncryptionError(f"the shared log's keyring is damaged ({type(exc).__name__}: {exc})") from exc
        if current not in {k.id for k in keys}:
            raise EncryptionError("the shared log's keyring is damaged (its current key is not in it)")
        extra = {k: v for k, v in data.items() if k not in ("format", "kdf", "keys", "current")}
        return cls(kdf, keys, current, extra)

    # -- making and changing ------------------------------------------------------------

    @classmethod
    def create(
        cls, passphrase: str, *, cost: dict[str, int] | None = None, now: float | None = None
    ) -> tuple[Keyring, dict[str, bytes]]:
        """A new keyring with one random data key; returns it and the key, unwrapped."""
        kdf = Kdf.new(cost)
        kek = kdf.derive(passphrase)
        key_id, key = _new_key()
        wrapped = WrappedKey(key_id, now if now is not None else time.time(), _wrap(kek, key_id, key))
        return cls(kdf, (wrapped,), key_id), {key_id: key}

    def unwrap_all(self, passphrase: str) -> dict[str, bytes]:
        """Every data key, unwrapped with the passphrase (WrongPassphrase when it does not fit)."""
        kek = self.kdf.derive(passphrase)
        try:
            return {k.id: _unwrap(kek, k.id, k.wrapped) for k in self.keys}
        except _DoesNotOpen:
            raise WrongPassphrase(
                "the passphrase does not unlock the shared log's keys (check it; it is the one "
                "given at 'syncengine key setup' or the last 'syncengine key passphrase')"
            ) from None

    def follow_chain(self, held: dict[str, bytes]) -> dict[str, bytes]:
        """``held`` plus every key wrapped under one it holds (rotations made elsewhere), in order."""
        out = dict(held)
        for k in self.keys:
            if k.id not in out and k.chained is not None and k.chained_by in out:
                try:
                    out[k.id] = _unwrap(out[k.chained_by], k.id, k.chained)
                except _DoesNotOpen:
                    continue  # a damaged link: the key stays missing, and the caller says so
        return out

    def rotated(
        self, passphrase: str, *, chained: bool = True, now: float | None = None
    ) -> tuple[Keyring, dict[str, bytes]]:
        """A new current key (wrapped under the passphrase, and under the current key when ``chained``)."""
        keys = self.unwrap_all(passphrase)
        kek = self.kdf.derive(passphrase)
        key_id, key = _new_key()
        previous = keys[self.current]
        new = WrappedKey(
            key_id,
            now if now is not None else time.time(),
            _wrap(kek, key_id, key),
            _wrap(previous, key_id, key) if chained else None,
            self.current if chained else None,
        )
        return replace(self, keys=(*self.keys, new), current=key_id), {**keys, key_id: key}

    def rewrapped(self, old: str, new: str, *, cost: dict[str, int] | None = None) -> Keyring:
        """The same keys wrapped under a new passphrase (with a new salt); the log's batches are untouched."""
        keys = self.unwrap_all(old)
        kdf = Kdf.new(
            cost or {"memory_kib": self.kdf.memory_kib, "iterations": self.kdf.iterations, "lanes": self.kdf.lanes}
        )
        kek = kdf.derive(new)
        wrapped = tuple(replace(k, wrapped=_wrap(kek, k.id, keys[k.id])) for k in self.keys)
        return replace(self, kdf=kdf, keys=wrapped)


class _DoesNotOpen(Exception):
    """A wrapped key that the key given does not unwrap (a wrong passphrase, or a damaged link)."""


def _new_key() -> tuple[str, bytes]:
    return os.urandom(8).hex(), os.urandom(KEY_BYTES)


def _aad(key_id: str) -> bytes:
    return b"syncengine key\x00" + key_id.encode("ascii")


def _wrap(kek: bytes, key_id: str, key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # loaded only by who encrypts

    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(kek).encrypt(nonce, key, _aad(key_id))


def _unwrap(kek: bytes, key_id: str, wrapped: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    try:
        return ChaCha20Poly1305(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(key_id))
    except InvalidTag:
        raise _DoesNotOpen(key_id) from None
