"""The server killed with SIGKILL in the middle of a large upload, then restarted: nothing lost, nothing twice."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from syncengine import Device
from syncengine.errors import RemoteError, RemoteUnavailable
from syncengine.model import SyncReport
from tests.syncengine.helpers import add, metadata, products, rows, write

from .servers import new_token

ROWS = 20_000
BATCH = 250


def _log_totals(db: str) -> tuple[int, int]:
    engine = sa.create_engine(db if "://" in db else f"sqlite:///{db}")
    with engine.connect() as conn:
        batches, entries = conn.execute(
            sa.text("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM sharedlog_batches")
        ).one()
    engine.dispose()
    return int(batches), int(entries)


def test_sigkill_mid_upload_then_restart_every_row_once(tmp_path, log_db, start_server, http_log) -> None:
    server = start_server(log_db)
    a, b, c = (Device.init(str(tmp_path / f"{n}.sqlite"), metadata=metadata, name=n) for n in "abc")
    note = "n" * 200
    write(
        a, products.insert(), [{"id": f"a{i:05}", "name": f"item {i}", "price": i, "note": note} for i in range(ROWS)]
    )
    add(b, ("b1", "from b", 1))
    add(c, ("c1", "from c", 1))
    remotes = {d.name: http_log(server.url, new_token(log_db, "alice")) for d in (a, b, c)}
    b.sync(remotes["b"])
    c.sync(remotes["c"])

    killer: list[threading.Timer] = []

    def kill_soon(report: SyncReport) -> bool:
        # after a few batches, kill the server 3 ms into the next push: mid-request, or close to it
        if report.sent_batches == 5 and not killer:
            killer.append(threading.Timer(0.003, server.kill))
            killer[0].start()
        return True

    with pytest.raises(RemoteUnavailable):
        a.sync(remotes["a"], upload_batch_size=BATCH, should_continue=kill_soon)
    killer[0].join()
    stored_batches, _entries = _log_totals(log_db)
    assert 5 <= stored_batches < ROWS // BATCH, "the kill must land in the middle of the upload"
    assert a.status().unshared > 0

    server.start()  # the same database, the same port
    for _ in range(3):
        for device in (a, b, c):
            try:
                device.sync(remotes[device.name], upload_batch_size=BATCH)
            except RemoteError as exc:  # pragma: no cover - reported with context
                pytest.fail(f"{device.name} could not sync after the restart: {exc}")
    expected = rows(a)
    assert len(expected) == ROWS + 2
    assert rows(b) == expected and rows(c) == expected
    assert _log_totals(log_db)[1] == ROWS + 2, "every entry is in the shared log exactly once"
    assert all(d.status().unshared == 0 and d.status().pending == 0 for d in (a, b, c))
