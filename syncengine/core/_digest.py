"""Digests of a device's synced state, to prove that devices are in step or find where they are not.

A table's digest is :data:`BUCKETS` sums: each row falls in the bucket its key
hashes to and adds the hash of its key and values to that bucket's sum (modulo
2**64). Sums do not depend on the order rows are read in, so two devices holding
the same rows have the same digest whatever their databases; a row that differs
changes one bucket, which narrows the search to the keys that fall in it (a few
hundred at a million rows, one or two in a small table). Values are hashed in
their portable JSON form (:mod:`syncengine.values`, columns sorted; the store
writes it), so an SQLite device and a PostgreSQL device holding the same values
agree.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BUCKETS = 4096
_MASK = 2**64 - 1


def bucket_of(key: str) -> int:
    """The bucket of a row, from its key text."""
    return zlib.crc32(key.encode()) % BUCKETS


def row_hash(key: str, text: bytes) -> int:
    """The hash of a row from its key text and its values as sorted portable JSON (the store writes that)."""
    return int.from_bytes(hashlib.blake2b(key.encode() + b"\0" + text, digest_size=8).digest(), "big")


@dataclass(slots=True)
class TableDigest:
    """One table's digest: its row count and its bucket sums."""

    rows: int = 0
    sums: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, key: str, text: bytes) -> None:
        """Count one row in: its key text, and its values as sorted portable JSON."""
        bucket = bucket_of(key)
        self.sums[bucket] = (self.sums[bucket] + row_hash(key, text)) & _MASK
        self.rows += 1

    def as_json(self) -> dict[str, Any]:
        """The form published in the shared log: the count, and the sums packed, compressed and in base64."""
        packed = zlib.compress(array("Q", self.sums).tobytes(), 6)
        return {"rows": self.rows, "buckets": BUCKETS, "sums": base64.b64encode(packed).decode("ascii")}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TableDigest:
        """Read the published form back; ValueError when it is not one."""
        try:
            if doc["buckets"] != BUCKETS:
                raise ValueError(f"a digest of {doc['buckets']} buckets, not {BUCKETS}")
            sums = array("Q")
            sums.frombytes(zlib.decompress(base64.b64decode(doc["sums"])))
            if len(sums) != BUCKETS:
                raise ValueError("a digest of the wrong size")
            return cls(int(doc["rows"]), list(sums))
        except (KeyError, TypeError, zlib.error, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
            raise ValueError(f"not a digest: {exc}") from exc


def differing(mine: Mapping[str, TableDigest], theirs: Mapping[str, TableDigest]) -> dict[str, list[int]]:
    """The buckets that differ, by table, over the tables both sides sync.

    A digest holds every table its device syncs, empty ones too: a table only one
    side has is one the other does not sync (devices may sync different tables, as
    one shop the suppliers and the others not), so its rows are not expected there.
    """
    out: dict[str, list[int]] = {}
    for table in sorted(set(mine) & set(theirs)):
        a, b = mine[table], theirs[table]
        buckets = [i for i, (x, y) in enumerate(zip(a.sums, b.sums, strict=True)) if x != y]
        if buckets or a.rows != b.rows:
            out[table] = buckets
    return out
