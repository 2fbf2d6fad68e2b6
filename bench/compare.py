"""Compare this checkout's engine against an earlier revision, in the same run, alternating.

    .venv/bin/python bench/compare.py                        # against 4c9aa60, 3 rounds, full sizes
    .venv/bin/python bench/compare.py --quick --rounds 2     # a few minutes
    .venv/bin/python bench/compare.py --baseline HEAD~3 --only end_to_end,memory --memory-entries 200000

What runs. ``git archive REV syncengine`` is extracted into a temporary folder (removed
afterwards, also on Ctrl-C or SIGTERM). The *current* bench scripts (``bench_end_to_end.py``,
``bench_capture.py``, ``bench_reconcile.py``) then run with ``--json`` in subprocesses, once with
``PYTHONPATH`` at that folder (the baseline) and once with it at this checkout (current). The
scripts use only the package's public API, so the same script measures both engines.

Which engine ran. ``PYTHONPATH`` comes before the venv's editable install (setuptools appends
its finder to ``sys.meta_path``, after the normal path search), but that finder would still
supply a ``syncengine.*`` submodule the baseline tree lacks. So every engine is first imported
once in a subprocess (its ``syncengine.__file__`` is printed), and every script's JSON carries
``syncengine.__file__`` and any ``syncengine.*`` module loaded from outside that package's
folder; the run stops at once if the file is not the intended tree's or any module strayed.

Order. Each round runs every selected benchmark for both engines back to back; round 1 runs
the baseline first, round 2 current first, and so on (AB BA AB ...), so slow drift of the
shared machine does not always fall on the same side.

Figures, one sample per engine per round (each sample is the script's own median of its
repeats): end to end entries/s with A and B at once in two processes and one after the other,
plus A's and B's sync seconds (one after the other); capture ratio synced/plain for raw
sqlite3 ``executemany``, SQLAlchemy Core ``text()`` and the ORM; ``reconcile()`` entries/s per
scenario; peak RSS of A's and B's sync of ``--memory-entries`` entries (1M; 50k with ``--quick``).

Verdict per figure, from the spread of the rounds. ``ratio`` is current median / baseline
median; whether higher or lower is better is shown per figure.

* **worse**: every current sample is worse than every baseline sample (current's best is
  worse than baseline's worst: the ranges do not overlap) *and* the medians differ by at least
  2 %;
* **better**: the same the other way round;
* **within noise** otherwise (a single round gives no verdict). The note says when the
  ranges do not overlap but the medians are less than 2 % apart ("consistently ..., under
  the 2 % floor"), and when the medians differ by more than 5 % with overlapping ranges
  (more rounds would tell).

With 3 rounds, non-overlapping ranges arise by chance about 1 time in 20 per figure and
direction (1 in 6 with 2 rounds), so re-run a figure marked worse with ``--only`` and more rounds
before believing it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common as c

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_BASELINE = "4c9aa60"
NEGLIGIBLE = 0.02  # medians closer than this are within noise, whatever the ranges
LARGE = 0.05  # overlapping ranges but medians further apart than this: say so


@dataclass(frozen=True)
class Figure:
    label: str
    path: tuple[str, ...]  # keys into the script's JSON object
    higher_is_better: bool
    fmt: str  # format of one value


@dataclass(frozen=True)
class Bench:
    script: str
    args: tuple[str, ...]  # always passed
    quick_args: tuple[str, ...]  # passed with --quick
    figures: tuple[Figure, ...]
    memory: bool = False  # takes --memory-entries


SCENARIOS = ("inserts/empty", "ins+upd/empty", "updates/populated", "mixed/populated")

BENCHES: dict[str, Bench] = {
    "end_to_end": Bench(
        "bench_end_to_end.py",
        ("--cli",),
        ("--quick",),
        (
            Figure("end to end, A and B at once (entries/s)", ("two_process_eps",), True, ",.0f"),
            Figure("end to end, one after the other (entries/s)", ("one_after_other_eps",), True, ",.0f"),
            Figure("  same, through 'syncengine sync' (entries/s)", ("cli_eps",), True, ",.0f"),
            Figure("  A.sync, one after the other (s)", ("a_seconds",), False, ".3f"),
            Figure("  B.sync, one after the other (s)", ("b_seconds",), False, ".3f"),
        ),
    ),
    "capture": Bench(
        "bench_capture.py",
        (),
        ("--quick",),
        (
            Figure("capture, raw sqlite3, synced/plain (x)", ("raw_ratio",), False, ".3f"),
            Figure("capture, Core text(), synced/plain (x)", ("core_ratio",), False, ".3f"),
            Figure("capture, ORM, synced/plain (x)", ("orm_ratio",), False, ".3f"),
        ),
    ),
    "reconcile": Bench(
        "bench_reconcile.py",
        ("--skip-memory",),
        ("--quick",),
        tuple(Figure(f"reconcile {s} (entries/s)", ("reconcile_eps", s), True, ",.0f") for s in SCENARIOS),
    ),
    "memory": Bench(
        "bench_reconcile.py",
        ("--skip-planning",),
        ("--quick",),
        (
            Figure("memory, A's sync, peak RSS (MB)", ("a_peak_rss_mb",), False, ".1f"),
            Figure("memory, B's sync, peak RSS (MB)", ("b_peak_rss_mb",), False, ".1f"),
        ),
        memory=True,
    ),
}

# Everything the scripts import from the package: a tree lacking one fails before any timing.
PROBE = (
    "import json, sys, syncengine\n"
    "from syncengine import Device, Entry, HybridClock, Op, RowState, SqlSharedLog, SyncOptions, reconcile\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import _common\n"
    "print(json.dumps(_common.engine_info()))\n"
)


class Failed(Exception):
    pass


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise Failed(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def extract(rev: str, dest: Path) -> str:
    """Extract ``syncengine/`` of ``rev`` into ``dest``; return the full commit id."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    archive = subprocess.run(["git", "archive", "--format=tar", commit, "syncengine"], cwd=REPO, capture_output=True)
    if archive.returncode != 0:
        raise Failed(f"git archive {commit}: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    if not (dest / "syncengine" / "__init__.py").is_file():
        raise Failed(f"{rev} has no syncengine/__init__.py")
    return commit


@dataclass
class Engine:
    name: str  # "baseline" or "current"
    root: Path  # the folder holding syncengine/
    describe: str

    @property
    def expected(self) -> str:
        return str((self.root / "syncengine" / "__init__.py").resolve())

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root), os.environ.get("PYTHONPATH")) if p)
        return env

    def check(self, info: dict[str, Any], what: str) -> None:
        if info.get("syncengine") != self.expected or info.get("syncengine_stray"):
            raise Failed(
                f"{what}: the {self.name} run imported syncengine from {info.get('syncengine')} "
                f"(modules from elsewhere: {info.get('syncengine_stray')}), expected {self.expected}"
            )


