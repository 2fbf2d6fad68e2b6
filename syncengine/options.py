"""What one sync can be told: :class:`SyncOptions`, and the types of its hooks.

Every field is a plug point of the sync path; ARCHITECTURE.md says where each one
fires and what it must not do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError
from .events import EventListener, Progress, Stage
from .model import Entry, ReceivedBatch, SyncReport
from .reconcile import DoubleCreate, PlanProcessor, Reconciler
from .serializer import JsonSerializer, Serializer
from .store import Executor, execute_plan

STAGES: tuple[Stage, ...] = ("receive", "share", "reconcile")

PreSend = Callable[[list[Entry]], Sequence[Entry]]
PostReceive = Callable[[list[Entry], ReceivedBatch], Sequence[Entry]]
ExtraInfo = Mapping[str, Any] | Callable[[Sequence[Entry]], Mapping[str, Any] | None] | None


MAX_INTERVAL = 7 * 24 * 3600.0
"""The longest interval between automatic syncs (a week): longer would be no automatic sync at all."""

@dataclass
class SyncOptions:
    """Everything one sync can be told; every field has a sensible default.

    * ``stages``: which of receive, share, reconcile to run (always in that order).
    * ``upload_batch_size`` / ``download_batch_size``: entries per pushed batch /
      per pull. A pull's entries are integrated in one transaction (when the sync
      reconciles too; otherwise they are stored as pending in one): on a large
      sync each commit writes every page the batch touched (random keys touch most
      of the table and its registers), so 20,000 a transaction cost a receiving
      device 0.86x the time of 5,000, and hold its write lock about 0.3 s;
      ``reconcile_batch_size``: entries per reconcile transaction.
    * ``upload_byte_limit``: a batch whose payload is larger is halved and tried
      again; a single entry over the limit travels in a batch of its own (a remote
      that refuses it as too large raises a :class:`RemoteError` of kind
      ``"too_large"`` that says so; the writes after it wait).
    * ``single_batch``: do at most one batch of each stage.
    * ``should_continue``: called with the report between batches; False stops.
    * ``pre_send`` / ``post_receive``: change or drop entries (return the list to keep).
    * ``serializer``: how entry payloads are written (see :mod:`syncengine.serializer`).
    * ``extra_info``: a mapping, or a function of the batch's entries, sent with each
      batch and visible to receivers as ``ReceivedBatch.extra``.
    * ``on_event``: a listener for :mod:`syncengine.events` payloads.
    * ``on_progress``: a listener for the :class:`~syncengine.events.Progress` events
      alone; unlike ``on_event`` it costs the sync nothing (entries are not built for it).
    * ``reconciler``, ``double_create``, ``plan_processor``, ``executor``: the
      reconciliation pipeline (see :mod:`syncengine.reconcile`).
    * ``cleanup``: forget entries once shared or integrated (default); with False
      they stay in the log, marked shared or done.
    * ``cancel``: an event that, once set, stops the sync at the next batch boundary.
    """

    stages: Collection[Stage] = STAGES
    upload_batch_size: int = 5000
    download_batch_size: int = 20000
    reconcile_batch_size: int = 2000
    upload_byte_limit: int | None = 8 * 1024 * 1024
    single_batch: bool = False
    should_continue: Callable[[SyncReport], bool] | None = None
    pre_send: PreSend | None = None
    post_receive: PostReceive | None = None
    serializer: Serializer = field(default_factory=JsonSerializer)
    extra_info: ExtraInfo = None
    on_event: EventListener | None = None
    on_progress: Callable[[Progress], None] | None = None
    reconciler: Reconciler | None = None
    double_create: DoubleCreate = "merge"
    plan_processor: PlanProcessor | None = None
    executor: Executor = execute_plan
    cleanup: bool = True
    cancel: threading.Event | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stages, str):  # stages="share": one stage, not the letters of its name
            object.__setattr__(self, "stages", (self.stages,))
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise ConfigurationError(f"unknown sync stage(s) {sorted(unknown)}; the stages are {list(STAGES)}")
        for name in ("upload_batch_size", "download_batch_size", "reconcile_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1")
        if self.upload_byte_limit is not None and self.upload_byte_limit < 1024:
            raise ConfigurationError("upload_byte_limit must be at least 1024 bytes")
        if self.double_create not in ("merge", "error"):
            raise ConfigurationError("double_create must be 'merge' or 'error'")
