"""End to end: N inserts on device A → SqlSharedLog → applied on device B, all SQLite files.

Each round uses fresh files: A and B (``Device.init`` on an ``items`` table) and the
shared log. The N rows are written to A with a raw ``executemany`` (captured by the
triggers; not part of the sync figure), then the timed part is ``A.sync(log)``
(stamp + push) followed by ``B.sync(log)`` (pull + reconcile + apply). Throughput is
N / (A's sync seconds + B's sync seconds); per-stage figures come from
``SyncReport.timings``.

The baseline, timed in the same round, is a raw ``sqlite3`` ``executemany`` of the
same N rows into a plain table in a fresh file (one transaction, with commit): the
least any way of landing these rows on B could cost. The ratio says how many times
that the whole sync costs.

    /work/venv/bin/python bench/bench_end_to_end.py              # 100k entries, 3 rounds
    /work/venv/bin/python bench/bench_end_to_end.py --quick      # 20k entries, 2 rounds
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import _common as c

from syncengine import Device, SqlSharedLog, SyncOptions


def raw_baseline(folder: Path, rows: list[c.Row]) -> float:
    path = c.fresh_path(folder, "raw")
    c.create_items(path)
    conn = sqlite3.connect(str(path))
    try:
        return c.timed(lambda: (conn.executemany(c.INSERT_ITEMS, rows), conn.commit()))
    finally:
        conn.close()


def one_round(folder: Path, rows: list[c.Row], options: SyncOptions) -> dict[str, float]:
    a_path, b_path, log_path = (c.fresh_path(folder, s) for s in ("a", "b", "shared"))
    c.create_items(a_path)
    c.create_items(b_path)
    a = Device.init(str(a_path), ["items"], name="A")
    b = Device.init(str(b_path), ["items"], name="B")
    shared = SqlSharedLog(str(log_path))
    conn = sqlite3.connect(str(a_path))
    capture = c.timed(lambda: (conn.executemany(c.INSERT_ITEMS, rows), conn.commit()))
    conn.close()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="inserts on A (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="20000 entries, 2 rounds")
    parser.add_argument("--upload-batch", type=int, default=None, help="SyncOptions.upload_batch_size")
    parser.add_argument("--download-batch", type=int, default=None, help="SyncOptions.download_batch_size")
    parser.add_argument("--reconcile-batch", type=int, default=None, help="SyncOptions.reconcile_batch_size")
    parser.add_argument("--dir", default=None, help="folder for the scratch SQLite files (default: system temp)")
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
            results.append(res)
            print(
                f"  round {r + 1}: sync {res['total']:.2f} s ({n / res['total']:,.0f} entries/s), "
                f"raw executemany {res['raw']:.3f} s, ratio {res['total'] / res['raw']:.1f}x"
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
    print(f"\nend to end: {rate:,.0f} entries/s  " + c.verdict(rate, 40_000, higher_is_better=True))
    print(f"sync vs raw executemany of the same rows: {c.median(ratios):.1f}x slower (per-round median)")
    print(
        "capture on A (trigger-captured executemany, not in the sync figure): "
        f"{c.median([x['capture'] for x in results]):.3f} s"
    )


if __name__ == "__main__":
    main()
