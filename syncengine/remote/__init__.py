"""Shared logs: the protocol, an in-memory double, the HTTP client, and opening one from a URL."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from ._memory import MemorySharedLog
from ._protocol import DeviceRoll, KeyBoard, SharedLog, StateBoard

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

    check_remote(url)
    if _is_server(url):
        from ._http import HttpSharedLog

        scheme, rest = url.split("://", 1)
        url = f"{scheme.lower()}://{rest}"
        return HttpSharedLog(url, token or os.environ.get(TOKEN_ENV))
    if url == "memory:":
        return MemorySharedLog(user=user)
    from .._tokens import with_kept_password

    return SqlSharedLog(with_kept_password(url), user=user, create=create)


def _is_server(url: str) -> bool:
    return url.split("://", 1)[0].lower() in ("http", "https") and "://" in url


def check_remote(url: str) -> None:
    """Refuse, with a sentence, a remote that is not a path, a database URL syncengine knows, or an http(s) URL.

    Only the form is checked (nothing is opened or created), so a mistyped remote
    is refused before it is remembered or used.
    """
    from ..errors import ConfigurationError

    if not url.strip():
        raise ConfigurationError("the remote is empty: give a shared log's path or URL")
    if "://" not in url and _ADDRESS.fullmatch(url) and not os.path.exists(url):
        raise ConfigurationError(
            f"the remote {url} looks like a server's address, not a file: write it http://{url} "
            f"(or ./{url} for a shared-log file of that name)"
        )
    if url == "memory:" or "://" not in url:
        return
    if _is_server(url):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
        except ValueError:
            parts = None
        if parts is None or not parts.hostname:
            raise ConfigurationError(
                f"the remote {url} is not a server URL that works: write it as http(s)://HOST[:PORT]"
            )
        return
    from .._db import to_url

    try:
        to_url(url)
    except ConfigurationError:
        scheme = url.split("://", 1)[0]
        raise ConfigurationError(
            f"the remote {_without_password(url)} is not a path, a database URL or a server URL "
            f"({scheme}:// is none of them): give a path to an SQLite file, a URL that starts with sqlite:///, "
            "postgresql://, mysql:// or mariadb://, or a server's http(s):// URL"
        ) from None


_ADDRESS = re.compile(r"(localhost|[\w-]+(\.[\w-]+)+|\[[0-9a-fA-F:]+\]):\d{1,5}(/\S*)?")
"""HOST:PORT, what a person writes for a server when the scheme is forgotten."""


def _without_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    if "@" in host and ":" in host.split("@", 1)[0]:
        host = host.split("@", 1)[0].split(":", 1)[0] + ":***@" + host.split("@", 1)[1]
    return f"{scheme}://{host}{sep}{path}"


def remote_url(remote: SharedLog) -> str:
    """Where ``remote`` is, as people read it and the history keeps it: its URL without credentials (user, password) or token.

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
    "DeviceRoll",
    "HttpSharedLog",
    "KeyBoard",
    "MemorySharedLog",
    "SharedLog",
    "StateBoard",
    "TOKEN_ENV",
    "check_remote",
    "open_shared_log",
    "remote_url",
]
