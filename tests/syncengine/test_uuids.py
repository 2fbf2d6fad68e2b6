"""UUIDs between databases: a PostgreSQL or MariaDB ``uuid`` column and an SQLite or MariaDB text column hold one value.

The README recommends a UUID text column for keys and lists UUID among the types that
travel; a shop whose server database has native ``uuid`` columns syncs with a laptop
whose SQLite file holds the same ids as text. Values, keys, edits and deletes must
reach every device, and ``verify`` must find them in step.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from syncengine import Device, SqlSharedLog

pytestmark = [pytest.mark.postgres, pytest.mark.mysql]

IDS = {name: str(uuid.UUID(int=n + 1)) for n, name in enumerate(["lite", "pg", "maria", "maria_text"])}


def _table(kind: str) -> sa.Table:
    """``notes`` keyed by an id and with an ``ext`` reference: native uuid, or text of 36 characters."""
    column = sa.Uuid() if kind == "uuid" else sa.String(36)
    return sa.Table(
        "notes",
        sa.MetaData(),
        sa.Column("id", column, primary_key=True),
        sa.Column("ext", sa.Uuid() if kind == "uuid" else sa.String(36)),
        sa.Column("body", sa.Text),
    )


def _text_rows(device: Device) -> list[tuple[str, str | None, str]]:
    """The rows as text, read with plain SQL (no engine code): a uuid and its text compare equal."""
    with device.engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT id, ext, body FROM notes").all()
    return sorted((str(i), None if e is None else str(e), b) for i, e, b in found)


def test_uuid_and_text_columns_on_three_databases_hold_the_same_rows(new_db, tmp_path) -> None:
    shapes = {"lite": ("sqlite", "text"), "pg": ("postgresql", "uuid"), "maria": ("mysql", "uuid"), "maria_text": ("mysql", "text")}
    tables = {name: _table(kind) for name, (_, kind) in shapes.items()}
    devices = {
        name: Device.init(new_db(dialect), metadata=tables[name].metadata, name=name)
        for name, (dialect, _) in shapes.items()
    }
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    try:
        for name, device in devices.items():  # each writes a row of its own, referring to the next one's
            with device.engine.begin() as conn:
                value = IDS[name] if shapes[name][1] == "text" else uuid.UUID(IDS[name])
                other = str(uuid.UUID(int=99)) if shapes[name][1] == "text" else uuid.UUID(int=99)
                conn.execute(tables[name].insert().values(id=value, ext=other, body=f"from {name}"))

        def pump() -> None:
            for _ in range(2):
                for device in devices.values():
                    report = device.sync(log)
                    assert report.quarantined == 0, (device.name, report)

        pump()
        expected = sorted((IDS[n], str(uuid.UUID(int=99)), f"from {n}") for n in shapes)
        for device in devices.values():
            assert _text_rows(device) == expected, device.name
        # an edit and a delete made on a text device reach the uuid devices' rows, and back
        with devices["lite"].engine.begin() as conn:
            conn.exec_driver_sql("UPDATE notes SET body = 'edited on sqlite' WHERE id = ?", (IDS["pg"],))
            conn.exec_driver_sql("DELETE FROM notes WHERE id = ?", (IDS["maria"],))
        with devices["pg"].engine.begin() as conn:
            conn.execute(tables["pg"].update().where(tables["pg"].c.id == uuid.UUID(IDS["lite"])).values(ext=None))
        pump()
        expected = sorted(
            [
                (IDS["lite"], None, "from lite"),
                (IDS["pg"], str(uuid.UUID(int=99)), "edited on sqlite"),
                (IDS["maria_text"], str(uuid.UUID(int=99)), "from maria_text"),
            ]
        )
        for device in devices.values():
            assert _text_rows(device) == expected, device.name
            assert device.conflicts(include_decided=True) == [], device.name
        verification = devices["lite"].verify(log)
        assert verification.in_step, verification.as_json()
        assert [d.state for d in verification.devices] == ["same"] * 3, verification.as_json()
    finally:
        log.close()
        for device in devices.values():
            device.close()


def test_a_device_whose_uuid_keys_were_stored_tagged_takes_edits_of_them_after_the_upgrade(new_db, tmp_path) -> None:
    """Registers of an earlier version keyed a native uuid as ``[{"$u": …}]``: the first sync rewrites them."""
    key = str(uuid.UUID(int=7))
    tables = {"sqlite": _table("text"), "postgresql": _table("uuid")}
    devices = {d: Device.init(new_db(d), metadata=tables[d].metadata, name=d) for d in tables}
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    try:
        with devices["postgresql"].engine.begin() as conn:
            conn.execute(tables["postgresql"].insert().values(id=uuid.UUID(key), body="kettle"))
        for device in [*devices.values(), *devices.values()]:
            device.sync(log)
        with devices["postgresql"].engine.begin() as conn:  # as the earlier version left them
            conn.exec_driver_sql("UPDATE syncengine_rows SET pk = %s WHERE tbl = 'notes'", (f'[{{"$u":"{key}"}}]',))
            conn.exec_driver_sql("UPDATE syncengine_state SET value = '2' WHERE key = 'stored_form'")
        with devices["sqlite"].engine.begin() as conn:
            conn.exec_driver_sql("UPDATE notes SET body = 'jug' WHERE id = ?", (key,))
        for device in [*devices.values(), *devices.values()]:
            assert device.sync(log).quarantined == 0
        assert [r[2] for r in _text_rows(devices["postgresql"])] == ["jug"]
        assert devices["postgresql"].conflicts(include_decided=True) == []
        with devices["postgresql"].engine.connect() as conn:
            texts = conn.exec_driver_sql("SELECT pk FROM syncengine_rows WHERE tbl = 'notes'").scalars().all()
        assert texts == [f'["{key}"]']
    finally:
        log.close()
        for device in devices.values():
            device.close()
