"""syncengine: offline-first sync for SQL databases.

Every write to a synced table is captured into a local log by database triggers;
devices exchange entries through a shared log (a file, a database or a server);
received entries are reconciled the same way on every device, so all copies
converge. See the README for a tour.
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._entry import listen_early

listen_early()  # the syncengine command hears Ctrl-C from here on, while the line below loads

# ``reconcile`` is both a function and the package it lives in: importing the package would make
# the name the package, so the function is bound now (pure code, no library: it costs little).
from .reconcile import reconcile  # noqa: E402

if TYPE_CHECKING:
    from . import events, values
    from ._doctor import Diagnosis
    from ._ids import new_id, uuid_pk
    from ._verify import DeviceComparison, Difference, RepairReport, Verification
    from .clock import HybridClock, Timestamp
    from .crypto import KeyStatus
    from .crypto import strength as passphrase_strength
    from .device import Device
    from .errors import (
        ConfigurationError,
        ConflictError,
        DatabaseError,
        EncryptionError,
        KeyMissing,
        NotInitializedError,
        QuarantineError,
        ReconcileError,
        RemoteError,
        RemoteUnavailable,
        SchemaError,
        SyncCancelled,
        SyncEngineError,
        WrongPassphrase,
    )
    from .model import (
        Conflict,
        DeviceInfo,
        Entry,
        LogRecord,
        Op,
        PublishedState,
        PullResult,
        PushResult,
        QuarantinedEntry,
        ReceivedBatch,
        RemoteValue,
        Status,
        StoredKeyring,
        SyncRecord,
        SyncReport,
    )
    from .pairing import Pairing, PairingCode, PairProgress, PairReport, join
    from .reconcile import Action, Finding, Plan, RowPlan, RowState
    from .remote import DeviceRoll, KeyBoard, MemorySharedLog, SharedLog, StateBoard, open_shared_log
    from .serializer import JsonSerializer, Serializer
    from .store import SqlSharedLog, copy_log
    from .sync import SyncOptions

__version__ = "0.1.0"

# The public names are imported when first used (PEP 562), so ``import syncengine`` loads almost
# nothing: the command line starts at once and hears Ctrl-C before SQLAlchemy and the rest load
# (see ._entry), and a program that never pairs never loads TLS and certificate code.
_HOMES: dict[str, tuple[str, ...]] = {
    "._doctor": ("Diagnosis",),
    "._ids": ("new_id", "uuid_pk"),
    "._verify": ("DeviceComparison", "Difference", "RepairReport", "Verification"),
    ".clock": ("HybridClock", "Timestamp"),
    ".crypto": ("KeyStatus", "passphrase_strength"),
    ".device": ("Device",),
    ".errors": (
        "ConfigurationError",
        "ConflictError",
        "DatabaseError",
        "EncryptionError",
        "KeyMissing",
        "NotInitializedError",
        "QuarantineError",
        "ReconcileError",
        "RemoteError",
        "RemoteUnavailable",
        "SchemaError",
        "SyncCancelled",
        "SyncEngineError",
        "WrongPassphrase",
    ),
    ".model": (
        "Conflict",
        "DeviceInfo",
        "Entry",
        "LogRecord",
        "Op",
        "PublishedState",
        "PullResult",
        "PushResult",
        "QuarantinedEntry",
        "ReceivedBatch",
        "RemoteValue",
        "Status",
        "StoredKeyring",
        "SyncRecord",
        "SyncReport",
    ),
    ".pairing": ("Pairing", "PairingCode", "PairProgress", "PairReport", "join"),
    ".reconcile": ("Action", "Finding", "Plan", "RowPlan", "RowState"),
    ".remote": ("DeviceRoll", "KeyBoard", "MemorySharedLog", "SharedLog", "StateBoard", "open_shared_log"),
    ".serializer": ("JsonSerializer", "Serializer"),
    ".store": ("SqlSharedLog", "copy_log"),
    ".sync": ("SyncOptions",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
_MODULES = frozenset({"events", "values"})
_RENAMED = {"passphrase_strength": "strength"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'syncengine' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), _RENAMED.get(name, name))
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# A library logs; the application decides where it goes (without this, Python's last-resort
# handler would print the engine's warnings on stderr of every program that uses it).
logging.getLogger("syncengine").addHandler(logging.NullHandler())

__all__ = [
    "Action",
    "ConfigurationError",
    "Conflict",
    "ConflictError",
    "DatabaseError",
    "Device",
    "DeviceComparison",
    "DeviceInfo",
    "DeviceRoll",
    "Diagnosis",
    "Difference",
    "EncryptionError",
    "Entry",
    "Finding",
    "HybridClock",
    "JsonSerializer",
    "KeyBoard",
    "KeyMissing",
    "KeyStatus",
    "LogRecord",
    "MemorySharedLog",
    "NotInitializedError",
    "Op",
    "PairProgress",
    "PairReport",
    "Pairing",
    "PairingCode",
    "Plan",
    "PublishedState",
    "PullResult",
    "PushResult",
    "QuarantineError",
    "QuarantinedEntry",
    "ReceivedBatch",
    "ReconcileError",
    "RemoteError",
    "RemoteUnavailable",
    "RemoteValue",
    "RepairReport",
    "RowPlan",
    "RowState",
    "SchemaError",
    "Serializer",
    "SharedLog",
    "SqlSharedLog",
    "StateBoard",
    "Status",
    "StoredKeyring",
    "SyncCancelled",
    "SyncEngineError",
    "SyncOptions",
    "SyncRecord",
    "SyncReport",
    "Timestamp",
    "Verification",
    "WrongPassphrase",
    "copy_log",
    "events",
    "join",
    "new_id",
    "open_shared_log",
    "passphrase_strength",
    "reconcile",
    "uuid_pk",
    "values",
]
