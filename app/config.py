"""Where the app keeps its own state: the user's config directory.

Everything the app remembers lives under one folder (``platformdirs``' config dir
for "sync-manager", or ``$SYNC_MANAGER_CONFIG_DIR`` — tests point it at a temporary
folder so a user's real settings are never touched):

``settings.ini``        window layout and small preferences (QSettings, INI format)
``recent.json``         recently opened databases and their remotes
``tokens.json``         server tokens, mode 0600 (unless the system keyring holds them)

Past syncs are not kept here: the engine records them in the device database
(``Device.history``).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "sync-manager"
ENV_DIR = "SYNC_MANAGER_CONFIG_DIR"
MAX_RECENT = 10
KEYRING_SERVICE = "syncengine sync-manager"


def config_dir() -> Path:
    """Return (and create) the folder holding the app's settings."""
    chosen = os.environ.get(ENV_DIR)
    path = Path(chosen) if chosen else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def settings_path() -> Path:
    """Return the INI file QSettings uses."""
    return config_dir() / "settings.ini"


# --- recent workspaces -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workspace:
    """A device database and the remote it syncs with."""

    db: str
    remote: str = ""
    user: str = "default"

    @property
    def title(self) -> str:
        """A short name for menus."""
        return Path(self.db).name if "://" not in self.db else self.db


def recent() -> list[Workspace]:
    """Return recently opened workspaces, most recent first."""
    path = config_dir() / "recent.json"
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        with contextlib.suppress(TypeError, KeyError):
            out.append(Workspace(db=str(item["db"]), remote=str(item.get("remote", "")), user=str(item.get("user", "default"))))
    return out


def remember(workspace: Workspace) -> None:
    """Put ``workspace`` first in the recent list."""
    items = [workspace, *(w for w in recent() if w.db != workspace.db)][:MAX_RECENT]
    _write_private(config_dir() / "recent.json", json.dumps([asdict(w) for w in items], indent=1), private=False)


# --- tokens ------------------------------------------------------------------------


def _keyring() -> Any:
    """Return the keyring module when a usable backend exists, else None."""
    if os.environ.get(ENV_DIR):  # tests (and portable setups) never touch the system keyring
        return None
    try:
        import keyring  # type: ignore[import-not-found,unused-ignore]
        from keyring.backends import fail  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring


def _token_key(remote: str, db: str | None) -> str:
    """What a token is stored under: the remote and the workspace's database (two users' databases may share a server)."""
    return remote if db is None else f"{remote} for {db}"


def save_token(remote: str, token: str, db: str | None = None) -> str:
    """Store the token for ``remote`` (for the database ``db`` only, when given); return where ("keyring" or the file's path)."""
    ring = _keyring()
    if ring is not None:
        ring.set_password(KEYRING_SERVICE, _token_key(remote, db), token)
        return "keyring"
    path = config_dir() / "tokens.json"
    tokens = _read_tokens(path)
    tokens[_token_key(remote, db)] = token
    _write_private(path, json.dumps(tokens), private=True)
    return str(path)


def forget_token(remote: str, db: str) -> None:
    """Remove the token stored for ``remote`` and the database ``db`` (one stored for the remote alone stays)."""
    key = _token_key(remote, db)
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):  # the keyring's own "not found" error: nothing was stored
            ring.delete_password(KEYRING_SERVICE, key)
        return
    path = config_dir() / "tokens.json"
    tokens = _read_tokens(path)
    if tokens.pop(key, None) is not None:
        _write_private(path, json.dumps(tokens), private=True)


def load_token(remote: str, db: str | None = None) -> str | None:
    """Return the stored token for ``remote`` and ``db``, else the one stored for ``remote`` alone, if any."""
    keys = [_token_key(remote, db), remote] if db is not None else [remote]
    ring = _keyring()
    if ring is not None:
        for key in keys:
            found = ring.get_password(KEYRING_SERVICE, key)
            if found:
                return str(found)
    stored = _read_tokens(config_dir() / "tokens.json")
    return next((stored[key] for key in keys if key in stored), None)


def _read_tokens(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_private(path: Path, text: str, *, private: bool) -> None:
    """Write ``text`` atomically; with ``private`` the file is readable by its owner only (0600)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    mode = 0o600 if private else 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    if private:
        os.chmod(tmp, 0o600)  # the umask or an older file may have left it wider
    os.replace(tmp, path)
