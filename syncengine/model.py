"""Frozen value types passed between the engine's parts.

An :class:`Entry` is one captured write. Its ``version`` is the hybrid-clock
version of the write (see :mod:`syncengine.clock`); ``base`` names the versions the
writing device had of the fields it changed, which is how later layers tell a
sequential overwrite from a concurrent edit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PK = tuple[Any, ...]
ROW = "_row"
"""Key of ``Entry.base`` and row versions that stands for the row's existence."""


class Op(enum.StrEnum):
    """What a write did to a row."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    STATE = "state"
    """A live row's registers as one device holds them, shared again (to a new shared log, or to repair)."""
    TOMBSTONE = "tombstone"
    """A deleted row's registers as one device holds them, shared again."""


STATES = frozenset({Op.STATE, Op.TOMBSTONE})
"""Ops that carry a row's registers rather than one write: ``base`` maps ``"_row"`` to the
existence version and every column in ``data`` to its version; ``version`` is the
newest of them (it may be another device's). They merge register by register and are
never a conflict: they only restate writes that were made before."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One write to one row, as it travels between devices.

    ``data`` holds the whole row for an insert, the changed columns for an update
    and nothing for a delete. ``old`` holds the previous values of those columns
    where the writing device knew them (for display and conflict review).
    ``base`` maps each changed field (and ``"_row"`` for the row's existence) to the
    version the writer held, or to a list of versions for a decided conflict.
    """

    version: str
    device_id: str
    table: str
    pk: PK
    op: Op
    data: Mapping[str, Any] = field(default_factory=dict)
    old: Mapping[str, Any] | None = None
    base: Mapping[str, str | list[str]] = field(default_factory=dict)
    log_id: int | None = field(default=None, compare=False, repr=False)
    """The entry's row in this device's log, when it has one (never sent to other devices)."""

    @property
    def key(self) -> tuple[str, PK]:
        """The (table, primary key) of the row this entry is about."""
        return (self.table, self.pk)


@dataclass(frozen=True, slots=True)
class ReceivedBatch:
    """A batch as pulled from the shared log, before its entries are decoded."""

    seq: int
    device_id: str
    batch_id: str
    payload: bytes
    count: int
    extra: Mapping[str, Any] | None = None
    shared_at: float | None = None


@dataclass(frozen=True, slots=True)
class PullResult:
    """What one pull returned: batches after the cursor, and the cursor to store.

    ``next_count`` is the entry count of the first batch left out when ``more`` (None
    when unknown): with it, a large page can be cut into the pages smaller pulls
    would have returned, down to its last one (see :func:`page_of`).
    """

    batches: list[ReceivedBatch]
    cursor: int
    more: bool
    next_count: int | None = None
    log_id: str | None = None


def page_of(batches: Iterator[ReceivedBatch], limit: int) -> tuple[list[ReceivedBatch], ReceivedBatch | None]:
    """Take the batches of one pull of ``limit`` entries; return them and the first batch left out (None: none was).

    A page takes batches while they fit in ``limit`` entries, at least one and at
    most ``limit + 1`` (batches may hold no entry). The shared log cuts its pulls
    so, and the HTTP client cuts what it read ahead the same way.
    """
    page: list[ReceivedBatch] = []
    total = 0
    for batch in batches:
        if page and (total + batch.count > limit or len(page) > limit):
            return page, batch
        page.append(batch)
        total += batch.count
    return page, None


@dataclass(frozen=True, slots=True)
class PublishedState:
    """A device's digest of its synced state as published in the shared log, with the log position it reflects."""

    device_id: str
    position: int
    digest: Mapping[str, Any]
    published_at: float


SEALED = b"\x00SE1"
"""How an encrypted payload begins (no serialized batch can: JSON never starts with a NUL byte)."""


@dataclass(frozen=True, slots=True)
class StoredKeyring:
    """A user's wrapped encryption keys as the shared log keeps them (see :mod:`syncengine.crypto`).

    ``body`` is opaque to the log (JSON written by the devices); ``revision`` counts
    its replacements, so two devices cannot overwrite each other's change unseen;
    ``encrypted_from`` is the log position when the first keys were stored: batches
    after it must be encrypted.
    """

    body: str
    revision: int
    encrypted_from: int


@dataclass(frozen=True, slots=True)
class PushResult:
    """The shared log's receipt for a pushed batch."""

    seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device as the shared log's registry knows it."""

    device_id: str
    name: str
    user: str
    created_at: float
    last_push_at: float | None = None
    last_pull_at: float | None = None
    last_pull_seq: int = 0
    behind: int | None = None
    log_id: str | None = None
    """The id of the shared log this record is in (None: a log that has none)."""
    last_push_seq: int | None = None
    """The sequence number of the device's newest batch in the log (None: none, or not known)."""
    last_batch_id: str | None = None
    """The id of that batch."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "device_id": self.device_id,
            "name": self.name,
            "user": self.user,
            "created_at": self.created_at,
            "last_push_at": self.last_push_at,
            "last_pull_at": self.last_pull_at,
            "last_pull_seq": self.last_pull_seq,
            "behind": self.behind,
            "log_id": self.log_id,
            "last_push_seq": self.last_push_seq,
        }


@dataclass(frozen=True, slots=True)
class QuarantinedEntry:
    """A received entry that could not be applied, kept with the reason."""

    id: int
    reason: str
    table: str | None
    pk: Any
    op: str | None
    version: str | None
    device_id: str | None
    data: Any

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        from . import values

        return {
            "id": self.id,
            "reason": self.reason,
            "table": self.table,
            "pk": values.encode(self.pk),
            "op": self.op,
            "version": self.version,
            "device_id": self.device_id,
            "data": values.encode(self.data),
        }


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One row of the client log, as ``syncengine log`` shows it."""

    id: int
    state: str
    table: str
    pk: Any
    op: str
    version: str | None
    device_id: str | None
    data: Any
    old: Any
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        from . import values

        return {
            "id": self.id,
            "state": self.state,
            "table": self.table,
            "pk": values.encode(self.pk),
            "op": self.op,
            "version": self.version,
            "device_id": self.device_id,
            "data": values.encode(self.data),
            "old": values.encode(self.old),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Status:
    """A device's counts, as ``syncengine status`` prints them."""

    device_id: str
    name: str
    tables: tuple[str, ...]
    unshared: int
    pending: int
    quarantined: int
    conflicts: int
    last_sync_at: float | None
    cursor: int
    clock_offset_ms: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "device_id": self.device_id,
            "name": self.name,
            "tables": list(self.tables),
            "unshared": self.unshared,
            "pending": self.pending,
            "quarantined": self.quarantined,
            "conflicts": self.conflicts,
            "last_sync_at": self.last_sync_at,
            "cursor": self.cursor,
            "clock_offset_ms": self.clock_offset_ms,
        }


