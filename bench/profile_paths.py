"""cProfile of the end-to-end sync (A.sync, B.sync) and of the pure reconciler.

Prints the top functions by cumulative and by own ("tottime") time for each, and
optionally dumps .prof files for snakeviz / pstats.

    /work/venv/bin/python bench/profile_paths.py                 # 20k entries
    /work/venv/bin/python bench/profile_paths.py --entries 50000 --dump /tmp/prof
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sqlite3
from pathlib import Path

import _common as c
import bench_reconcile

from syncengine import Device, SqlSharedLog, reconcile


def show(profile: cProfile.Profile, title: str, top: int, dump: str | None, name: str) -> None:
    if dump:
        Path(dump).mkdir(parents=True, exist_ok=True)
        profile.dump_stats(str(Path(dump) / f"{name}.prof"))
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).strip_dirs().sort_stats(key)
        stats.print_stats(top)
        text = out.getvalue()
        body = text[text.find("   ncalls") :]
        print(f"\n=== {title}: top {top} by {key} ===\n{body.rstrip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--reconcile-entries", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", default=None, help="folder to write a.prof, b.prof, reconcile.prof into")
    args = parser.parse_args()
    rows = c.make_rows(args.entries)
    with c.workdir() as folder:
        for p in ("a", "b"):
            c.create_items(folder / f"{p}.sqlite")
        a = Device.init(str(folder / "a.sqlite"), ["items"], name="A")
        b = Device.init(str(folder / "b.sqlite"), ["items"], name="B")
        shared = SqlSharedLog(str(folder / "shared.sqlite"))
        with sqlite3.connect(str(folder / "a.sqlite")) as conn:
            conn.executemany(c.INSERT_ITEMS, rows)
        pa = cProfile.Profile()
        ra = pa.runcall(a.sync, shared)
        pb = cProfile.Profile()
        rb = pb.runcall(b.sync, shared)
        print(f"A.sync {ra.seconds:.2f}s {ra.timings}; B.sync {rb.seconds:.2f}s {rb.timings} (under the profiler)")
        show(pa, f"A.sync ({args.entries:,} entries: stamp + push)", args.top, args.dump, "a")
        show(pb, f"B.sync ({args.entries:,} entries: pull + reconcile)", args.top, args.dump, "b")
        for d in (a, b):
            d.close()
        shared.close()
    entries, states = bench_reconcile.build("mixed/populated", args.reconcile_entries)
    pr = cProfile.Profile()
    pr.runcall(reconcile, entries, states)
    show(pr, f"reconcile() ({args.reconcile_entries:,} mixed/populated entries)", 15, args.dump, "reconcile")


if __name__ == "__main__":
    main()
