"""Continuous sync: every N seconds, soon after local writes, one sync at a time.

:class:`SyncScheduler` is an asyncio task (the desktop app runs it in Qt's loop
through qasync; ``syncengine watch`` runs it with ``asyncio.run``). Its settings
live in the device database, so every front end sees the same ones:

``sync.enabled``   bool, default True: whether automatic syncs run at all
``sync.interval``  float seconds, default 60: time between periodic syncs
``last_sync_at``   set by every successful sync

While the shared log is unreachable it backs off exponentially with full jitter
(capped at ``max_backoff``) instead of hammering it, and returns to the interval
after the next success. Listeners hear :class:`SchedulerEvent` payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .device import Device
from .errors import ConfigurationError, SyncEngineError
from .model import SyncReport
from .options import MAX_INTERVAL
from .remote import SharedLog
from .sync import SyncOptions

DEFAULT_INTERVAL = 60.0
log = logging.getLogger("syncengine")


@dataclass(frozen=True, slots=True)
class SyncStartedEvent:
    """An automatic or forced sync begins; ``reason`` is "interval", "changes" or "forced"."""

    reason: str


@dataclass(frozen=True, slots=True)
class SyncFinishedEvent:
    """A sync ended: ``report`` on success, ``error`` otherwise; ``retry_in`` is the next wait."""

    report: SyncReport | None
    error: SyncEngineError | None
    retry_in: float


SchedulerEvent = SyncStartedEvent | SyncFinishedEvent


class SyncScheduler:
    """Runs ``device.sync(remote)`` periodically and after local changes.

    ``change_poll`` is how often the local log is checked for new writes and
    ``debounce`` how long after a write the sync starts (so a burst of writes
    travels in one sync). ``random`` is the jitter source, injectable for tests.
    ``interval`` and ``enabled``, when given, hold for this scheduler only instead
    of the device's settings (``syncengine watch --interval`` changes no setting).
    """

    def __init__(
        self,
        device: Device,
        remote: SharedLog,
        *,
        on_event: Callable[[SchedulerEvent], None] | None = None,
        options: Callable[[], SyncOptions] = SyncOptions,
        change_poll: float = 1.0,
        debounce: float = 1.0,
        min_backoff: float = 1.0,
        max_backoff: float = 300.0,
        random: Callable[[], float] = random.random,
        interval: float | None = None,
        enabled: bool | None = None,
    ) -> None:
        if interval is not None:
            _check_interval(interval)
        self._interval = interval
        self._enabled = enabled
        self.device = device
        self.remote = remote
        self.on_event = on_event
        self.options = options
        self.change_poll = change_poll
        self.debounce = debounce
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._random = random
        self._wake = asyncio.Event()
        self._forced = False
        self._stopping = False
        self.failures = 0
        self.running = False

    # -- settings kept in the database ---------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether automatic syncs run (forced ones always do)."""
        if self._enabled is not None:
            return self._enabled
        return bool(self.device.setting("sync.enabled", True))

    @property
    def interval(self) -> float:
        """Seconds between periodic syncs."""
        if self._interval is not None:
            return self._interval
        return _stored_interval(self.device)

    # -- control --------------------------------------------------------------------

    def sync_now(self) -> None:
        """Ask for a sync as soon as the current one (if any) is done."""
        self._forced = True
        self._wake.set()

    def stop(self) -> None:
        """Stop after the current sync; :meth:`run` returns."""
        self._stopping = True
        self._wake.set()

    def backoff(self) -> float:
        """Return the wait after ``self.failures`` failures in a row (full jitter)."""
        ceiling = min(self.max_backoff, self.min_backoff * 2 ** max(0, self.failures - 1))
        return float(max(self.min_backoff, ceiling * self._random()))

    async def run(self) -> None:
        """Sync until :meth:`stop`; never two syncs at once."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()  # sync once at start
        while not self._stopping:
            reason = await self._wait(next_at)
            if self._stopping:
                return
            if reason is None:
                next_at = loop.time() + self.interval
                continue
            wait = await self._sync_once(reason)
            next_at = loop.time() + wait

    async def _wait(self, next_at: float) -> str | None:
        """Wait for the next reason to sync; None when automatic sync is off."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if self._forced:
                self._forced = False
                return "forced"
            now = loop.time()
            enabled = await asyncio.to_thread(lambda: self.enabled)
            if enabled and now >= next_at:
                return "interval"
            if enabled and self.failures == 0 and await asyncio.to_thread(self.device.has_local_changes):
                await self._sleep(self.debounce)
                return "changes"
            timeout = self.change_poll if enabled else 1.0
            if enabled:
                timeout = max(0.0, min(timeout, next_at - now))
            await self._sleep(timeout)
        return None

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _sync_once(self, reason: str) -> float:
        self._emit(SyncStartedEvent(reason))
        self.running = True
        try:
            report = await self.device.sync_async(self.remote, self.options())
        except SyncEngineError as exc:
            self.failures += 1
            wait = self.backoff() if exc.retryable else self.interval
            log.warning("automatic sync failed (%d in a row): %s; next try in %.0fs", self.failures, exc, wait)
            self._emit(SyncFinishedEvent(None, exc, wait))
            return wait
        finally:
            self.running = False
        self.failures = 0
        self._emit(SyncFinishedEvent(report, None, self.interval))
        return self.interval

    def _emit(self, event: SchedulerEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)


def configure(device: Device, *, enabled: bool | None = None, interval: float | None = None) -> dict[str, Any]:
    """Change the continuous-sync settings stored in the device; return them all."""
    if interval is not None:
        _check_interval(interval)
        device.set_setting("sync.interval", float(interval))
    if enabled is not None:
        device.set_setting("sync.enabled", bool(enabled))
    return {"enabled": bool(device.setting("sync.enabled", True)), "interval": _stored_interval(device)}


def _check_interval(interval: float) -> None:
    if not math.isfinite(interval) or not 0 < interval <= MAX_INTERVAL:
        raise ConfigurationError(
            f"the sync interval must be a number of seconds above 0 and at most {MAX_INTERVAL:g} (a week), not {interval:g}"
        )


def _stored_interval(device: Device) -> float:
    """The device's interval setting; one an earlier version let through (NaN, infinity) counts as the default."""
    stored = device.setting("sync.interval", DEFAULT_INTERVAL)
    usable = isinstance(stored, int | float) and math.isfinite(stored) and 0 < stored <= MAX_INTERVAL
    return float(stored) if usable else DEFAULT_INTERVAL
