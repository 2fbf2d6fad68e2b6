"""syncengine: offline-first sync for SQL databases.

Every write to a synced table is captured into a local log by database triggers;
devices exchange entries through a shared log (a file, a database or a server);
received entries are reconciled the same way on every device, so all copies
converge. See the README for a tour.
"""

import logging
from typing import TYPE_CHECKING, Any

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
from .reconcile import Action, Finding, Plan, RowPlan, RowState, reconcile
from .remote import KeyBoard, MemorySharedLog, SharedLog, StateBoard, open_shared_log
from .serializer import JsonSerializer, Serializer
from .store import SqlSharedLog, copy_log
from .sync import SyncOptions

if TYPE_CHECKING:
    from .pairing import Pairing, PairingCode, PairProgress, PairReport, join

__version__ = "0.1.0"

# Pairing loads TLS and certificate code (about 10 MB, a tenth of a second) that a sync never
# needs: its names are imported when first used (PEP 562).
_PAIRING = frozenset({"Pairing", "PairingCode", "PairProgress", "PairReport", "join"})


def __getattr__(name: str) -> Any:
    if name in _PAIRING:
        from . import pairing

        return getattr(pairing, name)
    raise AttributeError(f"module 'syncengine' has no attribute {name!r}")

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
