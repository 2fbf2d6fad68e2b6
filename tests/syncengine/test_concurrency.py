"""Writes keep arriving while a device syncs: nothing is lost, nothing is captured twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import sqlalchemy as sa

from syncengine import Device, SqlSharedLog

from .helpers import metadata, rows

WRITER = textwrap.dedent(
    """
    import os, time
    import sqlite3, sys
    path, start, count, signals = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    con = sqlite3.connect(path, timeout=30)

    def wait_for(name):  # the test says when a sync has run: the writer never races the clock
        while not os.path.exists(os.path.join(signals, name)):
            time.sleep(0.01)

    for i in range(start, start + count):
        con.execute("INSERT INTO products (id, name, price) VALUES (?, ?, ?)", (f"w{i:05}", "from writer", i))
        if i % 7 == 0:
            con.execute("UPDATE products SET price = price + 1 WHERE id = ?", (f"w{i - 3:05}",))
        con.commit()
        if i == start + count // 4:  # a quarter written: tell the test, and go on only after its first sync
            open(os.path.join(signals, "written"), "w").close()
            wait_for("synced-1")
        if i == start + 3 * count // 4:  # three quarters: go on only after a second sync
            wait_for("synced-2")
    """
)


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_sync_running_beside_another_writer_loses_nothing(dialect, new_db, tmp_path) -> None:
    a_url, b_url = new_db(dialect), new_db(dialect)
    a = Device.init(a_url, metadata=metadata, name="a")
    b = Device.init(b_url, metadata=metadata, name="b")
    shared = SqlSharedLog(str(tmp_path / "shared.db"))
    signals = tmp_path / "signals"
    signals.mkdir()
    try:
        if dialect == "sqlite":
            writer = subprocess.Popen([sys.executable, "-c", WRITER, a_url, "0", "400", str(signals)])
        else:
            script = (
                WRITER.replace("import sqlite3", "import psycopg")
                .replace(
                    "con = sqlite3.connect(path, timeout=30)", "con = psycopg.connect(path.replace('+psycopg', ''))"
                )
                .replace("?", "%s")
            )
            writer = subprocess.Popen([sys.executable, "-c", script, a_url, "0", "400", str(signals)])
        while not (signals / "written").exists():  # the first sync meets the writer's first writes
            assert writer.poll() is None, "the writer died before its first quarter"
            time.sleep(0.01)
        syncs = 0
        while writer.poll() is None:
            a.sync(shared, upload_batch_size=50)
            b.sync(shared)
            syncs += 1
            (signals / f"synced-{min(syncs, 2)}").touch()  # the writer's next part starts only now
        writer.wait()
        assert writer.returncode == 0
        for _ in range(2):
            a.sync(shared)
            b.sync(shared)
        assert syncs >= 2  # the writer waited for two syncs: they ran between its writes
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
