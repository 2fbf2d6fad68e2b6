"""A fixed world for the screenshots: the same clock, the same ids and the same time zone on every run.

The README's pictures should change only when the interface does. Everything the
views show that would differ between two runs comes from the wall clock (times of
syncs and writes), the engine's timers (how long a stage took) or random ids
(devices, rows, batches). Within :func:`fixed_world`, ``time.time`` is frozen at
:data:`EPOCH` for the engine, the app and logging (pytest-qt keeps the real clock,
so its waits still time out), the engine's ``perf_counter`` advances by a fixed step
per call, ``uuid.uuid4`` draws from a seeded generator, and the time zone is UTC.
SQLite triggers record a write's time from the database's own clock, but the
hybrid clock never goes back, so every version written after the frozen clock's
first reading reads as that time.
"""

from __future__ import annotations

import itertools
import random
import secrets
import sys
import time
import uuid

import pytest

EPOCH = 1_798_794_000.0  # 2027-01-01 09:00 UTC: after any real clock a test machine has now
_REAL_CLOCK = ("pytestqt", "_pytest", "pytest", "qasync", "asyncio", "threading", "concurrent")


def fixed_world(monkeypatch: pytest.MonkeyPatch, seed: int = 16) -> None:
    """Freeze the clock, the engine's timers and the ids for the rest of the test.

    The monkeypatch puts everything back at teardown except the time zone's reading:
    call ``time.tzset()`` after it (the ``world`` fixture of the screenshots does).
    """
    real_time, real_perf = time.time, time.perf_counter
    steps = itertools.count()

    def caller() -> str:
        return str(sys._getframe(2).f_globals.get("__name__", ""))

    def fake_time() -> float:
        return real_time() if caller().startswith(_REAL_CLOCK) else EPOCH

    def fake_perf() -> float:
        return next(steps) * 0.004 if caller().startswith("syncengine") else real_perf()

    rng = random.Random(seed)

    def fake_uuid4() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    monkeypatch.setattr(time, "time", fake_time)
    monkeypatch.setattr(time, "perf_counter", fake_perf)
    monkeypatch.setattr(uuid, "uuid4", fake_uuid4)
    monkeypatch.setattr(secrets, "token_bytes", lambda n=32: rng.randbytes(n))  # a pairing code's secret
    from syncengine import SqlSharedLog

    # the shared log's clock is a default argument, bound to the real time.time when the module loaded
    monkeypatch.setitem(SqlSharedLog.__init__.__kwdefaults__, "clock", fake_time)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
