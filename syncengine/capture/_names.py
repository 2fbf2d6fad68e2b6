"""Names of the engine's triggers and functions, within the database's identifier limit."""

from __future__ import annotations

import hashlib


def bounded(name: str, limit: int) -> str:
    """Return ``name``, or when it is longer than ``limit`` a prefix of it with a hash of the whole.

    Cutting a long name short would give two tables sharing a long prefix the same
    trigger (MariaDB) or function (PostgreSQL): one would replace the other's.
    """
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    prefix = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{prefix}_{digest}"
