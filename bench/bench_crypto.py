"""Encryption's cost: end to end with encryption against without, in the same run; and key derivation.

Each round, on fresh SQLite files for each variant: N inserts captured on A, then
``A.sync(log)`` and ``B.sync(log)`` one after the other (the figure is N / (A's
seconds + B's seconds)), once with both devices encrypting (set up and joined
before the clock starts) and once without. The variants' order alternates per
round; the ratio is the median of the per-round ratios (encrypted rate / plain
rate; the target is at least 0.8). The script checks that B ends with N rows.

Key derivation: Argon2id at the cost ``syncengine key setup`` uses, timed 5 times.

    .venv/bin/python bench/bench_crypto.py            # 100k entries, 5 rounds
    .venv/bin/python bench/bench_crypto.py --quick    # 20k entries, 3 rounds
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import _common as c

from syncengine import Device, SqlSharedLog
from syncengine.crypto import DEFAULT_COST, Keyring

CHEAP = {"memory_kib": 1024, "iterations": 1, "lanes": 1}  # the passphrase is not what is measured here


def one_round(folder: Path, rows: list[c.Row], encrypted: bool) -> float:
    a_path, b_path, log_path = (c.fresh_path(folder, s) for s in ("a", "b", "shared"))
    for path, name in ((a_path, "A"), (b_path, "B")):
        c.create_items(path)
        Device.init(str(path), ["items"], name=name).close()
    a, b = Device.open(str(a_path)), Device.open(str(b_path))
    shared = SqlSharedLog(str(log_path))
    try:
        if encrypted:
            a.setup_encryption(shared, "bench passphrase", cost=CHEAP)
            b.join_encryption(shared, "bench passphrase")
        conn = sqlite3.connect(str(a_path))
        conn.executemany(c.INSERT_ITEMS, rows)
        conn.commit()
        conn.close()
        ra = a.sync(shared)
        rb = b.sync(shared)
        assert ra.sent == len(rows) and rb.applied == len(rows) and rb.quarantined == 0, (ra, rb)
        with sqlite3.connect(str(b_path)) as check:
            assert check.execute("SELECT count(*) FROM items").fetchone()[0] == len(rows)
        return ra.seconds + rb.seconds
    finally:
        a.close()
        b.close()
        shared.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20000 entries, 3 rounds")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.repeats = min(args.entries, 20_000), min(args.repeats, 3)
    print("bench_crypto —", c.machine())
    with tempfile.TemporaryDirectory() as keys:
        os.environ["SYNCENGINE_CONFIG_DIR"] = keys  # the bench's keys never reach the system keyring
        rows = c.make_rows(args.entries)
        n = len(rows)
        plain, sealed, ratios = [], [], []
        with c.workdir() as folder:
            for r in range(args.repeats):
                order = (False, True) if r % 2 == 0 else (True, False)
                got = {e: one_round(folder, rows, e) for e in order}
                plain.append(got[False])
                sealed.append(got[True])
                ratios.append(got[False] / got[True])
                print(
                    f"  round {r + 1}: plain {n / got[False]:,.0f} entries/s, encrypted {n / got[True]:,.0f} entries/s, "
                    f"ratio {got[False] / got[True]:.2f}"
                )
        print(f"\n{n:,} entries A → shared log → B, one after the other, {args.repeats} rounds (medians; min..max)")
        print(f"  plain      {n / c.median(plain):>9,.0f} entries/s  [{c.spread(plain)} s]")
        print(f"  encrypted  {n / c.median(sealed):>9,.0f} entries/s  [{c.spread(sealed)} s]")
        print(
            f"  encrypted / plain throughput: {c.median(ratios):.2f}  "
            + c.verdict(c.median(ratios), 0.8, higher_is_better=True)
        )

    times = []
    for _ in range(5):
        started = time.perf_counter()
        Keyring.create("a passphrase a person would type", cost=DEFAULT_COST)
        times.append(time.perf_counter() - started)
    cost = DEFAULT_COST
    print(
        f"\nkey derivation (Argon2id, {cost['memory_kib'] // 1024} MiB, {cost['iterations']} passes, "
        f"{cost['lanes']} lanes): {c.median(times):.3f} s  [{c.spread(times)} s]"
    )


if __name__ == "__main__":
    main()
