"""Shared logs: the protocol, an in-memory double, and opening one from a URL."""

from __future__ import annotations

from ._memory import MemorySharedLog
from ._protocol import SharedLog


def open_shared_log(url: str, *, user: str = "default") -> SharedLog:
    """Open the shared log at ``url``: an SQLAlchemy URL or a plain path (an SQLite file)."""
    from ..errors import ConfigurationError
    from ..store import SqlSharedLog

    if url.startswith(("http://", "https://")):
        raise ConfigurationError("http(s) shared logs need the server client, which is not available yet")
    if url == "memory:":
        return MemorySharedLog(user=user)
    return SqlSharedLog(url, user=user)


__all__ = ["MemorySharedLog", "SharedLog", "open_shared_log"]
