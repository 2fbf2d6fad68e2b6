"""Shared logs: the protocol, an in-memory double, the HTTP client, and opening one from a URL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._memory import MemorySharedLog
from ._protocol import KeyBoard, SharedLog, StateBoard

if TYPE_CHECKING:
    from ._http import AsyncHttpSharedLog, HttpSharedLog

TOKEN_ENV = "SYNCENGINE_TOKEN"


def open_shared_log(url: str, *, user: str = "default", token: str | None = None, create: bool = True) -> SharedLog:
    """Open the shared log at ``url``: an http(s) server, an SQLAlchemy URL, or a plain path (an SQLite file).

    A server needs a device token, from ``token`` or the ``SYNCENGINE_TOKEN``
    environment variable (ConfigurationError without one); the token decides the
    user there, so ``user`` only applies to shared-log databases. A shared-log
    database that does not exist yet is created (its ``created`` is then true)
    unless ``create`` is false, when opening it fails with RemoteError.
    """
    from ..store import SqlSharedLog

    if url.startswith(("http://", "https://")):
        from ._http import HttpSharedLog

        return HttpSharedLog(url, token or os.environ.get(TOKEN_ENV))
    if url == "memory:":
        return MemorySharedLog(user=user)
    return SqlSharedLog(url, user=user, create=create)


def remote_url(remote: SharedLog) -> str:
    """Where ``remote`` is, as people read it and the history keeps it: its URL without a password or token.

    An SQLite file is named by its absolute path. A shared log without a ``url``
    attribute is named by its ``repr``.
    """
    url = getattr(remote, "url", None)
    if not isinstance(url, str):
        return repr(remote)
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:  # user:password@host: keep the host
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def __getattr__(name: str) -> Any:
    # the HTTP clients load httpx and stamina, which local use does not need
    if name in ("HttpSharedLog", "AsyncHttpSharedLog"):
        from . import _http

        return getattr(_http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsyncHttpSharedLog",
    "HttpSharedLog",
    "KeyBoard",
    "MemorySharedLog",
    "SharedLog",
    "StateBoard",
    "TOKEN_ENV",
    "open_shared_log",
    "remote_url",
]