def probe(engine: Engine, scratch: Path) -> str:
    # cwd is an empty folder: ``python -c`` puts the working directory first on sys.path
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(BENCH)], cwd=scratch, env=engine.env(), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise Failed(f"importing the {engine.name} engine failed:\n{out.stderr[-3000:]}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    engine.check(info, "probe")
    return info["syncengine"]


def run_bench(
    engine: Engine, bench: Bench, args: argparse.Namespace, scratch: Path
) -> tuple[dict[str, Any], float, str]:
    command = [sys.executable, str(BENCH / bench.script), *bench.args, "--json", "--dir", str(scratch)]
    if args.quick:
        command += bench.quick_args
    if bench.memory:
        command += ["--memory-entries", str(args.memory_entries)]
    t0 = time.perf_counter()
    out = run_group(command, engine.env())
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise Failed(
            f"{bench.script} on the {engine.name} engine failed (exit {out.returncode}): {' '.join(command)}\n"
            f"--- stdout (end)\n{out.stdout[-2000:]}\n--- stderr (end)\n{out.stderr[-3000:]}"
        )
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise Failed(
            f"{bench.script} on the {engine.name} engine printed no JSON last line:\n{out.stdout[-2000:]}"
        ) from exc
    engine.check(result, bench.script)
    return result, seconds, out.stdout


def run_group(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a script in a session of its own; on any interruption end it *and its children*.

    (``bench_end_to_end.py`` starts B's process, which would otherwise poll forever for
    entries once A's process is gone.)
    """
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def value(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = result
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def verdict(base: Sequence[float], cur: Sequence[float], higher_is_better: bool) -> tuple[float, str]:
    """Return (current/baseline ratio of medians, verdict text); the rule is in the module docstring."""
    ratio = statistics.median(cur) / statistics.median(base)
    if min(len(base), len(cur)) < 2:
        return ratio, "no verdict (one round has no spread)"
    gain = ratio - 1 if higher_is_better else 1 - ratio  # > 0: current is better
    if higher_is_better:
        worse, better = max(cur) < min(base), min(cur) > max(base)
    else:
        worse, better = min(cur) > max(base), max(cur) < min(base)
    size = f"{abs(ratio - 1):.1%}"
    if (worse or better) and abs(gain) < NEGLIGIBLE:
        return ratio, f"within noise (consistently {'worse' if worse else 'better'}, by {size}: under the 2% floor)"
    if worse:
        return ratio, "WORSE"
    if better:
        return ratio, "better"
    if abs(gain) > LARGE:
        return ratio, f"within noise (medians {size} {'better' if gain > 0 else 'worse'}, ranges overlap: more rounds?)"
    return ratio, "within noise"


def report(
    selected: list[str], samples: dict[str, dict[str, list[float]]], engines: dict[str, Engine]
) -> list[tuple[str, str]]:
    """Print the table; return (figure, verdict) pairs."""
    rows: list[tuple[str, ...]] = []
    verdicts: list[tuple[str, str]] = []
    for name in selected:
        for fig in BENCHES[name].figures:
            base, cur = samples[fig.label]["baseline"], samples[fig.label]["current"]
            if not base or not cur:
                rows.append((fig.label, "", "(no figure)", "", "", ""))
                continue

            def show(xs: list[float], fmt: str = fig.fmt) -> str:
                return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}..{max(xs):{fmt}})"

            ratio, text = verdict(base, cur, fig.higher_is_better)
            better = "higher" if fig.higher_is_better else "lower"
            rows.append((fig.label, better, show(base), show(cur), f"{ratio:.3f}", text))
            verdicts.append((fig.label, text))
    header = ("figure", "better", "baseline median (min..max)", "current median (min..max)", "cur/base", "verdict")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print()
    print(f"baseline = {engines['baseline'].describe}")
    print(f"current  = {engines['current'].describe}")
    for r in [header, *rows]:
        print(
            "  ".join(
                f"{cell:<{w}}" if i in (0, 1) else f"{cell:>{w}}"
                for i, (cell, w) in enumerate(zip(r, widths, strict=False))
            )
            + "  "
            + r[5]
        )
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--baseline", default=DEFAULT_BASELINE, help=f"revision to compare against (default {DEFAULT_BASELINE})"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; each runs every benchmark once per engine (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script (small sizes, few repeats)")
    parser.add_argument(
        "--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)} (default: all)"
    )
    parser.add_argument(
        "--memory-entries",
        type=int,
        default=None,
        help="entries in the memory sync (default 1,000,000; --quick 50,000)",
    )
    parser.add_argument("--verbose", action="store_true", help="echo each script's own output")
    args = parser.parse_args()
    selected = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in selected if s not in BENCHES]
    if unknown or not selected or args.rounds < 1:
        parser.error(f"--only takes names from {','.join(BENCHES)} (got {args.only!r}); --rounds >= 1")
    if args.memory_entries is None:
        args.memory_entries = 50_000 if args.quick else 1_000_000

    # SIGTERM must unwind like Ctrl-C, so the temporary folder goes and the running script is killed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background by a script
    tmp = Path(tempfile.mkdtemp(prefix="syncengine-compare-"))
    try:
        (tmp / "baseline").mkdir()
        (tmp / "scratch").mkdir()
        (tmp / "probe").mkdir()
        commit = extract(args.baseline, tmp / "baseline")
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "syncengine")
        engines = {
            "baseline": Engine(
                "baseline", tmp / "baseline", f"{args.baseline} ({commit[:10]}), extracted to {tmp / 'baseline'}"
            ),
            "current": Engine(
                "current",
                REPO,
                f"working tree at {REPO} (HEAD {head}"
                + (f", {len(dirty.splitlines())} uncommitted change(s) under syncengine/)" if dirty else ", clean)"),
            ),
        }
        print("compare —", c.machine())
        print(
            f"rounds {args.rounds}, {'quick' if args.quick else 'full'} sizes, benchmarks {','.join(selected)}"
            + (f", memory sync of {args.memory_entries:,} entries" if "memory" in selected else "")
        )
        for engine in engines.values():
            print(f"{engine.name:8} imports {probe(engine, tmp / 'probe')}  ({engine.describe})", flush=True)

        samples: dict[str, dict[str, list[float]]] = {
            f.label: {"baseline": [], "current": []} for name in selected for f in BENCHES[name].figures
        }
        started = time.perf_counter()
        for r in range(args.rounds):
            order = ["baseline", "current"] if r % 2 == 0 else ["current", "baseline"]
            print(f"\nround {r + 1}/{args.rounds}: {' then '.join(order)} for each benchmark", flush=True)
            for name in selected:
                bench = BENCHES[name]
                for side in order:
                    result, seconds, output = run_bench(engines[side], bench, args, tmp / "scratch")
                    if args.verbose:
                        print(output.rstrip())
                    shown = []
                    for fig in bench.figures:
                        v = value(result, fig.path)
                        if v is not None:
                            samples[fig.label][side].append(v)
                            shown.append(f"{v:{fig.fmt}}")
                    print(f"  {name:10} {side:8} {seconds:6.1f} s  " + " / ".join(shown), flush=True)
        print(f"\n{args.rounds} round(s) in {time.perf_counter() - started:.0f} s; {c.machine()}")
        verdicts = report(selected, samples, engines)
        worse = [label for label, text in verdicts if text == "WORSE"]
        print(
            f"\n{len(verdicts)} figures: {sum(t == 'better' for _, t in verdicts)} better, {len(worse)} worse, "
            f"{sum(t.startswith('within noise') for _, t in verdicts)} within noise"
            + (f"; worse: {'; '.join(w.strip() for w in worse)} (re-run with --only and more rounds)" if worse else "")
        )
        return 1 if worse else 0
    except Failed as exc:
        print(f"\ncompare: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncompare: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
