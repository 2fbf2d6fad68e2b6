"""End-to-end encryption: the shared log and its server keep only ciphertext and routing data.

A user's data keys are random; the shared log keeps them wrapped under a key derived
from the user's passphrase (:mod:`._keyring`); each device keeps them unwrapped in
the system keyring or an owner-only file (:mod:`._secrets`). Every batch a device
sends is compressed, then sealed with ChaCha20-Poly1305 bound to its device id and
batch id (:mod:`._envelope`); digests published for ``verify`` are sealed too.
:mod:`._session` holds what a device does: set up, join, rotate, change the
passphrase, and find its keys at each sync.
"""

from ._envelope import Keys, Unreadable, is_sealed
from ._keyring import DEFAULT_COST, Keyring
from ._session import (
    KeyStatus,
    adopt,
    change_passphrase,
    held_keys,
    join,
    key_command,
    keys_for_sync,
    problem,
    rotate,
    setup,
    status,
)
from ._strength import strength

__all__ = [
    "DEFAULT_COST",
    "KeyStatus",
    "Keyring",
    "Keys",
    "Unreadable",
    "adopt",
    "change_passphrase",
    "held_keys",
    "is_sealed",
    "join",
    "key_command",
    "keys_for_sync",
    "problem",
    "rotate",
    "setup",
    "status",
    "strength",
]
