"""verify and repair: the state check's cost against a plain read of the table, and repair throughput.

* **verify**: a device holding N rows of ``items`` (SQLite file) computes and publishes
  its digest (``Device.verify(remote, sync=False)``, remote an ``SqlSharedLog`` file);
  the baseline, in the same process and round, alternating, is a plain
  ``SELECT * FROM items`` read to the end through SQLAlchemy (the least any check of the
  rows could cost). Peak memory of each, in a subprocess of its own (VmHWM), since a
  process's peak never goes down.
* **repair**: device A shares N rows to B through a shared-log file; then
  ``A.repair(remote, everything=True)`` restates every row and shares it; entries per
  second over the repair's whole time (restate, push), and B's next sync (which
  finds every row already held: nothing changes, nothing is a conflict).

    .venv/bin/python bench/bench_verify.py                     # 1,000,000 rows verify, 100,000 repair, 3 rounds
    .venv/bin/python bench/bench_verify.py --quick             # 100,000 / 20,000, 2 rounds
    .venv/bin/python bench/bench_verify.py --json              # last line: one JSON object of the figures
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import _common as c
import sqlalchemy as sa

from syncengine import Device, SqlSharedLog


def build(folder: Path, n: int) -> tuple[Path, Path]:
    """A device file holding n rows (sync installed without a snapshot), synced once so it has a position."""
    path, log = c.fresh_path(folder, "device"), c.fresh_path(folder, "log")
    c.create_items(path)
    conn = sqlite3.connect(str(path))
    for start in range(0, n, 100_000):
        conn.executemany(c.INSERT_ITEMS, c.make_rows(min(100_000, n - start), seed=start + 1))
    conn.commit()
    conn.close()
    device = Device.init(str(path), ["items"], name="bench", snapshot=False)
    shared = SqlSharedLog(str(log))
    device.sync(shared)
    shared.close()
    device.close()
    return path, log


def time_verify(path: Path, log: Path) -> float:
    device = Device.open(str(path))
    shared = SqlSharedLog(str(log))
    try:
        t0 = time.perf_counter()
        result = device.verify(shared, sync=False)
        seconds = time.perf_counter() - t0
        assert result.position is not None, result
        return seconds
    finally:
        shared.close()
        device.close()


def time_select(path: Path) -> float:
    engine = sa.create_engine(f"sqlite:///{path}")
    table = sa.Table("items", sa.MetaData(), autoload_with=engine)
    try:
        t0 = time.perf_counter()
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=5000).execute(sa.select(table))
            count = sum(len(part) for part in result.partitions())
        seconds = time.perf_counter() - t0
        assert count > 0
        return seconds
    finally:
        engine.dispose()


def child(mode: str, path: str, log: str) -> None:
    """Run one side in this (fresh) process and print its peak RSS."""
    if mode == "verify":
        time_verify(Path(path), Path(log))
    else:
        time_select(Path(path))
    print(f"{c.peak_rss_mb():.1f}")


def peak(mode: str, path: Path, log: Path) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path), str(log)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def repair_round(folder: Path, n: int) -> tuple[float, float, int]:
    """A shares n rows to B; then A repairs everything. Returns (repair seconds, B's sync seconds, rows restated)."""
    a_path, b_path, log = (c.fresh_path(folder, s) for s in ("a", "b", "log"))
    c.create_items(a_path)
    c.create_items(b_path)
    Device.init(str(a_path), ["items"], name="A").close()
    Device.init(str(b_path), ["items"], name="B").close()
    conn = sqlite3.connect(str(a_path))
    conn.executemany(c.INSERT_ITEMS, c.make_rows(n))
    conn.commit()
    conn.close()
    a, b = Device.open(str(a_path)), Device.open(str(b_path))
    shared = SqlSharedLog(str(log))
    try:
        a.sync(shared)
        b.sync(shared)
        t0 = time.perf_counter()
        done = a.repair(shared, everything=True)
        repair = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = b.sync(shared)
        after = time.perf_counter() - t0
        assert report.conflicts == 0 and report.applied == done.restated, report
        return repair, after, done.restated
    finally:
        shared.close()
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the verified table")
    parser.add_argument("--repair-rows", type=int, default=100_000, help="rows shared then repaired")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 / 20,000 rows, 2 rounds")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.quick:
        args.rows, args.repair_rows, args.repeats = 100_000, 20_000, 2
    print(c.machine())
    figures: dict[str, float] = {}
    with c.workdir(args.dir) as folder:
        print(f"building a device of {args.rows:,} rows…", flush=True)
        path, log = build(folder, args.rows)
        ours, base = [], []
        for r in range(args.repeats):
            pair = [("verify", lambda: time_verify(path, log)), ("select", lambda: time_select(path))]
            if r % 2:
                pair.reverse()
            got = {name: fn() for name, fn in pair}
            ours.append(got["verify"])
            base.append(got["select"])
            print(f"  round {r + 1}: verify {got['verify']:.2f} s, plain SELECT {got['select']:.2f} s", flush=True)
        ratios = [o / b for o, b in zip(ours, base, strict=True)]
        mem_verify, mem_select = peak("verify", path, log), peak("select", path, log)
        print(
            f"verify of {args.rows:,} rows: {c.median(ours):.2f} s {c.spread(ours)}, "
            f"{args.rows / c.median(ours):,.0f} rows/s; plain SELECT {c.median(base):.2f} s; "
            f"ratio {c.median(ratios):.2f}x (median of rounds)"
        )
        print(f"peak RSS: verify {mem_verify:.0f} MB, plain SELECT {mem_select:.0f} MB")
        figures.update(
            verify_s=c.median(ours),
            select_s=c.median(base),
            verify_ratio=c.median(ratios),
            verify_rss_mb=mem_verify,
            select_rss_mb=mem_select,
        )
        repairs, afters = [], []
        for r in range(args.repeats):
            repair, after, restated = repair_round(folder, args.repair_rows)
            repairs.append(restated / repair)
            afters.append(restated / after)
            print(
                f"  repair round {r + 1}: {restated:,} rows in {repair:.2f} s; B took them in {after:.2f} s", flush=True
            )
        print(
            f"repair --all of {args.repair_rows:,} rows: {c.median(repairs):,.0f} entries/s {c.spread(repairs)}; "
            f"the other device's sync after it: {c.median(afters):,.0f} entries/s"
        )
        figures.update(repair_entries_per_s=c.median(repairs), repair_received_per_s=c.median(afters))
    if args.json:
        c.emit_json("verify", figures)


if __name__ == "__main__":
    main()
