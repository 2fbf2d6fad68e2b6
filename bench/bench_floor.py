"""The floor of a sync: the database work alone, replayed, against the whole sync.

How much of a sync's time is the engine's Python, and how much is SQLite doing
what the storage layout asks for? Each round prepares the ``bench_end_to_end``
setup (A holding N captured inserts, B, a shared-log file) and copies its files
twice:

* on one copy, ``A.sync`` then ``B.sync`` run with every statement recorded (SQLAlchemy's
  ``before_cursor_execute``, ``begin``, ``commit`` and ``rollback`` events, with the
  parameters and the connection each went to); this run is not timed;
* on the other copy, the recorded statements are **replayed** with the plain ``sqlite3``
  module, one connection per recorded connection, in the recorded order, the same
  transactions, every result fetched: the same reads, writes and commits the sync made,
  with no engine code between them (the parameters were built before the clock starts);
* the sync is timed on a third copy, in the same round (``A.sync`` + ``B.sync``, as
  ``bench_end_to_end.py --one-after-other``).

The replay is the least this storage layout costs (registers per row, rollback journal,
``synchronous=FULL``): what the engine's Python could still remove is sync − floor. A
person meets the command line, so the figure adds process start-up: ``python -m syncengine
sync`` on a device with nothing to do (the engine's start, imports and the checks every sync
makes) against ``python -c "import sqlite3"`` (the least a process costs), with bytecode
compiled as ``pip install`` leaves it.

    .venv/bin/python bench/bench_floor.py                  # 100k entries, 3 rounds
    .venv/bin/python bench/bench_floor.py --quick          # 20k entries, 2 rounds

Engine internals are not used; the recording hooks SQLAlchemy's engine class.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
import sqlalchemy as sa
from bench_end_to_end import prepare
from sqlalchemy import event

from syncengine import Device, SqlSharedLog


@dataclass
class Recording:
    """Statements in the order they ran: (file, connection number, kind, sql, parameters)."""

    steps: list[tuple[str, int, str, str, Any]] = field(default_factory=list)
    connections: dict[int, int] = field(default_factory=dict)
    on: bool = False
    a_end: int = 0  # where B's sync starts

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        self.on = True
        try:
            yield
        finally:
            self.on = False

    def _where(self, conn: sa.Connection) -> tuple[str, int]:
        raw = conn.connection.dbapi_connection
        number = self.connections.setdefault(id(raw), len(self.connections))
        return str(Path(conn.engine.url.database or "").name), number

    def install(self) -> None:
        event.listen(sa.engine.Engine, "before_cursor_execute", self._statement)
        event.listen(sa.engine.Engine, "begin", self._begin)
        event.listen(sa.engine.Engine, "commit", self._end("COMMIT"))
        event.listen(sa.engine.Engine, "rollback", self._end("ROLLBACK"))

    def _statement(self, conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if self.on:
            self.steps.append((*self._where(conn), "many" if many else "one", statement, parameters))

    def _begin(self, conn: sa.Connection) -> None:
        # the engine's own listener begins a read with a plain BEGIN statement (recorded above)
        if self.on and not conn.get_execution_options().get("syncengine_read", False):
            self.steps.append((*self._where(conn), "one", "BEGIN IMMEDIATE", ()))

    def _end(self, word: str) -> Any:
        def record(conn: sa.Connection) -> None:
            if self.on:
                self.steps.append((*self._where(conn), "one", word, ()))

        return record


def replay(
    folder: Path, steps: list[tuple[str, int, str, str, Any]], detail: dict[str, float] | None = None
) -> tuple[float, int]:
    """Run the recorded statements on the files in ``folder``; the seconds, and how many statements.

    With ``detail``, the seconds of each statement are added up there by its first words.
    """
    connections: dict[int, sqlite3.Connection] = {}
    for name, number, _, _, _ in steps:
        if number not in connections:
            conn = sqlite3.connect(str(folder / name), isolation_level=None)
            # as the engine opens them: a device file 16 MiB of page cache, the shared log SQLite's default
            conn.execute(f"PRAGMA cache_size = -{2048 if name.startswith('shared') else 16384}")
            connections[number] = conn
    try:
        t0 = time.perf_counter()
        for name, number, kind, sql, parameters in steps:
            conn = connections[number]
            t1 = time.perf_counter() if detail is not None else 0.0
            if kind == "many":
                conn.executemany(sql, parameters).fetchall()
            else:
                conn.execute(sql, parameters).fetchall()
            if detail is not None:
                key = f"{name.split('-')[0]}: {' '.join(sql.split())[:90]}"
                detail[key] = detail.get(key, 0.0) + time.perf_counter() - t1
        return time.perf_counter() - t0, len(steps)
    finally:
        for conn in connections.values():
            conn.close()


def copy_files(source: Path, target: Path, names: list[str]) -> None:
    target.mkdir()
    for name in names:
        shutil.copyfile(source / name, target / name)


def one_round(
    folder: Path, rows: list[c.Row], recording: Recording, detail: dict[str, float] | None = None
) -> dict[str, float]:
    start = folder / f"start-{time.monotonic_ns()}"
    start.mkdir()
    a_path, b_path, log_path, _ = prepare(start, rows)
    SqlSharedLog(str(log_path)).close()  # the shared log as the sync finds it: made, empty
    names = [a_path.name, b_path.name, log_path.name]
    out: dict[str, float] = {}
    for use in ("recorded", "replayed", "timed"):
        copy_files(start, start / use, names)
    recording.steps.clear()
    sync_pair(start / "recorded", names, recording)
    a_steps, b_steps = recording.steps[: recording.a_end], recording.steps[recording.a_end :]
    out["floor.A"], count_a = replay(start / "replayed", a_steps, detail)
    out["floor.B"], count_b = replay(start / "replayed", b_steps, detail)
    out["statements"] = count_a + count_b
    out["sync.A"], out["sync.B"] = sync_pair(start / "timed", names)
    with sqlite3.connect(str(start / "replayed" / names[1])) as check:
        assert check.execute("SELECT count(*) FROM items").fetchone()[0] == len(rows), "the replay did not apply"
    shutil.rmtree(start, ignore_errors=True)
    return out


def sync_pair(folder: Path, names: list[str], recording: Recording | None = None) -> tuple[float, float]:
    """``A.sync`` then ``B.sync`` on the files in ``folder``; their seconds. Only the syncs are recorded."""
    a = Device.open(str(folder / names[0]))
    b = Device.open(str(folder / names[1]))
    shared = SqlSharedLog(str(folder / names[2]))
    try:
        with recording.recording() if recording else contextlib.nullcontext():
            ra = a.sync(shared)
        if recording:
            recording.a_end = len(recording.steps)
        with recording.recording() if recording else contextlib.nullcontext():
            rb = b.sync(shared)
        assert rb.applied == ra.sent and rb.quarantined == 0, (ra, rb)
        return ra.seconds, rb.seconds
    finally:
        a.close()
        b.close()
        shared.close()


def start_up(folder: Path, repeats: int) -> tuple[float, float]:
    """Median seconds of a ``syncengine sync`` with nothing to do, and of a bare ``python -c 'import sqlite3'``."""
    c.compile_engine()
    a_path, _, log_path, _ = prepare(folder, [])
    command = [sys.executable, "-m", "syncengine", "sync", str(a_path), "--remote", str(log_path)]
    subprocess.run(command, check=True, capture_output=True)  # the first sync makes the log
    engine, bare = [], []
    for _ in range(repeats):
        engine.append(c.timed(lambda: subprocess.run(command, check=True, capture_output=True)))
        bare.append(c.timed(lambda: subprocess.run([sys.executable, "-c", "import sqlite3"], check=True)))
    return c.median(engine), c.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="inserts on A (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="20000 entries, 2 rounds")
    parser.add_argument("--dir", default=None, help="folder for the scratch SQLite files (default: system temp)")
    parser.add_argument("--detail", type=int, default=0, metavar="K", help="list the K statements the replay spends most on")
    args = parser.parse_args()
    n, repeats = (20_000, 2) if args.quick else (args.entries, args.repeats)
    print(f"bench_floor — {c.machine()}")
    rows = c.make_rows(n)
    recording = Recording()
    recording.install()
    samples: list[dict[str, float]] = []
    detail: dict[str, float] | None = {} if args.detail else None
    with c.workdir(args.dir) as folder:
        for r in range(repeats):
            s = one_round(folder, rows, recording, detail if r == repeats - 1 else None)
            samples.append(s)
            print(
                f"  round {r + 1}: sync A {s['sync.A']:.2f} + B {s['sync.B']:.2f} s; "
                f"floor A {s['floor.A']:.2f} + B {s['floor.B']:.2f} s ({int(s['statements'])} statements)"
            )
        engine_start, bare_start = start_up(folder, 5)

    def med(key: str) -> float:
        return c.median([s[key] for s in samples])

    sync, floor = med("sync.A") + med("sync.B"), med("floor.A") + med("floor.B")
    print(f"\n{n:,} entries A → shared log → B, {repeats} rounds (medians)")
    print(f"  {'':28s} {'A s':>7s} {'B s':>7s} {'A+B s':>7s} {'entries/s':>10s}")
    print(f"  {'sync (in process)':28s} {med('sync.A'):7.3f} {med('sync.B'):7.3f} {sync:7.3f} {n / sync:10,.0f}")
    print(f"  {'floor: the same SQL replayed':28s} {med('floor.A'):7.3f} {med('floor.B'):7.3f} {floor:7.3f} {n / floor:10,.0f}")
    print(f"  engine's Python: {sync - floor:.3f} s ({(sync - floor) / sync:.0%} of the sync); sync / floor {sync / floor:.2f}x")
    print(f"  process start: 'syncengine sync' with nothing to do {engine_start:.3f} s, bare python {bare_start:.3f} s")
    cli_floor = floor + 2 * bare_start
    cli_now = sync + 2 * engine_start
    print(
        f"  through the command line (A, then B): about {n / cli_now:,.0f} entries/s now "
        f"(sync + 2 starts); the floor with bare starts {n / cli_floor:,.0f} entries/s"
    )
    if detail:
        print(f"\nthe replay's {args.detail} costliest statements (last round, seconds summed by text; file: statement)")
        for key, seconds in sorted(detail.items(), key=lambda kv: -kv[1])[: args.detail]:
            print(f"  {seconds:6.3f}  {key}")


if __name__ == "__main__":
    main()
