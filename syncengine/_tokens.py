"""Device tokens kept for the command line, only when a person asks (``syncengine config DB --token T``).

A token is kept in the system keyring when one is usable (the optional ``keyring``
package with a real backend), otherwise in ``tokens.json`` in the user's config
folder for ``syncengine`` (``$SYNCENGINE_CONFIG_DIR`` overrides it, and then the
keyring is not used), readable by its owner only. A token is kept under the remote's
URL and the device database it was given for (``config DB --token``). Nothing here is ever written to a device database.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

ENV_DIR = "SYNCENGINE_CONFIG_DIR"
KEYRING_SERVICE = "syncengine"


def config_dir() -> Path:
    """The folder where the command line keeps what it remembers for a user (made on first use)."""
    chosen = os.environ.get(ENV_DIR)
    if chosen:
        path = Path(chosen)
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir("syncengine", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def usable_keyring() -> Any:
    """The keyring module when a usable backend exists (and no config folder is forced), else None."""
    if os.environ.get(ENV_DIR):
        return None
    try:
        keyring = importlib.import_module("keyring")
        fail = importlib.import_module("keyring.backends.fail")
    except ImportError:
        return None
    return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring


def _key(remote: str, database: str | None) -> str:
    """What a token is kept under: the remote, and the device database it is for (two users' databases may share a server)."""
    return remote if database is None else f"{remote} for {database}"


def save_token(remote: str, token: str, *, database: str | None = None) -> str:
    """Keep ``token`` for ``remote`` (for ``database`` only, when given); return where: "the system keyring" or the file's path."""
    ring = usable_keyring()
    if ring is not None:
        ring.set_password(KEYRING_SERVICE, _key(remote, database), token)
        return "the system keyring"
    path = config_dir() / "tokens.json"
    tokens = _read(path)
    tokens[_key(remote, database)] = token
    write_private(path, json.dumps(tokens, indent=1))
    return str(path)


def load_token(remote: str, *, database: str | None = None) -> str | None:
    """The token kept for ``remote`` and ``database``, else the one kept for ``remote`` alone (as earlier versions kept it)."""
    ring = usable_keyring()
    keys = [_key(remote, database), remote] if database is not None else [remote]
    if ring is not None:
        for key in keys:
            with contextlib.suppress(Exception):
                found = ring.get_password(KEYRING_SERVICE, key)
                if found:
                    return str(found)
    kept = _read(config_dir() / "tokens.json")
    return next((kept[key] for key in keys if key in kept), None)


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically to a file only its owner can read (0600)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # an older file or the umask may have left it wider
    os.replace(tmp, path)


# -- a database password in a remote URL: kept here too, never in the device database ----------


def _database_url(url: str) -> Any:
    """The SQLAlchemy URL of a shared-log database URL (None for a path, a server, or text that is no URL)."""
    if "://" not in url or url.startswith(("http://", "https://")):
        return None
    import sqlalchemy as sa

    try:
        return sa.make_url(url)
    except Exception:  # not a URL: whoever opens it says so
        return None


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (None when it has none)."""
    parsed = _database_url(url)
    if parsed is None or not parsed.password:
        return url, None
    import sqlalchemy as sa

    bare = sa.URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
    )  # (URL.set(password=None) would leave the password as it is)
    return bare.render_as_string(hide_password=False), str(parsed.password)


def with_kept_password(url: str) -> str:
    """``url`` with the password kept for it (see :func:`split_password`), when it names a user but no password."""
    parsed = _database_url(url)
    if parsed is None or parsed.password or not parsed.username:
        return url
    password = load_token(url)
    return parsed.set(password=password).render_as_string(hide_password=False) if password else url

