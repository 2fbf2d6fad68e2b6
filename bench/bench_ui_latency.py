"""UI event latency of the Sync Manager while it syncs 100,000 entries.

Device A writes N rows and shares them (outside the UI); device B is opened in the
real main window under qasync, and **Sync now** is clicked: B receives, and
reconciles all N entries while a QTimer probe fires every ``--probe-ms``
milliseconds on the UI thread. Each probe's delay (actual minus expected firing
time) is how long a UI event would have waited. The script prints the max, p99
and median delay, the number of probes, how long the sync took, and the longest
pause of Python's cyclic garbage collector during the sync (a full collection in
the sync's worker thread holds the GIL; the app freezes its startup objects out
of the collector's reach so that these stay short). The issue's target is "no UI
event waits longer than 50 ms". The Overview is the view shown, so its live parts
are on during the sync: the progress bar and label read at every progress event,
the *Not sent yet* card counting down, and the activity chart read again at the end.

Run from the repository root:  /work/venv/bin/python bench/bench_ui_latency.py [--entries 100000]
(``QT_QPA_PLATFORM=offscreen`` is used unless a platform is set.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa


def build(folder: Path, entries: int) -> tuple[str, str]:
    from syncengine import Device, SqlSharedLog, new_id

    meta = sa.MetaData()
    items = sa.Table(
        "items", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("name", sa.Text), sa.Column("n", sa.Integer)
    )
    a = Device.init(str(folder / "a.db"), metadata=meta, name="writer")
    b = Device.init(str(folder / "b.db"), metadata=meta, name="viewer")
    b.set_setting("sync.enabled", False)
    shared = SqlSharedLog(str(folder / "shared.db"))
    with a.engine.begin() as conn:
        conn.execute(items.insert(), [{"id": new_id(), "name": f"item {i}", "n": i} for i in range(entries)])
    started = time.perf_counter()
    a.sync(shared)
    print(f"setup: device A shared {entries:,} entries in {time.perf_counter() - started:.1f} s")
    for closable in (a, b, shared):
        closable.close()
    return str(folder / "b.db"), str(folder / "shared.db")


class Probe:
    """A repeating QTimer; records how late each tick arrives."""

    def __init__(self, interval_ms: int) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.interval = interval_ms / 1000
        self.delays: list[float] = []
        self.at: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self.last = 0.0

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()

    def tick(self) -> None:
        now = time.perf_counter()
        self.delays.append(max(0.0, now - self.last - self.interval))
        self.at.append(now)
        self.last = now

    def stop(self) -> None:
        self.timer.stop()


async def measure(db: str, remote: str, probe_ms: int) -> dict[str, float]:
    from app import config
    from app.services.device import DeviceService
    from app.window import MainWindow

    service = await DeviceService.open(config.Workspace(db=db, remote=remote))
    window = MainWindow(service)
    window.show()
    ready = asyncio.get_running_loop().create_future()
    window.ready.connect(lambda: ready.done() or ready.set_result(None))
    window.start()
    await ready
    finished = asyncio.get_running_loop().create_future()
    service.syncFinished.connect(lambda report, error: finished.done() or finished.set_result((report, error)))
    marks: list[tuple[float, str]] = []
    service.syncProgress.connect(lambda stage, done, total: marks.append((time.perf_counter(), f"{stage} {done}/{total}")))
    service.syncFinished.connect(lambda *_: marks.append((time.perf_counter(), "finished")))
    pauses: list[float] = []
    gc_started = [0.0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)
    assert window.tabs.currentWidget() is window.overview and window.overview.chart.isVisible()  # chart and live cards on
    labels: set[str] = set()
    service.syncProgress.connect(lambda *_: labels.add(window.overview.progress_label.text()))
    probe = Probe(probe_ms)
    probe.start()
    started = time.perf_counter()
    window.overview.sync_button.click()
    report, error = await finished
    seconds = time.perf_counter() - started
    probe.stop()
    gc.callbacks.remove(on_gc)
    closed = asyncio.get_running_loop().create_future()
    window.closed.connect(lambda: closed.done() or closed.set_result(None))
    window.close()
    await closed
    if error is not None:
        raise error
    if os.environ.get("BENCH_UI_WHERE"):
        worst = sorted(zip(probe.delays, probe.at, strict=False), reverse=True)[:8]
        for delay, at in worst:
            last = [m for m in marks if m[0] <= at]
            print(f"  {delay * 1000:6.1f} ms at {at - started:6.2f} s, after: {last[-1][1] if last else 'start'}")
    delays = sorted(probe.delays)
    return {
        "applied": report.applied,
        "sync_s": seconds,
        "probes": len(delays),
        "max_ms": delays[-1] * 1000,
        "p99_ms": delays[int(len(delays) * 0.99) - 1] * 1000,
        "median_ms": statistics.median(delays) * 1000,
        "gc_max_ms": max(pauses, default=0.0) * 1000,
        "gc_runs": len(pauses),
        "labels": len(labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--probe-ms", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SYNC_MANAGER_CONFIG_DIR", str(Path(tmp) / "config"))
        db, remote = build(Path(tmp), args.entries)

        import qasync

        from app.main import make_application

        app = make_application()
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            result = loop.run_until_complete(measure(db, remote, args.probe_ms))
    print(
        f"UI latency while syncing {result['applied']:,} entries (sync took {result['sync_s']:.1f} s, "
        f"{result['probes']:,} probes every {args.probe_ms} ms):"
    )
    print(f"  max {result['max_ms']:.1f} ms   p99 {result['p99_ms']:.1f} ms   median {result['median_ms']:.2f} ms   (target: max <= 50 ms)")
    print(f"  longest garbage-collector pause during the sync: {result['gc_max_ms']:.1f} ms ({result['gc_runs']:,} collections)")
    print(f"  the Overview's progress line showed {result['labels']:,} different texts during the sync (live)")


if __name__ == "__main__":
    main()
