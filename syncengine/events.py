"""What a sync tells its listener while it runs.

Pass ``on_event`` to :meth:`syncengine.Device.sync`; it is called with one of the
frozen payloads below, from the thread running the sync, between database
transactions. Conflict events also reach the listeners registered with
:meth:`syncengine.Device.add_listener`, including decisions made with
:meth:`syncengine.Device.resolve`. A listener must return quickly and must not call back into the same
device (it would wait for the sync that is calling it). Raising stops the sync
with that error; work already committed stays committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .model import Conflict, Entry, ReceivedBatch, SyncReport

Stage = Literal["receive", "share", "reconcile"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """The sync waits before it begins: another program is syncing this database (``reason`` says so)."""

    reason: str


@dataclass(frozen=True, slots=True)
class SyncStarted:
    """A sync begins, with the stages it will run."""

    stages: tuple[Stage, ...]


@dataclass(frozen=True, slots=True)
class Sending:
    """A batch is about to be pushed (after the pre-send processor)."""

    batch_id: str
    entries: tuple[Entry, ...]
    extra: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Received:
    """A batch was pulled and decoded (after the post-receive processor)."""

    batch: ReceivedBatch
    entries: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Reconciling:
    """A reconcile batch of ``entries`` pending entries starts."""

    entries: int


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A reconcile batch committed."""

    applied: int
    quarantined: int


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a stage is: ``done`` of ``total`` entries (``total`` None when unknown)."""

    stage: Stage
    done: int
    total: int | None


@dataclass(frozen=True, slots=True)
class SyncFinished:
    """A sync ended; ``error`` is set when it failed."""

    report: SyncReport
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class ConflictFound:
    """A sync found a conflict: open (held for a decision) or decided automatically."""

    conflict: Conflict


@dataclass(frozen=True, slots=True)
class ConflictDecided:
    """A conflict was decided: by a person here, or by a decision received from another device.

    The decision received may also replace the result this device chose
    automatically: the conflict was decided already, and now holds the value
    kept and who decided it.
    """

    conflict: Conflict


@dataclass(frozen=True, slots=True)
class ConflictReopened:
    """A decision made here was undone before a sync sent it (``Device.undo_decisions``): the conflict is open again."""

    conflict: Conflict


ConflictEvent = ConflictFound | ConflictDecided | ConflictReopened
SyncEvent = Waiting | SyncStarted | Sending | Received | Reconciling | Reconciled | Progress | SyncFinished | ConflictEvent
EventListener = Callable[[SyncEvent], None]
