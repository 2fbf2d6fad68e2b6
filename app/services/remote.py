"""The remote as the app sees it: whether it answers, opening it without creating it, and a quick refusal check.

:class:`Reachability` is the state every view shows. :func:`open_remote` opens a
workspace's shared log and creates it only when asked (``create``); a missing
one, or its missing folder, is a ``RemoteError`` of kind ``no_log``.
:func:`refused` tries one TCP connection to a server, so a refused or
unroutable server reads as offline at once rather than after the engine's retries.
"""

from __future__ import annotations

import enum
import socket
import urllib.parse
from pathlib import Path

from syncengine import RemoteError, SharedLog, open_shared_log

from .. import config


class Reachability(enum.StrEnum):
    """What the app knows about the remote."""

    UNKNOWN = "unknown"
    REACHABLE = "reachable"
    OFFLINE = "offline"
    ERROR = "error"
    NONE = "none"  # no remote configured
    CHECKING = "checking"  # the first check is under way
    MISSING = "missing"  # no shared log where the workspace says (not created without asking)


def is_offline(exc: BaseException) -> bool:
    """Return whether ``exc`` means "the remote cannot be reached now; try later"."""
    return isinstance(exc, RemoteError) and bool(getattr(exc, "retryable", False))


def is_missing_log(exc: BaseException) -> bool:
    """Return whether ``exc`` says there is no shared log where the remote points."""
    return isinstance(exc, RemoteError) and getattr(exc, "kind", "") == "no_log"


def open_remote(workspace: config.Workspace, token: str | None, *, create: bool) -> SharedLog:
    """Open the workspace's shared log (worker thread); ``create`` makes a missing one, and its folder."""
    url = workspace.remote
    if "://" not in url and url != "memory:":
        folder = Path(url).expanduser().parent
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():  # the engine calls this a configuration error; to a person it is the same missing log
            raise RemoteError(f"there is no shared log at {url} (the folder {folder} does not exist)", kind="no_log")
    return open_shared_log(url, user=workspace.user, token=token or config.load_token(url, workspace.db), create=create)


def refused(url: str, timeout: float = 3.0) -> str:
    """Return why a server at ``url`` cannot be connected to now ("" when it accepts connections, or is not a server).

    One TCP connection, no retries: a refused or unroutable server is said to be
    offline at once, where the engine's retry loop would try for several seconds.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return ""
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return f"cannot connect to {parts.hostname}:{parts.port or ''}".rstrip(":") + f" ({reason.lower()})"
