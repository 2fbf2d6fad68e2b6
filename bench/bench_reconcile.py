"""The pure reconciler alone, and the peak memory of a large sync.

Part 1 – planning speed. ``syncengine.reconcile.reconcile(entries, states)`` on
synthetic entries (built before the clock starts), in four scenarios:

* ``inserts/empty``        N inserts of new rows, no states;
* ``ins+upd/empty``        N/2 new rows, each an insert and a later update;
* ``updates/populated``    N updates of known rows (¾ newer than the row, ¼ older: lose);
* ``mixed/populated``      N/2 inserts of new rows + N/2 updates of known rows.

The baseline, timed in the same rounds, is a naive planner any Python reconciler
must at least match: group the entries by row and fold each entry's data into a
copy of the row's values (no versions, no registers). Ratios are ours / baseline.

Part 2 – memory. A sync of M entries (default 1,000,000) from device A to device B
through an SQLite ``SqlSharedLog``; each side runs in its own subprocess, which
reports its peak RSS (``VmHWM``, the kernel's high-water mark) after its sync (the rows
are written into A by a third process, so A's figure is its sync's). Target: each
side ≤ 100 MB (issue 11), not growing with M.

    /work/venv/bin/python bench/bench_reconcile.py              # 200k entries x 5; 1M-entry memory run
    /work/venv/bin/python bench/bench_reconcile.py --quick      # under a minute
    /work/venv/bin/python bench/bench_reconcile.py --skip-memory --entries 500000
    /work/venv/bin/python bench/bench_reconcile.py --quick --json   # last line: one JSON object of the figures

Only the package's public API is used, so the script runs against other versions of the
engine too (``compare.py`` points ``PYTHONPATH`` at an older tree).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import _common as c

from syncengine import Device, Entry, HybridClock, Op, RowState, SqlSharedLog, SyncOptions, reconcile

DEV_A = "a" * 32
DEV_B = "b" * 32
BASE_MS = 1_700_000_000_000

Scenario = tuple[list[Entry], dict[tuple[str, tuple[Any, ...]], RowState]]


# -- synthetic input ------------------------------------------------------------------------


def _row_values(i: int, key: str) -> dict[str, Any]:
    return {"id": key, "name": f"item number {i}", "qty": i % 1000, "price": (i % 9973) / 7, "note": None}


def _state_for(i: int, key: str, version: str) -> RowState:
    values = _row_values(i, key)
    return RowState(exists=version, alive=True, fields={col: version for col in values}, values=values)


def build(kind: str, n: int, seed: int = 7) -> Scenario:
    rnd = random.Random(seed)
    clock_a, clock_b = HybridClock(DEV_A, BASE_MS), HybridClock(DEV_B, BASE_MS)
    entries: list[Entry] = []
    states: dict[tuple[str, tuple[Any, ...]], RowState] = {}

    def insert(i: int) -> None:
        key = f"k{i:09d}"
        version = clock_a.tick(BASE_MS + i)
        entries.append(Entry(version, DEV_A, "items", (key,), Op.INSERT, _row_values(i, key), None, {}))

    def known(i: int) -> tuple[str, str]:
        key = f"u{i:09d}"
        version = clock_b.tick(BASE_MS + 500_000 + i)
        states[("items", (key,))] = _state_for(i, key, version)
        return key, version

    def update(i: int, key: str, newer: bool, base_version: str) -> None:
        version = clock_a.tick(BASE_MS + (1_000_000 if newer else 0) + i)
        data = {"qty": rnd.randrange(1000), "note": f"edited {i}"}
        entries.append(
            Entry(
                version,
                DEV_A,
                "items",
                (key,),
                Op.UPDATE,
                data,
                {"qty": 0, "note": None},
                {c: base_version for c in data},
            )
        )

    if kind == "inserts/empty":
        for i in range(n):
            insert(i)
    elif kind == "ins+upd/empty":
        for i in range(n // 2):
            insert(i)
            update(i, f"k{i:09d}", True, entries[-1].version)
    elif kind == "updates/populated":
        for i in range(n):
            key, version = known(i)
            update(i, key, i % 4 != 0, version)
    elif kind == "mixed/populated":
        for i in range(n // 2):
            insert(i)
            key, version = known(i)
            update(i, key, True, version)
    else:  # pragma: no cover
        raise ValueError(kind)
    rnd.shuffle(entries)  # the reconciler must not depend on arrival order
    return entries, states


SCENARIOS = ["inserts/empty", "ins+upd/empty", "updates/populated", "mixed/populated"]


# -- the baseline -----------------------------------------------------------------------------


def naive(
    entries: Sequence[Entry], local: Mapping[tuple[str, tuple[Any, ...]], RowState]
) -> list[tuple[Any, dict[str, Any]]]:
    """Group by row and fold data into a copy of the values: the least a planner does."""
    by_row: dict[tuple[str, tuple[Any, ...]], list[Entry]] = {}
    for e in entries:
        by_row.setdefault((e.table, e.pk), []).append(e)
    out = []
    for key, es in by_row.items():
        before = local.get(key)
        values = dict(before.values) if before is not None else {}
        for e in es:
            values.update(e.data)
        out.append((key, values))
    return out


def ours(entries: Sequence[Entry], local: Mapping[tuple[str, tuple[Any, ...]], RowState]) -> Any:
    return reconcile(entries, local)


def time_call(fn: Callable[[Sequence[Entry], Any], Any], scenario: Scenario, *, gc_on: bool = True) -> float:
    entries, states = scenario
    gc.collect()
    if not gc_on:
        gc.disable()
    try:
        t0 = time.perf_counter()
        result = fn(entries, states)
        elapsed = time.perf_counter() - t0
    finally:
        gc.enable()
    del result
    return elapsed


def planning(n: int, repeats: int, scenarios: list[str]) -> dict[str, float]:
    """Time the scenarios; return each one's median entries/s."""
    print(f"\nplanning: reconcile() on {n:,} synthetic entries, {repeats} rounds (medians; min..max)")
    print(f"  {'scenario':18} {'ours s':>8} {'entries/s':>11} {'naive s':>8} {'ratio':>7} {'gc off':>10}")
    rates: dict[str, float] = {}
    for kind in scenarios:
        scenario = build(kind, n)
        # sanity: the plan covers every row once
        plan = reconcile(*scenario)
        assert len(plan.rows) == len({e.key for e in scenario[0]})
        del plan
        t_ours: list[float] = []
        t_base: list[float] = []
        t_nogc: list[float] = []
        for r in range(repeats):
            pair = [(ours, t_ours), (naive, t_base)]
            for fn, sink in pair if r % 2 == 0 else pair[::-1]:
                sink.append(time_call(fn, scenario))
            t_nogc.append(time_call(ours, scenario, gc_on=False))
        ratios = [a / b for a, b in zip(t_ours, t_base, strict=True)]
        rate = len(scenario[0]) / c.median(t_ours)
        rates[kind] = rate
        print(
            f"  {kind:18} {c.median(t_ours):8.3f} {rate:11,.0f} {c.median(t_base):8.3f} {c.median(ratios):6.1f}x"
            f" {len(scenario[0]) / c.median(t_nogc):10,.0f}"
            f"  [{c.spread(t_ours)}]  " + c.verdict(rate, 200_000, higher_is_better=True)
        )
        del scenario
        gc.collect()
    print(f"  slowest scenario: {min(rates.values()):,.0f} entries/s")
    print("  (gc off = ours in entries/s with the cyclic garbage collector disabled during the call)")
    return rates


