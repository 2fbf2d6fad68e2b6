"""Pairing: rows per second of pair + join on loopback, against a raw copy and against replaying the shared log.

Setup: a device holding N rows of ``items`` (SQLite file), synced once to a shared-log
file (so the log holds the N inserts). Per round, alternating the order:

* **pair + join**: ``Device.pair`` serves in a process of its own (as the sending device
  would), ``syncengine.join`` makes a fresh database from its code in this process (TLS
  over 127.0.0.1), the time from the join's start to its end (threads of one process would
  fight over the GIL);
* **raw copy** (the floor): ``sqlite3`` reads the N rows of the sender's table and
  ``executemany``-inserts them into a plain table of the same shape in a fresh file
  (one transaction, committed);
* **replay**: a fresh device (``Device.init`` on an empty ``items``) syncs from the
  shared log, receiving and applying the N inserts.

Peak memory (VmHWM) of the sender and the joiner, each in a process of its own
(``--child``), at N and at N/4: bounded means it does not grow with N.

    .venv/bin/python bench/bench_pairing.py              # 1,000,000 rows, 3 rounds
    .venv/bin/python bench/bench_pairing.py --quick      # 100,000 rows, 2 rounds
    .venv/bin/python bench/bench_pairing.py --json       # last line: one JSON object of the figures
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import _common as c

from syncengine import Device, SqlSharedLog, join


def build(folder: Path, n: int) -> tuple[Path, Path]:
    sender, log = c.fresh_path(folder, "sender"), c.fresh_path(folder, "log")
    c.create_items(sender)
    conn = sqlite3.connect(str(sender))
    for start in range(0, n, 100_000):
        conn.executemany(c.INSERT_ITEMS, c.make_rows(min(100_000, n - start), seed=start + 1))
    conn.commit()
    conn.close()
    device = Device.init(str(sender), ["items"], name="sender")
    shared = SqlSharedLog(str(log))
    device.sync(shared)
    shared.close()
    device.close()
    return sender, log


def pair_and_join(folder: Path, sender: Path) -> float:
    """The sender in a process of its own (as a device would be), the joiner here; the join's time."""
    serving = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", str(sender), "-"], stdout=subprocess.PIPE, text=True
    )
    assert serving.stdout is not None
    code = serving.stdout.readline().strip()
    t0 = time.perf_counter()
    report = join(str(c.fresh_path(folder, "joiner")), code)
    seconds = time.perf_counter() - t0
    serving.communicate(timeout=600)
    assert report.received > 0, report
    return seconds


def raw_copy(folder: Path, sender: Path) -> float:
    target = c.fresh_path(folder, "raw")
    c.create_items(target)
    t0 = time.perf_counter()
    source = sqlite3.connect(str(sender))
    out = sqlite3.connect(str(target))
    out.executemany(c.INSERT_ITEMS, source.execute("SELECT id, name, qty, price, note FROM items"))
    out.commit()
    seconds = time.perf_counter() - t0
    source.close()
    out.close()
    return seconds


def replay(folder: Path, log: Path) -> float:
    path = c.fresh_path(folder, "replay")
    c.create_items(path)
    device = Device.init(str(path), ["items"], name="replay")
    shared = SqlSharedLog(str(log))
    try:
        t0 = time.perf_counter()
        report = device.sync(shared)
        seconds = time.perf_counter() - t0
        assert report.applied > 0, report
        return seconds
    finally:
        shared.close()
        device.close()


def child(mode: str, path: str, code_or_none: str) -> None:
    if mode == "serve":
        device = Device.open(path)
        pairing = device.pair(host="127.0.0.1")
        print(pairing.code, flush=True)
        pairing.serve()
    else:
        join(path, code_or_none)
    print(f"{c.peak_rss_mb():.1f}", flush=True)


def peaks(folder: Path, sender: Path) -> tuple[float, float]:
    """Peak RSS of the sender and of the joiner, each in its own process."""
    serving = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", str(sender), "-"], stdout=subprocess.PIPE, text=True
    )
    assert serving.stdout is not None
    code = serving.stdout.readline().strip()
    joining = subprocess.run(
        [sys.executable, __file__, "--child", "join", str(c.fresh_path(folder, "mem")), code],
        capture_output=True,
        text=True,
        check=True,
    )
    out, _ = serving.communicate(timeout=600)
    return float(out.strip().splitlines()[-1]), float(joining.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 2 rounds")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.quick:
        args.rows, args.repeats = 100_000, 2
    print(c.machine())
    with c.workdir(args.dir) as folder:
        print(f"building a sender of {args.rows:,} rows and its shared log…", flush=True)
        sender, log = build(folder, args.rows)
        times: dict[str, list[float]] = {"pair": [], "raw": [], "replay": []}
        for r in range(args.repeats):
            runs = [
                ("pair", lambda: pair_and_join(folder, sender)),
                ("raw", lambda: raw_copy(folder, sender)),
                ("replay", lambda: replay(folder, log)),
            ]
            if r % 2:
                runs.reverse()
            got = {name: fn() for name, fn in runs}
            for name, seconds in got.items():
                times[name].append(seconds)
            print(
                f"  round {r + 1}: pair+join {got['pair']:.2f} s, raw copy {got['raw']:.2f} s, replay {got['replay']:.2f} s",
                flush=True,
            )
        pair, raw, rep = (c.median(times[k]) for k in ("pair", "raw", "replay"))
        vs_raw = c.median([p / r for p, r in zip(times["pair"], times["raw"], strict=True)])
        vs_replay = c.median([r / p for p, r in zip(times["pair"], times["replay"], strict=True)])
        print(
            f"pair + join of {args.rows:,} rows: {pair:.2f} s {c.spread(times['pair'])} = {args.rows / pair:,.0f} rows/s; "
            f"raw copy {raw:.2f} s ({args.rows / raw:,.0f} rows/s); replay {rep:.2f} s ({args.rows / rep:,.0f} rows/s)"
        )
        print(f"  {vs_raw:.2f}x the raw copy's time (target <= 3), {vs_replay:.2f}x as fast as replay (target >= 5)")
        sender_mb, joiner_mb = peaks(folder, sender)
        print(f"peak RSS at {args.rows:,} rows: sender {sender_mb:.0f} MB, joiner {joiner_mb:.0f} MB")
        small, _ = build(folder, max(1, args.rows // 4))
        small_sender, small_joiner = peaks(folder, small)
        print(f"peak RSS at {args.rows // 4:,} rows: sender {small_sender:.0f} MB, joiner {small_joiner:.0f} MB")
    if args.json:
        c.emit_json(
            "pairing",
            {
                "rows": args.rows,
                "pair_s": pair,
                "raw_s": raw,
                "replay_s": rep,
                "vs_raw": vs_raw,
                "vs_replay": vs_replay,
                "sender_rss_mb": sender_mb,
                "joiner_rss_mb": joiner_mb,
                "sender_rss_quarter_mb": small_sender,
                "joiner_rss_quarter_mb": small_joiner,
            },
        )


if __name__ == "__main__":
    main()
