"""Where a device keeps its unwrapped data keys: the system keyring when there is one, else an owner-only file.

The keys of one device database are one secret, named by a random id that the
database keeps (setting ``encryption.store``), so a copy of the database finds the
same keys and two databases on one machine never mix theirs. The secret is JSON:
key id → the key in base64. The file fallback is ``keys/<id>.json`` in the
command line's config folder (``$SYNCENGINE_CONFIG_DIR`` overrides it, and then the
system keyring is not used), created readable by its owner only.
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

from .._tokens import KEYRING_SERVICE, config_dir, usable_keyring, write_private
from ..errors import EncryptionError

KEYRING = "the system keyring"


def _name(store: str) -> str:
    return f"data keys {store}"


def _file(store: str) -> Path:
    folder = config_dir() / "keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{store}.json"


def save_keys(store: str, keys: dict[str, bytes]) -> str:
    """Keep ``keys`` as the secret ``store``; return where: :data:`KEYRING` or the file's path."""
    text = json.dumps({k: base64.b64encode(v).decode("ascii") for k, v in sorted(keys.items())})
    ring = usable_keyring()
    if ring is not None:
        try:
            ring.set_password(KEYRING_SERVICE, _name(store), text)
            return KEYRING
        except Exception:  # a keyring that is there but refuses (locked, no session bus): use the file
            pass
    path = _file(store)
    write_private(path, text)
    return str(path)


def load_keys(store: str, where: str | None, join: str) -> dict[str, bytes]:
    """The keys kept as ``store`` (looked for where they were saved first); EncryptionError when gone.

    ``join`` is the command that fetches them again, which the error names.
    """
    text: str | None = None
    ring = usable_keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            text = ring.get_password(KEYRING_SERVICE, _name(store))
    if text is None:
        path = _file(store)
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text(encoding="utf-8")
    if text is None:
        place = where or "the system keyring or the config folder"
        raise EncryptionError(
            f"this device encrypts, but its keys are no longer in {place}; "
            f"run '{join}' with the passphrase to fetch them again"
        )
    damaged = EncryptionError(
        f"this device's keys in {where or 'its key store'} are damaged; "
        f"run '{join}' with the passphrase to fetch them again"
    )
    try:
        data = json.loads(text)
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in data.items()}
    except (ValueError, AttributeError, TypeError) as exc:
        raise damaged from exc
    if not keys or any(len(k) != 16 or len(v) != 32 for k, v in keys.items()):
        raise damaged  # a key is 32 bytes under a 16-hex-digit id; anything else was edited or cut short
    return keys