@dataclass(slots=True)
class SyncReport:
    """What one sync did, stage by stage."""

    received: int = 0
    received_batches: int = 0
    sent: int = 0
    sent_batches: int = 0
    applied: int = 0
    quarantined: int = 0
    dropped: int = 0
    conflicts: int = 0
    held: int = 0
    cleaned: int = 0
    stages: tuple[str, ...] = ()
    cancelled: bool = False
    stopped_early: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    schema_changes: list[str] = field(default_factory=list)
    """Synced tables whose columns or triggers had changed, one sentence each; their triggers were re-installed."""
    log_id: str | None = None
    """The id of the shared log this sync used (None: it has none, or no remote was used)."""
    log_created: bool = False
    """The shared log did not exist: this sync created it."""
    new_log: bool = False
    """This device had not shared with this log before (or shared elsewhere since): it shared its whole state there."""
    state_shared: int = 0
    """Rows whose registers this sync shared again (see ``new_log``)."""
    device_id: str | None = None
    """The device id the sync ran as (it changes when ``identity_changed``)."""
    identity_changed: str | None = None
    """Why this database took a new device id during the sync (copied or restored from a backup), or None."""
    log_restored: str | None = None
    """Why the shared log seems to have lost batches this device sent or read (restored from a backup), or None.

    The device then shared its whole state there again (``new_log``) and read the log
    again: from its start, or from the cursor the log's registry kept for it.
    """

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "log_id": self.log_id,
            "log_created": self.log_created,
            "new_log": self.new_log,
            "state_shared": self.state_shared,
            "device_id": self.device_id,
            "identity_changed": self.identity_changed,
            "log_restored": self.log_restored,
            "received": self.received,
            "received_batches": self.received_batches,
            "sent": self.sent,
            "sent_batches": self.sent_batches,
            "applied": self.applied,
            "quarantined": self.quarantined,
            "dropped": self.dropped,
            "conflicts": self.conflicts,
            "held": self.held,
            "cleaned": self.cleaned,
            "stages": list(self.stages),
            "cancelled": self.cancelled,
            "stopped_early": self.stopped_early,
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "schema_changes": list(self.schema_changes),
        }


@dataclass(frozen=True, slots=True)
class RemoteValue:
    """One remote side of a conflict: the value, its version and device."""

    value: Any
    version: str
    device_id: str

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        from . import values
        from .clock import wall_of

        return {
            "value": values.encode(self.value),
            "version": self.version,
            "device_id": self.device_id,
            "at": wall_of(self.version) / 1000.0,
        }


@dataclass(frozen=True, slots=True)
class Conflict:
    """A conflict found on this device: open (waiting for a decision) or decided.

    ``field`` is None for whole-row conflicts (delete/edit, create/create,
    constraint), whose values are row dicts or None for "deleted". ``auto`` is what
    last-writer-wins commits (None for constraint conflicts: they have no safe
    automatic answer). ``held`` says the local database kept its value pending a
    decision.
    """

    id: int
    kind: str
    status: str
    held: bool
    table: str
    pk: PK
    field: str | None
    base: Any
    local: Any
    local_version: str | None
    remote: Any
    remotes: tuple[RemoteValue, ...]
    auto: Any
    reason: str | None
    created_at: float
    updated_at: float
    decision: str | None = None
    decided_value: Any = None
    decided_by: str | None = None
    decided_how: str | None = None
    decided_at: float | None = None

    @property
    def is_open(self) -> bool:
        """Whether it still waits for a decision."""
        return self.status == "open"

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints (``pk`` a value, or a list when composite)."""
        from . import values

        remote_device = self.remotes[-1].device_id if self.remotes else None
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "held": self.held,
            "table": self.table,
            "pk": values.encode(self.pk[0] if len(self.pk) == 1 else list(self.pk)),
            "field": self.field,
            "base": values.encode(self.base),
            "local": values.encode(self.local),
            "local_version": self.local_version,
            "remote": values.encode(self.remote),
            "remote_device": remote_device,
            "remotes": [r.as_json() for r in self.remotes],
            "auto": values.encode(self.auto),
            "reason": self.reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "decision": self.decision,
            "decided_value": values.encode(self.decided_value),
            "decided_by": self.decided_by,
            "decided_how": self.decided_how,
            "decided_at": self.decided_at,
        }


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One past sync of this device: when, with which remote, what it did, how it failed."""

    id: int
    started_at: float
    finished_at: float
    remote: str | None
    report: dict[str, Any]
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "id": self.id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "remote": self.remote,
            "report": self.report,
            "error": self.error,
        }
