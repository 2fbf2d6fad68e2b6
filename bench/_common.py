"""Helpers shared by the benchmark scripts (not a test module).

Every script measures "ours" and a baseline in the same process, interleaved, and
reports medians over repeats, because the benchmark machine is small and shared.
"""

from __future__ import annotations

import compileall
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ITEMS_DDL = "CREATE TABLE items (id TEXT PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL, note TEXT)"
INSERT_ITEMS = "INSERT INTO items (id, name, qty, price, note) VALUES (?, ?, ?, ?, ?)"

Row = tuple[str, str, int, float, str | None]


def make_rows(n: int, seed: int = 1) -> list[Row]:
    """Return ``n`` rows for ``items``: UUID text keys, text, integer, real, sometimes NULL."""
    rnd = random.Random(seed)
    return [
        (
            str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            f"item number {i}",
            rnd.randrange(1000),
            round(rnd.random() * 100, 2),
            None if i % 3 else f"note {i}",
        )
        for i in range(n)
    ]


def create_items(path: Path | str, extra: Sequence[str] = ()) -> None:
    """Create an SQLite file holding the ``items`` table (and any extra statements)."""
    conn = sqlite3.connect(str(path))
    conn.execute(ITEMS_DDL)
    for statement in extra:
        conn.execute(statement)
    conn.commit()
    conn.close()


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def spread(xs: Sequence[float]) -> str:
    """``min..max`` of a series, to show how noisy the repeats were."""
    return f"{min(xs):.3f}..{max(xs):.3f}"


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@contextlib.contextmanager
def workdir(base: str | None = None, keep: bool = False) -> Iterator[Path]:
    """A scratch folder for the SQLite files of one script run."""
    path = Path(tempfile.mkdtemp(prefix="syncengine-bench-", dir=base))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def fresh_path(folder: Path, stem: str) -> Path:
    """A new SQLite file name in ``folder`` (never reused, so no run sees another's pages)."""
    return folder / f"{stem}-{uuid.uuid4().hex[:8]}.sqlite"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: ``VmHWM`` of /proc/self/status, which belongs to this process image.
    (``getrusage().ru_maxrss`` is not used there: it survives fork + exec, so a
    subprocess started by a big parent reports the parent's peak.)
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} cores, load {load:.2f}, {platform.platform()}"
    )


def verdict(value: float, target: float, *, higher_is_better: bool) -> str:
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"{'OK  ' if ok else 'MISS'} (target {sign} {target:g})"


def engine_info() -> dict[str, Any]:
    """Which ``syncengine`` this process imported, for ``--json`` output (and ``compare.py``'s check).

    ``syncengine`` is the package's ``__init__.py``; ``syncengine_stray`` lists loaded
    ``syncengine.*`` modules whose file is *not* under that package's folder. It must be
    empty: with ``PYTHONPATH`` pointing at another tree while the venv holds an editable
    install, a submodule missing from that tree would silently be found in the installed one.
    """
    import syncengine

    root = Path(syncengine.__file__).resolve().parent
    stray = sorted(
        name
        for name, module in list(sys.modules.items())
        if (name == "syncengine" or name.startswith("syncengine."))
        and getattr(module, "__file__", None)
        and not Path(module.__file__).resolve().is_relative_to(root)
    )
    return {"syncengine": str(Path(syncengine.__file__).resolve()), "syncengine_stray": stray}


def emit_json(bench: str, figures: dict[str, Any]) -> None:
    """Print one JSON object of a script's key figures as its last line (``--json``)."""
    print(json.dumps({"bench": bench, **engine_info(), **figures}), flush=True)


def compile_engine() -> None:
    """Compile the imported engine's bytecode, as ``pip install`` leaves it, before timing processes that start it.

    With ``PYTHONDONTWRITEBYTECODE`` set (as on the CI machine), each ``python -m syncengine``
    would otherwise compile ~70 modules again (about 0.1 s a process).
    """
    import syncengine

    compileall.compile_dir(str(Path(syncengine.__file__).parent), quiet=1)
