"""Capture overhead on SQLite files: writes to a synced table vs the same table without sync.

Three variants of the same ``items`` table, each in a fresh SQLite file per run:

* ``plain``  – no trigger (the baseline);
* ``floor``  – one plain AFTER INSERT trigger that inserts a constant-width row
  into another table: the cost of "one extra row per write", the floor any
  trigger-based capture pays;
* ``synced`` – ``Device.init`` installed (the engine's capture triggers).

Two ways of writing (timed: the inserts *and* the commit; row/object creation is not):

* raw SQL – ``executemany`` of one INSERT in one transaction, through the
  ``sqlite3`` module and through SQLAlchemy Core ``text()``;
* ORM – ``Session.add_all`` of mapped objects + ``commit`` (plain vs synced).

Runs are interleaved (the variants' order rotates each round) and every ratio is
the median of per-round ratios, so drift on a shared machine hits both sides.

    /work/venv/bin/python bench/bench_capture.py                 # 100k rows, 7 rounds
    /work/venv/bin/python bench/bench_capture.py --rows 20000 --repeats 3
    /work/venv/bin/python bench/bench_capture.py --quick --json   # last line: one JSON object of the ratios

Only the package's public API is used (``--decompose`` also reads the engine's trigger
text and fails if its shape changed), so the script runs against other versions of the
engine too (``compare.py`` points ``PYTHONPATH`` at an older tree).
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable
from pathlib import Path

import _common as c
import sqlalchemy as sa
from sqlalchemy import orm

from syncengine import Device

FLOOR_DDL = [
    "CREATE TABLE floor_log (id INTEGER PRIMARY KEY, tbl TEXT, op TEXT, wall INTEGER)",
    "CREATE TRIGGER floor_ins AFTER INSERT ON items BEGIN "
    "INSERT INTO floor_log (tbl, op, wall) VALUES ('items', 'I', 0); END",
]


class Base(orm.DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text)
    qty: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    price: orm.Mapped[float | None] = orm.mapped_column(sa.Float)
    note: orm.Mapped[str | None] = orm.mapped_column(sa.Text)


# -- preparing a fresh file per variant ------------------------------------------------


def prepare(folder: Path, variant: str) -> Path:
    path = c.fresh_path(folder, variant)
    if variant == "plain":
        c.create_items(path)
    elif variant == "floor":
        c.create_items(path, FLOOR_DDL)
    elif variant == "synced":
        c.create_items(path)
        Device.init(str(path), ["items"], name="bench").close()
    elif variant in DECOMPOSE:
        c.create_items(path)
        Device.init(str(path), ["items"], name="bench").close()
        _rewrite_trigger(path, variant)
    else:  # pragma: no cover
        raise ValueError(variant)
    return path


# Opt-in variants (--decompose) that take the engine's insert trigger apart, to see
# where the capture cost goes. They only rewrite the scratch file's trigger.
DECOMPOSE = {
    "logrow": "engine's log table (its partial (state, id) index), constant row, no WHEN",
    "nowhen": "engine's trigger without the WHEN (SELECT applying ...) check",
    "nowall": "engine's trigger with wall = 0 instead of julianday('now')",
    "noindex": "engine's trigger, log index ix_syncengine_log_state dropped",
}


def _rewrite_trigger(path: Path, variant: str) -> None:
    conn = sqlite3.connect(str(path))
    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'syncengine_items_ins'").fetchone()
    when = " WHEN (SELECT applying FROM syncengine_control WHERE id = 1) = 0"
    wall = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    assert when in sql and wall in sql, "the engine's trigger changed shape; update bench_capture.py"
    if variant == "logrow":
        sql = (
            "CREATE TRIGGER syncengine_items_ins AFTER INSERT ON items BEGIN "
            "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) VALUES ('items', '[]', 'I', '{}', NULL, 0); END"
        )
    elif variant == "nowhen":
        sql = sql.replace(when, "")
    elif variant == "nowall":
        sql = sql.replace(wall, "0")
    elif variant == "noindex":
        conn.execute("DROP INDEX ix_syncengine_log_state")
    conn.execute("DROP TRIGGER syncengine_items_ins")
    conn.execute(sql)
    conn.commit()
    conn.close()


# -- the timed writes --------------------------------------------------------------------


def write_sqlite3(path: Path, rows: list[c.Row]) -> float:
    conn = sqlite3.connect(str(path))
    try:
        return c.timed(lambda: (conn.executemany(c.INSERT_ITEMS, rows), conn.commit()))
    finally:
        conn.close()


def write_core(path: Path, rows: list[c.Row]) -> float:
    engine = sa.create_engine(f"sqlite:///{path}")
    statement = sa.text("INSERT INTO items (id, name, qty, price, note) VALUES (:id, :name, :qty, :price, :note)")
    params = [dict(id=r[0], name=r[1], qty=r[2], price=r[3], note=r[4]) for r in rows]
    try:
        with engine.connect() as conn:  # connect outside the timing, like the sqlite3 path
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()

            def run() -> None:
                with conn.begin():
                    conn.execute(statement, params)

            return c.timed(run)
    finally:
        engine.dispose()


def write_orm(path: Path, rows: list[c.Row]) -> float:
    engine = sa.create_engine(f"sqlite:///{path}")
    objects = [Item(id=r[0], name=r[1], qty=r[2], price=r[3], note=r[4]) for r in rows]
    try:
        with orm.Session(engine) as session:
            session.connection()  # connect outside the timing

            def run() -> None:
                session.add_all(objects)
                session.commit()

            return c.timed(run)
    finally:
        engine.dispose()


# -- rounds ------------------------------------------------------------------------------------


def measure(
    folder: Path,
    rows: list[c.Row],
    write: Callable[[Path, list[c.Row]], float],
    variants: list[str],
    repeats: int,
    warmup: bool,
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {v: [] for v in variants}
    if warmup:
        for v in variants:
            write(prepare(folder, v), rows[: max(1, len(rows) // 10)])
    for r in range(repeats):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for v in order:
            path = prepare(folder, v)
            times[v].append(write(path, rows))
            path.unlink()
            for suffix in ("-journal", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    return times


def report(title: str, n: int, times: dict[str, list[float]], targets: dict[str, float]) -> dict[str, float]:
    base = times["plain"]
    print(f"\n{title}  ({n:,} rows, {len(base)} rounds; medians, min..max in brackets)")
    print(f"  {'variant':9} {'seconds':>8} {'rows/s':>11}  {'ratio vs plain':>14}")
    ratios: dict[str, float] = {}
    for v, ts in times.items():
        per_round = [t / b for t, b in zip(ts, base, strict=True)]
        ratio = c.median(per_round)
        ratios[v] = ratio
        line = f"  {v:9} {c.median(ts):8.3f} {n / c.median(ts):11,.0f}  {ratio:13.2f}x  [{c.spread(ts)} s; ratio {min(per_round):.2f}..{max(per_round):.2f}]"
        if v in targets:
            line += "  " + c.verdict(ratio, targets[v], higher_is_better=False)
        print(line)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per timed write (default 100000)")
    parser.add_argument("--orm-rows", type=int, default=None, help="rows per ORM write (default: --rows)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds per measurement (default 7)")
    parser.add_argument("--only", choices=["sqlite3", "core", "orm"], action="append", help="run only these parts")
    parser.add_argument(
        "--decompose", action="store_true", help="raw sqlite3 part also times variants that take the trigger apart"
    )
    parser.add_argument("--no-warmup", action="store_true", help="skip the short untimed warm-up round")
    parser.add_argument("--dir", default=None, help="folder for the scratch SQLite files (default: system temp)")
    parser.add_argument("--quick", action="store_true", help="20000 rows, 3 rounds")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the synced/plain ratios (medians) as one JSON object on the last line, for compare.py",
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats = min(args.rows, 20_000), min(args.repeats, 3)
    parts = args.only or ["sqlite3", "core", "orm"]
    print("bench_capture —", c.machine())
    rows = c.make_rows(args.rows)
    orm_rows = rows if args.orm_rows is None else c.make_rows(args.orm_rows)
    summary: list[str] = []
    figures: dict[str, float] = {}
    with c.workdir(args.dir) as folder:
        if "sqlite3" in parts:
            variants = ["plain", "floor", "synced"] + (list(DECOMPOSE) if args.decompose else [])
            t = measure(folder, rows, write_sqlite3, variants, args.repeats, not args.no_warmup)
            if args.decompose:
                print("\n" + "\n".join(f"  {k:8} = {v}" for k, v in DECOMPOSE.items()))
            r = report("raw SQL, sqlite3 executemany", len(rows), t, {"synced": 2.0})
            summary.append(f"raw sqlite3: synced {r['synced']:.2f}x, floor {r['floor']:.2f}x")
            figures.update(raw_ratio=r["synced"], floor_ratio=r["floor"])
        if "core" in parts:
            t = measure(folder, rows, write_core, ["plain", "floor", "synced"], args.repeats, not args.no_warmup)
            r = report("raw SQL, SQLAlchemy Core text() executemany", len(rows), t, {"synced": 2.0})
            summary.append(f"raw Core text: synced {r['synced']:.2f}x, floor {r['floor']:.2f}x")
            figures.update(core_ratio=r["synced"])
        if "orm" in parts:
            t = measure(folder, orm_rows, write_orm, ["plain", "synced"], args.repeats, not args.no_warmup)
            r = report("ORM, Session.add_all + commit", len(orm_rows), t, {"synced": 1.3})
            summary.append(f"ORM: synced {r['synced']:.2f}x")
            figures.update(orm_ratio=r["synced"])
    print("\nsummary: " + "; ".join(summary))
    if args.json:
        c.emit_json("capture", {"rows": len(rows), "orm_rows": len(orm_rows), "rounds": args.repeats, **figures})


if __name__ == "__main__":
    main()
