"""End to end: N inserts on device A → SqlSharedLog → applied on device B, all SQLite files.

Each round uses fresh files: A and B (``Device.init`` on an ``items`` table) and the
shared log. The N rows are written to A with a raw ``executemany`` (captured by the
triggers; not part of the sync figure). Two figures come out of each round:

* **end to end** (the one the target is judged on): the devices run as they do in
  use, B in a process of its own syncing in a loop (as its scheduler would) while A
  shares; N / the time from A's start to B's last entry applied.
* **one after the other**: ``A.sync(log)`` (stamp + push), then ``B.sync(log)``
  (pull + reconcile + apply) in this process, with nothing overlapping; N / (A's
  seconds + B's seconds). Per-stage figures come from ``SyncReport.timings``.

The baseline, timed in the same round, is a raw ``sqlite3`` ``executemany`` of the
same N rows into a plain table in a fresh file (one transaction, with commit): the
least any way of landing these rows on B could cost. The ratio says how many times
that the whole sync costs.

The two use separate fresh files in the same round.

    /work/venv/bin/python bench/bench_end_to_end.py                    # 100k entries, 3 rounds
    /work/venv/bin/python bench/bench_end_to_end.py --quick            # 20k entries, 2 rounds
    /work/venv/bin/python bench/bench_end_to_end.py --one-after-other  # only the sequential figure
    /work/venv/bin/python bench/bench_end_to_end.py --one-after-other --cli  # and through 'syncengine sync'
    /work/venv/bin/python bench/bench_end_to_end.py --quick --json     # last line: one JSON object of the figures

Only the package's public API is used, so the script runs against other versions of the
engine too (``compare.py`` points ``PYTHONPATH`` at an older tree).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import _common as c

import syncengine
from syncengine import Device, SqlSharedLog, SyncOptions


def raw_baseline(folder: Path, rows: list[c.Row]) -> float:
    path = c.fresh_path(folder, "raw")
    c.create_items(path)
    conn = sqlite3.connect(str(path))
    try:
        return c.timed(lambda: (conn.executemany(c.INSERT_ITEMS, rows), conn.commit()))
    finally:
        conn.close()


def prepare(folder: Path, rows: list[c.Row]) -> tuple[Path, Path, Path, float]:
    """Fresh A (holding the captured rows), B and shared-log files; returns their paths and the capture time."""
    a_path, b_path, log_path = (c.fresh_path(folder, s) for s in ("a", "b", "shared"))
    c.create_items(a_path)
    c.create_items(b_path)
    Device.init(str(a_path), ["items"], name="A").close()
    Device.init(str(b_path), ["items"], name="B").close()
    conn = sqlite3.connect(str(a_path))
    capture = c.timed(lambda: (conn.executemany(c.INSERT_ITEMS, rows), conn.commit()))
    conn.close()
    return a_path, b_path, log_path, capture


def one_round(folder: Path, rows: list[c.Row], options: SyncOptions) -> dict[str, float]:
    a_path, b_path, log_path, capture = prepare(folder, rows)
    a = Device.open(str(a_path))
    b = Device.open(str(b_path))
    shared = SqlSharedLog(str(log_path))
    raw = raw_baseline(folder, rows)
    try:
        ra = a.sync(shared, options)
        rb = b.sync(shared, options)
        n = len(rows)
        assert ra.sent == n, ra
        assert rb.received == n and rb.applied == n and rb.quarantined == 0, rb
        with sqlite3.connect(str(b_path)) as check:
            assert check.execute("SELECT count(*) FROM items").fetchone()[0] == n
    finally:
        a.close()
        b.close()
        shared.close()
    return {
        "raw": raw,
        "capture": capture,
        "total": ra.seconds + rb.seconds,
        "A.sync": ra.seconds,
        "A.share": ra.timings.get("share", 0.0),
        "B.sync": rb.seconds,
        "B.receive": rb.timings.get("receive", 0.0),
        "B.reconcile": rb.timings.get("reconcile", 0.0),
    }


def cli_round(folder: Path, rows: list[c.Row]) -> dict[str, float]:
    """One after the other as a person runs it: ``syncengine sync`` on A, then on B, each a fresh process.

    ``python -m syncengine`` (the same engine ``PYTHONPATH`` gives this script); the
    seconds are each command's wall time, start-up and imports included, with the engine's
    bytecode compiled first (:func:`_common.compile_engine`).
    """
    c.compile_engine()
    a_path, b_path, log_path, _ = prepare(folder, rows)
    seconds = {}
    for side, path in (("A", a_path), ("B", b_path)):
        command = [sys.executable, "-m", "syncengine", "sync", str(path), "--remote", str(log_path), "--json"]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds[side] = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"syncengine sync on {side} failed (exit {done.returncode}): {done.stderr[-2000:]}")
        report = json.loads(done.stdout)
        assert report["sent" if side == "A" else "applied"] == len(rows), report
    return {"cli": seconds["A"] + seconds["B"], "cli.A": seconds["A"], "cli.B": seconds["B"]}


def _sync_b_until(
    b_path: str, log_path: str, n: int, options: SyncOptions, start: Event, done: Event, engine: str
) -> None:
    """B's process: from the start signal, sync in a loop until ``n`` entries are applied."""
    if syncengine.__file__ != engine:  # the spawned process must run the same engine as its parent
        raise RuntimeError(f"B's process imported {syncengine.__file__}, its parent {engine}")
    b = Device.open(b_path)
    shared = SqlSharedLog(log_path)
    applied = 0
    start.wait()
    while applied < n:
        report = b.sync(shared, options)
        applied += report.applied
        assert report.quarantined == 0, report
        if not report.received:
            time.sleep(0.005)  # nothing new yet: poll again soon, as a scheduler woken by A would
    done.set()
    b.close()
    shared.close()


