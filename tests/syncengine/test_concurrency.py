"""Writes keep arriving while a device syncs: nothing is lost, nothing is captured twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from syncengine import Device, SqlSharedLog

from .helpers import metadata, rows

WRITER = textwrap.dedent(
    """
    import os, time
    import sqlite3, sys
    path, start, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    con = sqlite3.connect(path, timeout=30)
    for i in range(start, start + count):
        con.execute("INSERT INTO products (id, name, price) VALUES (?, ?, ?)", (f"w{i:05}", "from writer", i))
        if i % 7 == 0:
            con.execute("UPDATE products SET price = price + 1 WHERE id = ?", (f"w{i - 3:05}",))
        con.commit()
        if i == start + count // 2:  # halfway: wait until a sync has run, so the rest meets syncs
            while not os.path.exists(go):
                time.sleep(0.01)
    """
)


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_sync_running_beside_another_writer_loses_nothing(dialect, new_db, tmp_path) -> None:
    a_url, b_url = new_db(dialect), new_db(dialect)
    a = Device.init(a_url, metadata=metadata, name="a")
    b = Device.init(b_url, metadata=metadata, name="b")
    shared = SqlSharedLog(str(tmp_path / "shared.db"))
    go = tmp_path / "go"
    try:
        if dialect == "sqlite":
            writer = subprocess.Popen([sys.executable, "-c", WRITER, a_url, "0", "400", str(go)])
        else:
            script = (
                WRITER.replace("import sqlite3", "import psycopg")
                .replace(
                    "con = sqlite3.connect(path, timeout=30)", "con = psycopg.connect(path.replace('+psycopg', ''))"
                )
                .replace("?", "%s")
            )
            writer = subprocess.Popen([sys.executable, "-c", script, a_url, "0", "400", str(go)])
        syncs = 0
        while writer.poll() is None or syncs < 1:
            a.sync(shared, upload_batch_size=50)
            b.sync(shared)
            syncs += 1
            go.touch()  # the writer's second half starts only now: it cannot finish before a sync
        assert writer.returncode == 0
        for _ in range(2):
            a.sync(shared)
            b.sync(shared)
        assert syncs >= 2, "the writer finished before the first sync: nothing ran concurrently"
        expected = rows(a)
        assert len(expected) == 400
        assert rows(b) == expected
        assert a.status().unshared == 0 and b.status().unshared == 0
        with b.engine.connect() as conn:  # nothing B applied came back as a local change
            assert conn.execute(sa.text("SELECT count(*) FROM syncengine_log")).scalar_one() == 0
    finally:
        a.close()
        b.close()
        shared.close()
