"""Every error the engine raises on purpose.

The public API raises only these; SQLAlchemy and driver exceptions are translated
where they enter (``raise ... from exc``), so callers catch one family::

    SyncEngineError
     ├── ConfigurationError        bad URL, bad option, unusable command-line input
     ├── SchemaError               a table cannot be synced (no key, autoincrement key, unknown)
     ├── NotInitializedError       the database has no sync installed yet
     ├── DatabaseError             the device database failed or cannot be reached
     ├── RemoteError               the shared log failed or cannot be reached
     │    └── RemoteUnavailable    ... and trying again later may help
     ├── ReconcileError            the reconciler refused a batch (e.g. a double create)
     ├── QuarantineError           no such quarantined entry
     ├── ConflictError             a conflict cannot be decided as asked
     ├── EncryptionError           encryption cannot go on as asked (no key to unwrap, log cannot keep keys)
     │    ├── KeyMissing           the shared log is encrypted and this device lacks its key
     │    └── WrongPassphrase      the passphrase does not unwrap the log's keys
     └── SyncCancelled             a sync was asked to stop and did, between batches

Each carries the fields a caller can act on (``table``, ``retryable``).
"""

from __future__ import annotations

from typing import Any


class SyncEngineError(Exception):
    """Base of every error raised by syncengine."""

    retryable: bool = False


class ConfigurationError(SyncEngineError):
    """An option, URL or argument is not usable as given."""


class SchemaError(SyncEngineError):
    """A table cannot be synced as it is; the message names the table and the fix."""

    def __init__(self, message: str, *, table: str | None = None) -> None:
        super().__init__(message)
        self.table = table


class NotInitializedError(SyncEngineError):
    """The database has no sync installed; run ``syncengine init`` first."""


class DatabaseError(SyncEngineError):
    """The device database failed, or cannot be reached."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class RemoteError(SyncEngineError):
    """The shared log refused a request or failed.

    ``status`` is the HTTP status when a server answered; ``kind`` sorts the cause
    for a user interface: ``"auth"`` (log in again: the token was refused),
    ``"too_large"`` (send smaller batches), ``"not_owned"`` (a device id of another
    user), ``"unavailable"`` (retry later) or ``"error"``.
    """

    def __init__(self, message: str, *, status: int | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class RemoteUnavailable(RemoteError):
    """The shared log cannot be reached now; nothing local was lost, retry later."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None, kind: str = "unavailable") -> None:
        super().__init__(message, status=status, kind=kind)


class ReconcileError(SyncEngineError):
    """The reconciler refused a batch; the batch was rolled back whole."""

    def __init__(self, message: str, *, table: str | None = None, pk: object = None) -> None:
        super().__init__(message)
        self.table = table
        self.pk = pk


class QuarantineError(SyncEngineError):
    """A quarantined entry that was asked for does not exist."""


class ConflictError(SyncEngineError):
    """A conflict does not exist, is already decided, or the chosen value cannot be applied."""


class EncryptionError(SyncEngineError):
    """End-to-end encryption cannot go on as asked; the message says what to do. Nothing was sent."""


class KeyMissing(EncryptionError):
    """The shared log is encrypted and this device does not hold the key it needs (``syncengine key join``)."""


class WrongPassphrase(EncryptionError):
    """The passphrase given does not unwrap the shared log's keys."""


class SyncCancelled(SyncEngineError):
    """The sync stopped at a batch boundary because it was cancelled, or was interrupted in a batch.

    ``report`` is what it did until then (a :class:`~syncengine.SyncReport` with
    ``cancelled`` true) when it got that far; None otherwise.
    """

    def __init__(self, message: str, *, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