def concurrent_round(folder: Path, rows: list[c.Row], options: SyncOptions) -> float:
    """A shares while B, in its own process, syncs in a loop; return the seconds until B has every entry."""
    a_path, b_path, log_path, _ = prepare(folder, rows)
    a = Device.open(str(a_path))
    shared = SqlSharedLog(str(log_path))
    context = multiprocessing.get_context("spawn")
    start, done = context.Event(), context.Event()
    child = context.Process(
        target=_sync_b_until,
        args=(str(b_path), str(log_path), len(rows), options, start, done, syncengine.__file__),
        daemon=True,
    )
    child.start()
    try:
        time.sleep(2.0)  # let B import and open its files before the clock starts
        t0 = time.perf_counter()
        start.set()
        report = a.sync(shared, options)
        assert report.sent == len(rows), report
        deadline = time.perf_counter() + 600
        while not done.wait(timeout=0.05):
            if not child.is_alive():
                raise RuntimeError(f"B's process ended (exit {child.exitcode}) before it had every entry")
            if time.perf_counter() > deadline:
                raise RuntimeError("B did not receive every entry within 10 minutes")
        seconds = time.perf_counter() - t0
    finally:
        child.join(timeout=30)
        a.close()
        shared.close()
    with sqlite3.connect(str(b_path)) as check:
        assert check.execute("SELECT count(*) FROM items").fetchone()[0] == len(rows)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="inserts on A (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="20000 entries, 2 rounds")
    parser.add_argument("--upload-batch", type=int, default=None, help="SyncOptions.upload_batch_size")
    parser.add_argument("--download-batch", type=int, default=None, help="SyncOptions.download_batch_size")
    parser.add_argument("--reconcile-batch", type=int, default=None, help="SyncOptions.reconcile_batch_size")
    parser.add_argument("--dir", default=None, help="folder for the scratch SQLite files (default: system temp)")
    parser.add_argument(
        "--one-after-other",
        action="store_true",
        help="skip the end-to-end run of A and B at once (two processes); time only A's sync, then B's",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="also time one after the other through the command line: 'syncengine sync' on A, then on B",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the key figures (medians) as one JSON object on the last line, for compare.py",
    )
    args = parser.parse_args()
    if args.quick:
        args.entries, args.repeats = min(args.entries, 20_000), min(args.repeats, 2)
    kwargs = {
        k: v
        for k, v in (
            ("upload_batch_size", args.upload_batch),
            ("download_batch_size", args.download_batch),
            ("reconcile_batch_size", args.reconcile_batch),
        )
        if v is not None
    }
    options = SyncOptions(**kwargs)
    print("bench_end_to_end —", c.machine())
    print(
        f"options: upload_batch_size={options.upload_batch_size}, download_batch_size={options.download_batch_size}, "
        f"reconcile_batch_size={options.reconcile_batch_size}"
    )
    rows = c.make_rows(args.entries)
    n = len(rows)
    results: list[dict[str, float]] = []
    with c.workdir(args.dir) as folder:
        for r in range(args.repeats):
            res = one_round(folder, rows, options)
            if args.cli:
                res.update(cli_round(folder, rows))
            if not args.one_after_other:
                res["concurrent"] = concurrent_round(folder, rows, options)
            results.append(res)
            print(
                f"  round {r + 1}: sync {res['total']:.2f} s ({n / res['total']:,.0f} entries/s), "
                f"raw executemany {res['raw']:.3f} s, ratio {res['total'] / res['raw']:.1f}x"
                + ("" if args.one_after_other else f"; end to end (at once) {res['concurrent']:.2f} s")
            )
    print(f"\n{n:,} entries A → shared log → B, {len(results)} rounds (medians; min..max)")
    print(f"  {'stage':12} {'seconds':>9} {'entries/s':>11}  {'share of sync':>13}")
    total_med = c.median([x["total"] for x in results])
    for key in ("total", "A.sync", "A.share", "B.sync", "B.receive", "B.reconcile", "capture", "raw"):
        ts = [x[key] for x in results]
        share = f"{c.median(ts) / total_med:12.0%}" if key not in ("capture", "raw") else f"{'-':>13}"
        label = {"raw": "raw (base)", "capture": "capture on A"}.get(key, key)
        print(f"  {label:12} {c.median(ts):9.3f} {n / c.median(ts):11,.0f}  {share}  [{c.spread(ts)}]")
    rate = n / total_med
    ratios = [x["total"] / x["raw"] for x in results]
    print(
        f"\none after the other (A's sync, then B's): {rate:,.0f} entries/s; "
        f"{c.median(ratios):.1f}x the raw executemany of the same rows (per-round median)"
    )
    print(
        f"capture on A (trigger-captured executemany, not in the sync figure): {c.median([x['capture'] for x in results]):.3f} s"
    )
    if args.cli:
        cli = [x["cli"] for x in results]
        print(
            f"through the command line ('syncengine sync' on A, then on B, start-up included): "
            f"{n / c.median(cli):,.0f} entries/s [{c.spread(cli)} s; A {c.median([x['cli.A'] for x in results]):.2f} s, "
            f"B {c.median([x['cli.B'] for x in results]):.2f} s]  " + c.verdict(n / c.median(cli), 40_000, higher_is_better=True)
        )
    if not args.one_after_other:
        together = c.median([x["concurrent"] for x in results])
        print(
            f"end to end (A and B at once, each in its own process, B syncing in a loop): {n / together:,.0f} entries/s "
            f"[{c.spread([x['concurrent'] for x in results])} s]; "
            f"{c.median([x['concurrent'] / x['raw'] for x in results]):.1f}x the raw executemany  "
            + c.verdict(n / together, 40_000, higher_is_better=True)
        )
    if args.json:
        concurrent = [x["concurrent"] for x in results if "concurrent" in x]
        c.emit_json(
            "end_to_end",
            {
                "entries": n,
                "rounds": len(results),
                "two_process_eps": n / c.median(concurrent) if concurrent else None,
                "one_after_other_eps": rate,
                "cli_eps": n / c.median([x["cli"] for x in results]) if args.cli else None,
                "a_seconds": c.median([x["A.sync"] for x in results]),
                "b_seconds": c.median([x["B.sync"] for x in results]),
            },
        )


if __name__ == "__main__":
    main()
