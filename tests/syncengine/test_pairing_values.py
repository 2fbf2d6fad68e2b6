"""Pairing carries every kind of value and every register as it is, between any two dialects (issue 13).

A sender on each dialect pairs with a new SQLite file, and an SQLite sender with a new
database on each dialect: the joiner ends with the sender's rows and its registers
(versions, field versions, tombstones) byte for byte.
"""

from __future__ import annotations

import math
import threading

import sqlalchemy as sa

from syncengine import Device, join

_INF_OK = ("sqlite", "postgresql")  # MariaDB's DOUBLE holds no infinity


def _things(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "things",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
        sa.Column("ratio", sa.Float, nullable=True),
        sa.Column("count", sa.BigInteger, nullable=True),
    )


def _fill(url: str, dialect: str) -> Device:
    """A device on ``url`` holding varied rows, one updated and one deleted after sync was installed."""
    metadata = sa.MetaData()
    things = _things(metadata)
    engine = sa.create_engine(url if "://" in url else f"sqlite:///{url}")
    metadata.create_all(engine)
    rows = [
        {
            "id": f"t{i:04d}",
            "label": f"thing {i} ✓ «quoted» \"and\" 'single'",
            "data": bytes([i % 256]) * (i % 7),
            "ratio": i / 3 if i % 5 else None,
            "count": (2**62 + i) if i % 2 else -i,
        }
        for i in range(300)
    ]
    rows[7]["data"] = None
    if dialect in _INF_OK:
        rows[3]["ratio"], rows[4]["ratio"] = math.inf, -math.inf
    with engine.begin() as conn:
        conn.execute(things.insert(), rows)
    engine.dispose()
    device = Device.init(url, ["things"], name="sender")
    with device.engine.begin() as conn:
        conn.execute(things.update().where(things.c.id == "t0010").values(label="changed after init"))
        conn.execute(things.delete().where(things.c.id == "t0020"))
    return device


def _state(url: str) -> tuple[list[tuple], list[tuple]]:
    """The rows of ``things`` and their registers, in key order."""
    engine = sa.create_engine(url if "://" in url else f"sqlite:///{url}")
    try:
        with engine.connect() as conn:  # as the driver reads them (a reflected DOUBLE would come as a Decimal)
            rows = [
                (r[0], r[1], bytes(r[2]) if r[2] is not None else None, r[3], int(r[4]))
                for r in conn.exec_driver_sql("SELECT id, label, data, ratio, count FROM things ORDER BY id")
            ]
            registers = [
                tuple(r)
                for r in conn.exec_driver_sql(
                    "SELECT tbl, pk, exists_v, alive, fields, dead FROM syncengine_rows ORDER BY tbl, pk"
                )
            ]
    finally:
        engine.dispose()
    return rows, registers


def _pair_and_join(sender: Device, joiner_url: str) -> None:
    pairing = sender.pair(host="127.0.0.1")
    thread = threading.Thread(target=pairing.serve)
    thread.start()
    report = join(joiner_url, str(pairing.code))
    thread.join(60)
    assert report.received == 300 and report.tables_created == ["things"]


def test_a_sender_on_each_dialect_gives_a_new_sqlite_file_its_rows_and_registers(dialect, new_db, tmp_path) -> None:
    sender_url = new_db(dialect)
    sender = _fill(sender_url, dialect)
    try:
        _pair_and_join(sender, str(tmp_path / "joined.db"))
        rows, registers = _state(str(tmp_path / "joined.db"))
        assert (rows, registers) == _state(sender_url)
        assert len(rows) == 299 and any(r[4] == 2**62 + 1 for r in rows)
        assert any(r[3] == 0 for r in registers) and any(r[4] for r in registers)  # a tombstone, field versions
    finally:
        sender.close()


def test_a_new_database_on_each_dialect_joins_an_sqlite_sender(dialect, new_db, tmp_path) -> None:
    sender_path = str(tmp_path / "sender.db")
    sender = _fill(sender_path, "sqlite" if dialect in _INF_OK else dialect)
    try:
        joiner_url = new_db(dialect)
        _pair_and_join(sender, joiner_url)
        assert _state(joiner_url) == _state(sender_path)
        joined = Device.open(joiner_url)
        assert joined.device_id != sender.device_id
        joined.close()
    finally:
        sender.close()