# -- memory: one subprocess per side ----------------------------------------------------------------


def child_capture(folder: Path, m: int, chunk: int) -> dict[str, Any]:
    """Write the M rows into A (captured by its triggers), in a process of its own: A's peak is its sync's."""
    a_path = folder / "a.sqlite"
    c.create_items(a_path)
    Device.init(str(a_path), ["items"], name="A").close()
    conn = sqlite3.connect(str(a_path))
    t0 = time.perf_counter()
    for start in range(0, m, chunk):  # generate rows lazily: the row list must not dominate RSS
        rows = c.make_rows(min(chunk, m - start), seed=start + 1)
        conn.executemany(c.INSERT_ITEMS, rows)
    conn.commit()
    conn.close()
    return {"capture_s": time.perf_counter() - t0}


def child_a(folder: Path, m: int) -> dict[str, Any]:
    a = Device.open(str(folder / "a.sqlite"))
    rss_before = c.peak_rss_mb()
    shared = SqlSharedLog(str(folder / "shared.sqlite"))
    report = a.sync(shared)
    assert report.sent == m, report
    a.close()
    shared.close()
    return {
        **c.engine_info(),
        "side": "A",
        "sync_s": report.seconds,
        "timings": report.timings,
        "rss_before_sync_mb": rss_before,
        "peak_rss_mb": c.peak_rss_mb(),
    }


