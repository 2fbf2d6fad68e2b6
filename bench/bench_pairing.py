"""Pairing: rows per second of pair + join on loopback, against a raw copy and against replaying the shared log.

Setup: a device holding N rows of ``items`` (SQLite file), synced once to a shared-log
file (so the log holds the N inserts). Per round, alternating the order:

* **pair + join**: ``Device.pair`` serves in a process of its own (as the sending device
  would), ``syncengine.join`` makes a new database from its code in this process (TLS
  over 127.0.0.1), the time from the join's start to its end (threads of one process would
  fight over the GIL). The new database arrives as one file (see ``syncengine/pairing/_file.py``);
* **pair + join as pages**: the same into an existing empty file, which receives pages of
  rows instead (as a PostgreSQL or MariaDB joiner, or one that holds rows, always does);
* **raw copy** (the floor): ``sqlite3`` reads the N rows of the sender's table and
  ``executemany``-inserts them into a plain table of the same shape in a fresh file
  (one transaction, committed);
* **replay**: a fresh device (``Device.init`` on an empty ``items``) syncs from the
  shared log, receiving and applying the N inserts.

Peak memory (VmHWM) of the sender and the joiner, each in a process of its own
(``--child``), at N and at N/4, for both ways: bounded means it does not grow with N.

    .venv/bin/python bench/bench_pairing.py              # 1,000,000 rows, 3 rounds
    .venv/bin/python bench/bench_pairing.py --quick      # 100,000 rows, 2 rounds
    .venv/bin/python bench/bench_pairing.py --json       # last line: one JSON object of the figures
"""

from __future__ import annotations

import argparse
import os
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


def _joiner(folder: Path, pages: bool) -> Path:
    """A path for the joiner: absent (it arrives as a file), or an existing empty file (it receives pages)."""
    path = c.fresh_path(folder, "joiner")
    if pages:
        path.touch()
    return path


def pair_and_join(folder: Path, sender: Path, pages: bool = False) -> float:
    """The sender in a process of its own (as a device would be), the joiner here; the join's time."""
    serving = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", str(sender), "-"], stdout=subprocess.PIPE, text=True
    )
    assert serving.stdout is not None
    code = serving.stdout.readline().strip()
    target = _joiner(folder, pages)
    t0 = time.perf_counter()
    report = join(str(target), code)
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


def peaks(folder: Path, sender: Path, pages: bool = False) -> tuple[float, float]:
    """Peak RSS of the sender and of the joiner, each in its own process."""
    serving = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", str(sender), "-"], stdout=subprocess.PIPE, text=True
    )
    assert serving.stdout is not None
    code = serving.stdout.readline().strip()
    joining = subprocess.run(
        [sys.executable, __file__, "--child", "join", str(_joiner(folder, pages)), code],
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
        times: dict[str, list[float]] = {"pair": [], "pages": [], "raw": [], "replay": []}
        for r in range(args.repeats):
            runs = [
                ("pair", lambda: pair_and_join(folder, sender)),
                ("raw", lambda: raw_copy(folder, sender)),
                ("pages", lambda: pair_and_join(folder, sender, pages=True)),
                ("replay", lambda: replay(folder, log)),
            ]
            if r % 2:
                runs.reverse()
            got = {name: fn() for name, fn in runs}
            for name, seconds in got.items():
                times[name].append(seconds)
            print(
                f"  round {r + 1} (load {os.getloadavg()[0]:.1f}): pair+join {got['pair']:.2f} s, "
                f"as pages {got['pages']:.2f} s, raw copy {got['raw']:.2f} s, replay {got['replay']:.2f} s",
                flush=True,
            )
        med = {k: c.median(v) for k, v in times.items()}

        def ratios(way: str) -> tuple[float, float, str, str]:
            vs_raw = [p / r for p, r in zip(times[way], times["raw"], strict=True)]
            vs_replay = [r / p for p, r in zip(times[way], times["replay"], strict=True)]
            return c.median(vs_raw), c.median(vs_replay), c.spread(vs_raw), c.spread(vs_replay)

        rows = args.rows
        print(
            f"raw copy {med['raw']:.2f} s {c.spread(times['raw'])} ({rows / med['raw']:,.0f} rows/s); "
            f"replay {med['replay']:.2f} s {c.spread(times['replay'])} ({rows / med['replay']:,.0f} rows/s)"
        )
        for way, label in (("pair", "pair + join"), ("pages", "pair + join as pages")):
            vs_raw, vs_replay, raw_spread, replay_spread = ratios(way)
            print(
                f"{label} of {rows:,} rows: {med[way]:.2f} s {c.spread(times[way])} = {rows / med[way]:,.0f} rows/s; "
                f"{vs_raw:.2f}x the raw copy's time {raw_spread} (target <= 3), "
                f"{vs_replay:.2f}x as fast as replay {replay_spread} (target >= 5)"
            )
        vs_raw, vs_replay, _, _ = ratios("pair")
        pages_vs_raw, pages_vs_replay, _, _ = ratios("pages")
        small, _ = build(folder, max(1, rows // 4))
        rss = {}
        for way, pages in (("file", False), ("pages", True)):
            rss[way] = peaks(folder, sender, pages) + peaks(folder, small, pages)
            print(
                f"peak RSS {'as pages' if pages else 'as a file'}: sender {rss[way][0]:.0f} MB, "
                f"joiner {rss[way][1]:.0f} MB at {rows:,} rows; {rss[way][2]:.0f} and {rss[way][3]:.0f} MB "
                f"at {rows // 4:,}"
            )
    if args.json:
        c.emit_json(
            "pairing",
            {
                "rows": args.rows,
                "pair_s": med["pair"],
                "pages_s": med["pages"],
                "raw_s": med["raw"],
                "replay_s": med["replay"],
                "vs_raw": vs_raw,
                "vs_replay": vs_replay,
                "pages_vs_raw": pages_vs_raw,
                "pages_vs_replay": pages_vs_replay,
                "sender_rss_mb": rss["file"][0],
                "joiner_rss_mb": rss["file"][1],
                "sender_rss_quarter_mb": rss["file"][2],
                "joiner_rss_quarter_mb": rss["file"][3],
                "pages_sender_rss_mb": rss["pages"][0],
                "pages_joiner_rss_mb": rss["pages"][1],
                "pages_sender_rss_quarter_mb": rss["pages"][2],
                "pages_joiner_rss_quarter_mb": rss["pages"][3],
            },
        )


if __name__ == "__main__":
    main()
