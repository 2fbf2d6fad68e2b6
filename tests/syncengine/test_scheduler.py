"""Continuous sync on real SQLite devices, driven by asyncio."""

from __future__ import annotations

import asyncio

from syncengine import Device, MemorySharedLog
from syncengine.scheduler import SyncFinishedEvent, SyncScheduler, SyncStartedEvent, configure

from .helpers import add, metadata, rows


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_syncs_at_start_and_every_interval(a) -> None:
    remote = MemorySharedLog()
    configure(a, interval=0.2)
    finished: list[SyncFinishedEvent] = []

    async def main() -> None:
        scheduler = SyncScheduler(
            a, remote, on_event=lambda e: finished.append(e) if isinstance(e, SyncFinishedEvent) else None
        )
        task = asyncio.create_task(scheduler.run())
        await _until(lambda: len(finished) >= 3)
        scheduler.stop()
        await task

    asyncio.run(main())
    assert all(e.error is None for e in finished)
    assert a.status().last_sync_at is not None


def test_a_local_write_is_synced_soon_even_with_a_long_interval(a, tmp_path) -> None:
    remote = MemorySharedLog()
    configure(a, interval=3600)
    reasons: list[str] = []

    async def main() -> None:
        scheduler = SyncScheduler(
            a,
            remote,
            change_poll=0.05,
            debounce=0.05,
            on_event=lambda e: reasons.append(e.reason) if isinstance(e, SyncStartedEvent) else None,
        )
        task = asyncio.create_task(scheduler.run())
        await _until(lambda: reasons == ["interval"] and not scheduler.running)
        await asyncio.to_thread(add, a, ("p1", "kettle", 1))
        await _until(lambda: a.status().unshared == 0 and len(reasons) == 2)
        scheduler.stop()
        await task

    asyncio.run(main())
    assert reasons == ["interval", "changes"]
    b = Device.init(str(tmp_path / "b.db"), metadata=metadata)
    b.sync(remote)
    assert [r["id"] for r in rows(b)] == ["p1"]


def test_backs_off_while_unreachable_and_recovers(a) -> None:
    remote = MemorySharedLog()
    remote.offline = True
    configure(a, interval=0.1)
    finished: list[SyncFinishedEvent] = []

    async def main() -> SyncScheduler:
        scheduler = SyncScheduler(
            a,
            remote,
            min_backoff=0.05,
            max_backoff=0.2,
            random=lambda: 1.0,
            on_event=lambda e: finished.append(e) if isinstance(e, SyncFinishedEvent) else None,
        )
        task = asyncio.create_task(scheduler.run())
        await _until(lambda: len(finished) >= 4)
        remote.offline = False
        await _until(lambda: finished[-1].error is None)
        scheduler.stop()
        await task
        return scheduler

    scheduler = asyncio.run(main())
    waits = [e.retry_in for e in finished if e.error is not None]
    assert waits[:4] == [0.05, 0.1, 0.2, 0.2]
    assert all(e.error.retryable for e in finished if e.error is not None)
    assert scheduler.failures == 0


def test_never_two_syncs_at_once_and_forced_syncs_run_when_disabled(a) -> None:
    remote = MemorySharedLog()
    configure(a, enabled=False, interval=0.05)
    running = 0
    overlap = False
    started = 0

    def on_event(event) -> None:
        nonlocal running, overlap, started
        if isinstance(event, SyncStartedEvent):
            running += 1
            started += 1
            overlap = overlap or running > 1
        else:
            running -= 1

    async def main() -> None:
        scheduler = SyncScheduler(a, remote, on_event=on_event)
        task = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0.3)
        assert started == 0, "automatic sync ran while disabled"
        for _ in range(5):
            scheduler.sync_now()
            await asyncio.sleep(0)
        await _until(lambda: started >= 1 and running == 0)
        scheduler.stop()
        await task

    asyncio.run(main())
    assert not overlap and started >= 1