def child_b(folder: Path, m: int) -> dict[str, Any]:
    b_path = folder / "b.sqlite"
    c.create_items(b_path)
    b = Device.init(str(b_path), ["items"], name="B")
    shared = SqlSharedLog(str(folder / "shared.sqlite"))
    rss_before = c.peak_rss_mb()
    report = b.sync(shared, SyncOptions())
    assert report.applied == m and report.quarantined == 0, report
    with sqlite3.connect(str(b_path)) as check:
        assert check.execute("SELECT count(*) FROM items").fetchone()[0] == m
    b.close()
    shared.close()
    return {
        **c.engine_info(),
        "side": "B",
        "sync_s": report.seconds,
        "timings": report.timings,
        "rss_before_sync_mb": rss_before,
        "peak_rss_mb": c.peak_rss_mb(),
    }


def run_child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"child {args[1]} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory(m: int, base: str | None) -> dict[str, Any]:
    """Run A's and B's sync of ``m`` entries in subprocesses; return their peak RSS and sync seconds."""
    print(f"\nmemory: sync of {m:,} entries A → SqlSharedLog → B, one subprocess per side (peak RSS = VmHWM)")
    with c.workdir(base) as folder:
        captured = run_child(["--_child", "capture", "--_folder", str(folder), "--memory-entries", str(m)])
        ra = {**run_child(["--_child", "A", "--_folder", str(folder), "--memory-entries", str(m)]), **captured}
        print(f"  A done: {json.dumps(ra)}", flush=True)
        rb = run_child(["--_child", "B", "--_folder", str(folder), "--memory-entries", str(m)])
    for r in (ra, rb):
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in r["timings"].items() if v >= 0.05)
        extra = f", capture {r['capture_s']:.1f}s" if "capture_s" in r else ""
        print(
            f"  {r['side']}: peak RSS {r['peak_rss_mb']:.0f} MB (before its sync: {r['rss_before_sync_mb']:.0f} MB); "
            f"sync {r['sync_s']:.1f}s = {m / r['sync_s']:,.0f} entries/s ({stages}{extra})"
        )
    for r in (ra, rb):
        print(f"  {r['side']} peak RSS {r['peak_rss_mb']:.0f} MB  " + c.verdict(r["peak_rss_mb"], 100, higher_is_better=False))
    here = c.engine_info()
    for r in (ra, rb):  # the children must have run the engine this process imported
        if r["syncengine"] != here["syncengine"] or r["syncengine_stray"]:
            sys.exit(f"child {r['side']} imported {r['syncengine']} (stray {r['syncengine_stray']}), not {here}")
    return {
        "memory_entries": m,
        "a_peak_rss_mb": ra["peak_rss_mb"],
        "b_peak_rss_mb": rb["peak_rss_mb"],
        "a_sync_s": ra["sync_s"],
        "b_sync_s": rb["sync_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=200_000, help="entries per planning run (default 200000)")
    parser.add_argument("--repeats", type=int, default=5, help="planning rounds per scenario (default 5)")
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="only these planning scenarios")
    parser.add_argument("--memory-entries", type=int, default=1_000_000, help="entries in the memory sync (default 1M)")
    parser.add_argument("--skip-memory", action="store_true", help="planning only")
    parser.add_argument("--skip-planning", action="store_true", help="memory only")
    parser.add_argument("--quick", action="store_true", help="50k planning entries x 3, 50k-entry memory sync")
    parser.add_argument("--dir", default=None, help="folder for the scratch SQLite files (default: system temp)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the key figures (medians, peak RSS) as one JSON object on the last line, for compare.py",
    )
    parser.add_argument("--_child", choices=["capture", "A", "B"], help=argparse.SUPPRESS)
    parser.add_argument("--_folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        folder = Path(args._folder)
        children = {
            "capture": lambda: child_capture(folder, args.memory_entries, 50_000),
            "A": lambda: child_a(folder, args.memory_entries),
            "B": lambda: child_b(folder, args.memory_entries),
        }
        result = children[args._child]()
        print(json.dumps(result))
        return
    if args.quick:
        args.entries, args.repeats = min(args.entries, 50_000), min(args.repeats, 3)
        args.memory_entries = min(args.memory_entries, 50_000)
    print("bench_reconcile —", c.machine())
    figures: dict[str, Any] = {}
    if not args.skip_planning:
        rates = planning(args.entries, args.repeats, args.scenario or SCENARIOS)
        figures.update(entries=args.entries, rounds=args.repeats, reconcile_eps=rates)
    if not args.skip_memory:
        figures.update(memory(args.memory_entries, args.dir))
    if args.json:
        c.emit_json("reconcile", figures)


if __name__ == "__main__":
    main()
