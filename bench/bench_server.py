"""The shared-log server on loopback against the same work done directly on SqlSharedLog.

One shared-log database (an SQLite file, or PostgreSQL with ``--postgres URL``) and
one ``syncengine serve`` process on it for the whole run. Every measurement uses a
fresh user, so each starts from an empty log of its own; "direct" and "server"
alternate within each round, and the figures are medians over the rounds.

* **push**: one device pushes ``--batches`` batches of ``--batch-size`` entries
  (a realistic JSON payload, ~200 bytes an entry); entries/s.
* **pull**: another device pulls them all, ``limit = --batch-size``, ``--pull-passes``
  times (5); entries/s. The HTTP client reads ahead as it does by default (one
  request asks for ``--read-ahead`` pages, 8; ``--read-ahead 1`` measures one
  request per page).
* **concurrent**: ``--devices`` threads, one device each, every thread doing
  ``--requests`` calls alternating a small push (10 entries) and a pull; requests/s.

The ratio is server / direct: the share of the direct path's speed that survives
HTTP. Target: ≥ 0.5 for push and pull with batches of 1,000.

    /work/venv/bin/python bench/bench_server.py             # 40 batches x 1000, 5 rounds, 20 devices
    /work/venv/bin/python bench/bench_server.py --quick     # 20 batches, 3 rounds
    /work/venv/bin/python bench/bench_server.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c
import httpx
import orjson

from syncengine.remote import HttpSharedLog, SharedLog
from syncengine.server import create_token
from syncengine.store import SqlSharedLog


def payload(n: int, seed: int) -> bytes:
    """A batch shaped like the engine's: versioned entries with a row each."""
    entries = [
        [
            f"{1700000000000 + i:016x}-{seed:04x}-{uuid.UUID(int=i + seed * 10**6).hex}",
            "items",
            [str(uuid.UUID(int=i))],
            "insert",
            {},
            {"data": {"name": f"item number {i}", "qty": i % 100, "price": i * 0.25, "note": "n" * 40}},
        ]
        for i in range(n)
    ]
    return orjson.dumps({"format": 1, "entries": entries})


def push_pull(
    log_a: SharedLog, log_b: SharedLog, batches: list[bytes], size: int, passes: int
) -> tuple[float, float]:
    """Push every batch from device A, pull them all on B ``passes`` times; return (push s, pull s per pass)."""
    # device ids are unique across users, so every measurement brings new ones
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    log_a.register_device(a, "a")
    log_b.register_device(b, "b")
    started = time.perf_counter()
    for i, body in enumerate(batches):
        log_a.push(a, f"batch-{i}", body, size)
    pushed = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(passes):  # a pass is short: several keep one hiccup of the machine from deciding the round
        cursor, got = 0, 0
        while True:
            result = log_b.pull(b, cursor, size)
            got += sum(b.count for b in result.batches)
            cursor = result.cursor
            if not result.more:
                break
        assert got == size * len(batches), (got, size * len(batches))
    pulled = (time.perf_counter() - started) / passes
    return pushed, pulled


def concurrent(make: Callable[[int], SharedLog], devices: int, requests: int, small: bytes) -> float:
    """``devices`` threads alternating a 10-entry push and a pull; return requests/s."""
    logs = [make(i) for i in range(devices)]
    ids = [uuid.uuid4().hex for _ in logs]
    for i, log in enumerate(logs):
        log.register_device(ids[i], f"d{i}")
    barrier = threading.Barrier(devices + 1)
    errors: list[BaseException] = []

    def work(i: int, log: SharedLog) -> None:
        barrier.wait()
        try:
            cursor = 0
            for k in range(requests):
                if k % 2 == 0:
                    log.push(ids[i], f"b{k}", small, 10)
                else:
                    cursor = log.pull(ids[i], cursor, 1000).cursor
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, log)) for i, log in enumerate(logs)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    for log in logs:
        if isinstance(log, HttpSharedLog):
            log.close()
    assert not errors, errors[:3]
    return devices * requests / seconds


def health_round_trip(url: str, n: int = 300) -> float:
    """Median seconds of a ``GET /health`` on a kept-alive connection: the floor of any request."""
    times = []
    with httpx.Client(base_url=url) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get("/health").raise_for_status()
            times.append(time.perf_counter() - started)
    return c.median(times)


