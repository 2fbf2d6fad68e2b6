"""Sealing what leaves the device: a batch (or a digest) compressed, then encrypted and bound to its name.

A sealed payload is ``SEALED`` + the key id (8 bytes) + a random 12-byte nonce +
ChaCha20-Poly1305 ciphertext. Inside, compressed with zlib: the batch's ``extra``
(JSON, its length first) and the serialized entries. The associated data names
what was sealed (a batch: the device id and the batch id; a digest: the device id
and the log position), so a batch cannot be replayed under another name: opening
it under any other fails like a tampered one.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..model import SEALED

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

_NONCE = 12
_HEAD = len(SEALED) + 8 + _NONCE
# level 1: most of the size saving for a fraction of the time of the default level
_LEVEL = 1


class Unreadable(Exception):
    """A sealed payload that cannot be opened; the message says why (for the quarantine)."""


def is_sealed(payload: bytes) -> bool:
    return payload[: len(SEALED)] == SEALED


@dataclass(frozen=True)
class Keys:
    """The data keys a sync holds, unwrapped; ``current`` seals, any of them opens."""

    keys: Mapping[str, bytes]
    current: str
    encrypted_from: int = 0
    """Batches after this log position must be sealed; a plain one there is not trusted."""

    def _cipher(self, key_id: str) -> ChaCha20Poly1305:
        # imported here: a device that does not encrypt never loads the library (about 8 MB)
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

        return ChaCha20Poly1305(self.keys[key_id])

    def _seal(self, plain: bytes, aad: bytes) -> bytes:
        head = SEALED + bytes.fromhex(self.current)
        nonce = os.urandom(_NONCE)
        return head + nonce + self._cipher(self.current).encrypt(nonce, plain, head + aad)

    def _open(self, sealed: bytes, aad: bytes, what: str) -> bytes:
        if len(sealed) < _HEAD + 16:
            raise Unreadable(f"{what} is too short to be encrypted data")
        key_id = sealed[len(SEALED) : len(SEALED) + 8].hex()
        if key_id not in self.keys:
            raise Unreadable(f"{what} is encrypted with key {key_id}, which this device does not hold")
        head, nonce = sealed[: len(SEALED) + 8], sealed[len(SEALED) + 8 : _HEAD]
        from cryptography.exceptions import InvalidTag

        try:
            return self._cipher(key_id).decrypt(nonce, sealed[_HEAD:], head + aad)
        except InvalidTag:
            raise Unreadable(
                f"{what} failed its integrity check (altered in the shared log, or sent under another name)"
            ) from None

    # -- batches ----------------------------------------------------------------------

    def seal_batch(self, payload: bytes, extra: Mapping[str, Any] | None, device_id: str, batch_id: str) -> bytes:
        """The batch's payload and ``extra``, sealed for ``device_id``'s batch ``batch_id``."""
        info = orjson.dumps(dict(extra)) if extra else b""
        plain = zlib.compress(struct.pack(">I", len(info)) + info + payload, _LEVEL)
        return self._seal(plain, _batch_aad(device_id, batch_id))

    def open_batch(
        self, payload: bytes, device_id: str, batch_id: str, seq: int
    ) -> tuple[bytes, dict[str, Any] | None]:
        """The payload and ``extra`` of a batch as it was sealed; Unreadable says why it cannot be trusted.

        A batch that is not sealed is returned as it is when the log was not yet
        encrypted at its position (``seq``), and refused after.
        """
        what = f"batch {batch_id} from device {device_id}"
        if not is_sealed(payload):
            if seq > self.encrypted_from:
                raise Unreadable(
                    f"{what} is not encrypted, though the shared log is encrypted since position {self.encrypted_from}"
                )
            return payload, None
        plain = self._open(payload, _batch_aad(device_id, batch_id), what)
        try:
            body = zlib.decompress(plain)
            (size,) = struct.unpack(">I", body[:4])
            extra = orjson.loads(body[4 : 4 + size]) if size else None
        except (zlib.error, struct.error, orjson.JSONDecodeError) as exc:
            raise Unreadable(f"{what} decrypted but is not a batch ({exc})") from None
        return body[4 + size :], extra

    # -- digests ----------------------------------------------------------------------

    def seal_state(self, digest: Mapping[str, Any], device_id: str, position: int) -> dict[str, Any]:
        """A digest as the log keeps it for an encrypted device: one sealed string."""
        plain = zlib.compress(orjson.dumps(dict(digest)), _LEVEL)
        return {"sealed": self._seal(plain, _state_aad(device_id, position)).hex()}

    def open_state(self, published: Mapping[str, Any], device_id: str, position: int) -> dict[str, Any]:
        """A published digest opened (Unreadable when it is not sealed or not readable)."""
        sealed = published.get("sealed")
        if not isinstance(sealed, str):
            raise Unreadable(f"the state device {device_id} published is not encrypted")
        try:
            data = bytes.fromhex(sealed)
        except ValueError:
            raise Unreadable(f"the state device {device_id} published is damaged") from None
        plain = self._open(data, _state_aad(device_id, position), f"the state device {device_id} published")
        out = orjson.loads(zlib.decompress(plain))
        return out if isinstance(out, dict) else {}


def _batch_aad(device_id: str, batch_id: str) -> bytes:
    return b"batch\x00" + device_id.encode() + b"\x00" + batch_id.encode()


def _state_aad(device_id: str, position: int) -> bytes:
    return b"state\x00" + device_id.encode() + b"\x00" + str(position).encode()