def start_server(db: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = Path(sys.executable).parent / "syncengine"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from syncengine.cli import run; run()"]
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - the server process holds it
    process = subprocess.Popen(
        [*command, "serve", "--db", db, "--port", str(port), "--log-level", "warning"], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the server did not start: {(folder / 'server.log').read_text()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--requests", type=int, default=40, help="calls per device in the concurrent test")
    parser.add_argument("--read-ahead", type=int, default=8, help="pages per pull request of the HTTP client")
    parser.add_argument("--pull-passes", type=int, default=5, help="times B pulls the whole log in a round")
    parser.add_argument("--postgres", default=None, help="use this PostgreSQL database instead of an SQLite file")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.repeats, args.requests = 20, 3, 20

    with c.workdir() as folder:
        db = args.postgres or str(folder / "shared.sqlite")
        engine = SqlSharedLog(db).engine  # creates the tables before the server starts
        process, url = start_server(db, folder)
        batches = [payload(args.batch_size, seed) for seed in range(args.batches)]
        small = payload(10, 99)
        entries = args.batch_size * args.batches
        figures: dict[str, list[float]] = {
            k: [] for k in ("push direct", "push server", "pull direct", "pull server", "rps direct", "rps server")
        }
        ratios: dict[str, list[float]] = {"push": [], "pull": [], "rps": []}
        try:
            for round_ in range(args.repeats):
                tag = uuid.uuid4().hex[:8]
                direct = [SqlSharedLog(engine, user=f"direct-{tag}") for _ in range(2)]
                token = create_token(engine, f"http-{tag}")[1]
                http = [HttpSharedLog(url, token, read_ahead=args.read_ahead) for _ in range(2)]
                order: list[tuple[str, list[Any]]] = [("direct", direct), ("server", http)]
                if round_ % 2:
                    order.reverse()
                got: dict[str, tuple[float, float]] = {}
                for name, logs in order:
                    got[name] = push_pull(logs[0], logs[1], batches, args.batch_size, args.pull_passes)
                for log in http:
                    log.close()
                rps: dict[str, float] = {}
                for name in (n for n, _ in order):
                    if name == "direct":
                        rps[name] = concurrent(
                            lambda i, t=tag: SqlSharedLog(engine, user=f"cdirect-{t}"),
                            args.devices,
                            args.requests,
                            small,
                        )
                    else:
                        ctoken = create_token(engine, f"chttp-{tag}")[1]
                        rps[name] = concurrent(
                            lambda i, t=ctoken: HttpSharedLog(url, t), args.devices, args.requests, small
                        )
                for name in ("direct", "server"):
                    figures[f"push {name}"].append(entries / got[name][0])
                    figures[f"pull {name}"].append(entries / got[name][1])
                    figures[f"rps {name}"].append(rps[name])
                ratios["push"].append(got["direct"][0] / got["server"][0])
                ratios["pull"].append(got["direct"][1] / got["server"][1])
                ratios["rps"].append(rps["server"] / rps["direct"])
                print(
                    f"round {round_ + 1}: push {ratios['push'][-1]:.2f}  pull {ratios['pull'][-1]:.2f}  "
                    f"concurrent {ratios['rps'][-1]:.2f}",
                    flush=True,
                )
            floor = health_round_trip(url)
        finally:
            process.terminate()
            process.wait(timeout=10)
            engine.dispose()

    print()
    print(c.machine())
    print(
        f"database: {'PostgreSQL' if args.postgres else 'SQLite file'}; "
        f"{args.batches} batches of {args.batch_size} entries "
        f"({len(batches[0]) / args.batch_size:.0f} bytes an entry); {args.repeats} rounds; "
        f"HTTP read-ahead {args.read_ahead} pages; medians (min..max)"
    )
    per_batch = {k: args.batch_size / c.median(v) * 1000 for k, v in figures.items() if not k.startswith("rps")}
    print(
        f"per batch: push {per_batch['push direct']:.2f} ms direct, {per_batch['push server']:.2f} ms server; "
        f"pull {per_batch['pull direct']:.2f} ms direct, {per_batch['pull server']:.2f} ms server; "
        f"GET /health round trip {floor * 1000:.2f} ms"
    )
    for what, unit in (("push", "entries/s"), ("pull", "entries/s"), ("rps", "requests/s")):
        label = {"push": "push", "pull": "pull", "rps": f"{args.devices} concurrent devices"}[what]
        d, s = figures[f"{what} direct"], figures[f"{what} server"]
        print(f"{label:<24} direct {c.median(d):>10,.0f} {unit} {c.spread(d)}")
        print(f"{'':<24} server {c.median(s):>10,.0f} {unit} {c.spread(s)}")
        target = 0.5 if what != "rps" else None
        verdict = f"  {c.verdict(c.median(ratios[what]), target, higher_is_better=True)}" if target else ""
        print(f"{'':<24} server/direct {c.median(ratios[what]):.2f}{verdict}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "default")
    main()
