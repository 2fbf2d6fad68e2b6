"""Datetime columns that differ only in time-zone awareness hold the same instants and agree.

SQLite and MariaDB keep no time zone; PostgreSQL's ``timestamptz`` does. The rule:
a naive datetime is a UTC wall time. An aware value written to a naive column is
converted to UTC and stored naive; a naive value written to an aware column is
taken as UTC. Digests (``verify``) and conflict detection (restated rows included)
compare such values as the instants they are, so a mixed team is in step and moving
it to a new shared log makes no conflict.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncengine import Device, SqlSharedLog, join
from syncengine._db import to_url
from syncengine.core import TableDigest
from syncengine.reconcile._conflicts import same
from syncengine.values import utc_wall

UTC = dt.UTC
PLUS_2 = dt.timezone(dt.timedelta(hours=2))
DIALECTS = ("sqlite", "postgresql", "mysql")


def _moment(dialect: str) -> sa.types.TypeEngine[Any]:
    """A datetime column as each kind of device declares it: aware on PostgreSQL only."""
    return {"sqlite": sa.TIMESTAMP(), "postgresql": sa.DateTime(timezone=True), "mysql": mysql.DATETIME(fsp=6)}[dialect]


def _products(dialect: str) -> sa.Table:
    """The ``products`` table as each kind of device declares it."""
    return sa.Table(
        "products",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("at", _moment(dialect)),
    )


def _instant(value: dt.datetime | None) -> dt.datetime | None:
    """The UTC wall time a stored value stands for (naive ones are UTC already)."""
    return None if value is None else utc_wall(value)


def _events(dialect: str) -> sa.Table:
    """A table keyed by a datetime."""
    return sa.Table(
        "events", sa.MetaData(), sa.Column("at", _moment(dialect), primary_key=True), sa.Column("what", sa.Text)
    )


class Team:
    """An SQLite, a PostgreSQL (``timestamptz``, its sessions in another time zone) and a MariaDB device."""

    def __init__(self, new_db: Any, table: Callable[[str], sa.Table] = _products) -> None:
        self.urls = {d: new_db(d) for d in DIALECTS}
        # PostgreSQL takes a naive value in the session's time zone: one far from UTC shows whether
        # the engine says which instant it means
        admin = sa.create_engine(to_url(self.urls["postgresql"]), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET timezone TO 'Asia/Kathmandu'")
        admin.dispose()
        self.tables = {d: table(d) for d in DIALECTS}
        self.devices = {d: Device.init(self.urls[d], metadata=self.tables[d].metadata, name=d) for d in DIALECTS}

    def write(self, dialect: str, rows: list[dict[str, Any]]) -> None:
        engine = sa.create_engine(to_url(self.urls[dialect]))
        with engine.begin() as conn:
            conn.execute(self.tables[dialect].insert(), rows)
        engine.dispose()

    def execute(self, dialect: str, statement: sa.Executable) -> None:
        engine = sa.create_engine(to_url(self.urls[dialect]))
        with engine.begin() as conn:
            conn.execute(statement)
        engine.dispose()

    def events(self, dialect: str) -> dict[dt.datetime, str]:
        """What an ``events`` table holds, keyed by UTC wall time."""
        table = self.tables[dialect]
        engine = sa.create_engine(to_url(self.urls[dialect]))
        with engine.connect() as conn:
            found = {utc_wall(r.at): r.what for r in conn.execute(sa.select(table))}
        engine.dispose()
        return found

    def read(self, dialect: str) -> dict[str, tuple[str | None, dt.datetime | None]]:
        table = self.tables[dialect]
        engine = sa.create_engine(to_url(self.urls[dialect]))
        with engine.connect() as conn:
            found = {r.id: (r.name, r.at) for r in conn.execute(sa.select(table))}
        engine.dispose()
        return found

    def pump(self, remote: SqlSharedLog, rounds: int = 2) -> None:
        for _ in range(rounds):
            for device in self.devices.values():
                device.sync(remote)

    def assert_in_step(self, remote: SqlSharedLog) -> None:
        # a sync publishes its digest only within a time budget (a busy machine skips some): verify
        # publishes each device's own first, so the comparison below never meets a stale position
        for device in self.devices.values():
            device.verify(remote)
        for dialect, device in self.devices.items():
            found = device.verify(remote)
            assert found.in_step, (dialect, found.as_json())
            assert [d.state for d in found.devices] == ["same", "same"], (dialect, found.as_json())

    def assert_no_conflict(self) -> None:
        for dialect, device in self.devices.items():
            assert device.conflicts(include_decided=True) == [], (dialect, device.conflicts(include_decided=True))
            status = device.status()
            assert (status.quarantined, status.pending, status.unshared) == (0, 0, 0), (dialect, status)

    def close(self) -> None:
        for device in self.devices.values():
            device.close()


@pytest.fixture
def team(new_db) -> Iterator[Team]:
    made = Team(new_db)
    yield made
    made.close()


def _shared(new_db: Any) -> SqlSharedLog:
    return SqlSharedLog(new_db("postgresql"))


ROWS = {
    "sqlite": [
        {"id": "s1", "name": "kettle", "at": dt.datetime(2024, 5, 1, 10, 0)},
        {"id": "s2", "name": "mug", "at": dt.datetime(1999, 12, 31, 23, 59, 59, 250000)},
    ],
    "postgresql": [
        {"id": "p1", "name": "teapot", "at": dt.datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_2)},
        {"id": "p2", "name": "cup", "at": dt.datetime(2024, 3, 31, 1, 30, 0, 5, tzinfo=UTC)},
    ],
    "mysql": [
        {"id": "m1", "name": "spoon", "at": dt.datetime(2038, 1, 19, 3, 14, 8, 1)},
        {"id": "m2", "name": "plate", "at": None},
    ],
}
# what every device holds, as UTC wall times
EXPECTED = {r["id"]: (r["name"], _instant(r["at"])) for rows in ROWS.values() for r in rows}


def _write_everywhere(team: Team) -> None:
    for dialect, rows in ROWS.items():
        team.write(dialect, rows)


@pytest.mark.postgres
@pytest.mark.mysql
def test_naive_and_aware_datetime_columns_hold_the_same_instants_and_verify_in_step(team, new_db) -> None:
    remote = _shared(new_db)
    try:
        _write_everywhere(team)
        team.pump(remote)
        for dialect in DIALECTS:
            held = {k: (name, _instant(at)) for k, (name, at) in team.read(dialect).items()}
            assert held == EXPECTED, dialect
        # aware on PostgreSQL, naive (UTC) elsewhere
        assert all(at is None or at.tzinfo is not None for _, at in team.read("postgresql").values())
        assert all(at is None or at.tzinfo is None for _, at in team.read("mysql").values())
        assert all(at is None or at.tzinfo is None for _, at in team.read("sqlite").values())
        team.assert_in_step(remote)
        team.assert_no_conflict()
    finally:
        remote.close()


@pytest.mark.postgres
@pytest.mark.mysql
def test_a_mixed_team_moving_to_a_new_shared_log_shares_its_state_without_a_conflict(team, new_db) -> None:
    old, new = _shared(new_db), _shared(new_db)
    try:
        _write_everywhere(team)
        team.pump(old)
        team.pump(new)  # every device shares its whole state there: restated rows meet equal instants
        team.assert_no_conflict()
        team.assert_in_step(new)
        for dialect in DIALECTS:
            held = {k: (name, _instant(at)) for k, (name, at) in team.read(dialect).items()}
            assert held == EXPECTED, dialect
    finally:
        old.close()
        new.close()


@pytest.mark.postgres
@pytest.mark.mysql
def test_repairing_every_row_of_a_mixed_team_finds_nothing_diverged(team, new_db) -> None:
    remote = _shared(new_db)
    try:
        _write_everywhere(team)
        team.pump(remote)
        for dialect in DIALECTS:
            repaired = team.devices[dialect].repair(remote, everything=True)
            assert repaired.restated == len(EXPECTED) and repaired.differences == ()
            team.pump(remote)
        team.assert_no_conflict()
        team.assert_in_step(remote)
    finally:
        remote.close()


def test_a_naive_datetime_is_the_same_value_as_the_aware_one_of_that_utc_instant() -> None:
    naive = dt.datetime(2024, 5, 1, 10, 0)
    assert same(naive, dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    assert same(dt.datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_2), naive)
    assert not same(naive, dt.datetime(2024, 5, 1, 10, 0, tzinfo=PLUS_2))
    assert not same(naive, dt.datetime(2024, 5, 1, 10, 0, 1))
    assert not same(naive, dt.date(2024, 5, 1))


def test_utc_wall_converts_aware_datetimes_and_keeps_naive_ones() -> None:
    assert utc_wall(dt.datetime(2024, 5, 1, 0, 30, tzinfo=PLUS_2)) == dt.datetime(2024, 4, 30, 22, 30)
    assert utc_wall(dt.datetime(2024, 5, 1, 0, 30)) == dt.datetime(2024, 5, 1, 0, 30)


def test_a_digest_counts_a_naive_datetime_and_its_aware_utc_instant_alike() -> None:
    from syncengine.store._digest import row_text

    naive = row_text({"id": "k", "at": dt.datetime(2024, 5, 1, 10, 0)})
    assert row_text({"id": "k", "at": dt.datetime(2024, 5, 1, 12, 0, tzinfo=PLUS_2)}) == naive
    assert row_text({"id": "k", "at": dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)}) == naive
    assert row_text({"id": "k", "at": dt.datetime(2024, 5, 1, 10, 0, 1)}) != naive
    one, other = TableDigest(), TableDigest()
    one.add('["k"]', naive)
    other.add('["k"]', row_text({"id": "k", "at": dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)}))
    assert one == other


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize(("sender", "joiner"), [("sqlite", "postgresql"), ("postgresql", "mysql")])
def test_pairing_into_a_column_of_the_other_kind_keeps_the_instants(team, new_db, sender, joiner) -> None:
    team.write(sender, ROWS[sender])
    joiner_url = new_db(joiner)  # a database holding the table as its kind declares it, empty, not synced yet
    engine = sa.create_engine(to_url(joiner_url))
    table = _products(joiner)
    table.metadata.create_all(engine)
    if joiner == "postgresql":
        with engine.connect() as conn:
            name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET timezone TO 'Asia/Kathmandu'")
            conn.commit()
    engine.dispose()
    pairing = team.devices[sender].pair(host="127.0.0.1")
    thread = threading.Thread(target=pairing.serve)
    thread.start()
    report = join(joiner_url, str(pairing.code))
    thread.join(60)
    assert report.received == len(ROWS[sender])
    engine = sa.create_engine(to_url(joiner_url))
    with engine.connect() as conn:
        held = {r.id: (r.name, _instant(r.at)) for r in conn.execute(sa.select(table))}
    engine.dispose()
    assert held == {r["id"]: (r["name"], _instant(r["at"])) for r in ROWS[sender]}


@pytest.mark.postgres
@pytest.mark.mysql
def test_rows_keyed_by_a_datetime_line_up_on_devices_of_either_kind(new_db) -> None:
    team = Team(new_db, _events)
    remote = _shared(new_db)
    january, february, march = dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1, 0, 0, 0, 5)
    try:
        team.write("sqlite", [{"at": january, "what": "made on sqlite"}])
        team.write("postgresql", [{"at": february.replace(tzinfo=UTC), "what": "made on postgresql"}])
        team.write("mysql", [{"at": march, "what": "made on mariadb"}])
        team.pump(remote)
        # each device changes a row another kind of device made
        events = team.tables
        team.execute("sqlite", events["sqlite"].update().where(events["sqlite"].c.at == february).values(what="edited"))
        at = march.replace(tzinfo=UTC)
        team.execute(
            "postgresql", events["postgresql"].update().where(events["postgresql"].c.at == at).values(what="edited")
        )
        team.execute("mysql", events["mysql"].delete().where(events["mysql"].c.at == january))
        team.pump(remote)
        for dialect in DIALECTS:
            assert team.events(dialect) == {february: "edited", march: "edited"}, dialect
        team.assert_no_conflict()
        team.assert_in_step(remote)
    finally:
        remote.close()
        team.close()


@pytest.mark.postgres
def test_a_device_that_stored_keys_with_its_session_offset_goes_on_without_a_conflict(new_db) -> None:
    """Registers written before key texts held UTC wall times (``…T05:45:00+05:45``) are found again."""
    team = Team(new_db, _events)
    remote = _shared(new_db)
    at = dt.datetime(2024, 2, 1, tzinfo=UTC)
    try:
        team.write("postgresql", [{"at": at, "what": "made on postgresql"}])
        team.pump(remote)
        engine = sa.create_engine(to_url(team.urls["postgresql"]))
        with engine.begin() as conn:  # the registers as the earlier form stored them, in the session's zone
            conn.exec_driver_sql(
                "UPDATE syncengine_rows SET pk = '[{\"$dt\":\"2024-02-01T05:45:00+05:45\"}]' WHERE tbl = 'events'"
            )
            conn.exec_driver_sql("DELETE FROM syncengine_state WHERE key = 'stored_form'")
        engine.dispose()
        events = team.tables["postgresql"]
        team.execute("postgresql", events.update().where(events.c.at == at).values(what="edited on postgresql"))
        team.pump(remote)
        for dialect in DIALECTS:
            assert team.events(dialect) == {utc_wall(at): "edited on postgresql"}, dialect
        team.assert_no_conflict()
        team.assert_in_step(remote)
        engine = sa.create_engine(to_url(team.urls["postgresql"]))
        with engine.connect() as conn:
            texts = conn.exec_driver_sql("SELECT pk FROM syncengine_rows WHERE tbl = 'events'").scalars().all()
        engine.dispose()
        assert texts == ['[{"$dt":"2024-02-01T00:00:00"}]']
    finally:
        remote.close()
        team.close()


def _stamps(dialect: str) -> sa.Table:
    """A table with a MariaDB ``TIMESTAMP`` (stored as an instant, shown in the session's zone) or a ``timestamptz``."""
    moment = mysql.TIMESTAMP(fsp=6) if dialect == "mysql" else sa.DateTime(timezone=True)
    return sa.Table(
        "stamps",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("at", moment, nullable=True),
    )


def _in_zone(url: str, zone: str) -> str:
    """``url`` with every session of it in ``zone``: what a program or server set to that zone sees."""
    return str(sa.make_url(to_url(url)).update_query_dict({"init_command": f"SET time_zone = '{zone}'"}))


class Stamps:
    """A MariaDB database whose every session is at +05:45 and a PostgreSQL one, each with a ``stamps`` table."""

    def __init__(self, new_db: Any) -> None:
        self.urls = {"mysql": _in_zone(new_db("mysql"), "+05:45"), "postgresql": new_db("postgresql")}
        self.tables = {d: _stamps(d) for d in self.urls}
        self.engines = {d: sa.create_engine(to_url(url)) for d, url in self.urls.items()}
        for dialect, engine in self.engines.items():
            self.tables[dialect].metadata.create_all(engine)
        self.devices: dict[str, Device] = {}

    def insert(self, dialect: str, rows: list[dict[str, Any]]) -> None:
        with self.engines[dialect].begin() as conn:
            conn.execute(self.tables[dialect].insert(), rows)

    def held(self, dialect: str) -> dict[str, dt.datetime]:
        with self.engines[dialect].connect() as conn:
            return {r.id: r.at for r in conn.execute(sa.select(self.tables[dialect]))}

    def close(self) -> None:
        for device in self.devices.values():
            device.close()
        for engine in self.engines.values():
            engine.dispose()


@pytest.fixture
def stamps(new_db) -> Iterator[Stamps]:
    made = Stamps(new_db)
    yield made
    made.close()


@pytest.mark.postgres
@pytest.mark.mysql
def test_a_mariadb_timestamp_written_in_another_time_zone_travels_as_its_instant(stamps, new_db) -> None:
    stamps.devices = {d: Device.init(url, ["stamps"]) for d, url in stamps.urls.items()}
    remote = _shared(new_db)
    try:
        ten_utc = dt.datetime(2024, 5, 1, 10, 0, 0, 250000)
        stamps.insert("mysql", [{"id": "m1", "at": dt.datetime(2024, 5, 1, 15, 45, 0, 250000)}])  # 10:00:00.25 UTC
        stamps.insert("postgresql", [{"id": "p1", "at": ten_utc.replace(tzinfo=UTC)}])
        for _ in range(2):
            for device in stamps.devices.values():
                device.sync(remote)
        assert {k: utc_wall(v) for k, v in stamps.held("postgresql").items()} == {"m1": ten_utc, "p1": ten_utc}
        shown = dt.datetime(2024, 5, 1, 15, 45, 0, 250000)  # the instant, shown in the session's zone
        assert stamps.held("mysql") == {"m1": shown, "p1": shown}
        for device in stamps.devices.values():
            assert device.verify(remote).in_step
            assert device.conflicts(include_decided=True) == []
    finally:
        remote.close()


@pytest.mark.postgres
@pytest.mark.mysql
def test_a_mariadb_device_whose_triggers_captured_the_session_zone_gets_new_ones_at_its_next_sync(
    stamps, new_db, monkeypatch
) -> None:
    import syncengine.capture._mysql as triggers

    earlier = triggers._cell
    with (
        monkeypatch.context() as patch
    ):  # installed by an earlier version: a TIMESTAMP captured as the session shows it
        patch.setattr(triggers, "_cell", lambda c, ref: ref if isinstance(c.type, mysql.TIMESTAMP) else earlier(c, ref))
        Device.init(stamps.urls["mysql"], ["stamps"]).close()
    with stamps.engines["mysql"].begin() as conn:
        conn.exec_driver_sql("DELETE FROM syncengine_state WHERE `key` = 'stored_form'")
    stamps.devices = {
        "mysql": Device.open(stamps.urls["mysql"]),
        "postgresql": Device.init(stamps.urls["postgresql"], ["stamps"]),
    }
    remote = _shared(new_db)
    try:
        stamps.insert("mysql", [{"id": "m1", "at": dt.datetime(2024, 5, 1, 15, 45)}])
        for device in stamps.devices.values():
            assert device.sync(remote).schema_changes == []  # nothing the person changed: said nowhere
        assert {k: utc_wall(v) for k, v in stamps.held("postgresql").items()} == {"m1": dt.datetime(2024, 5, 1, 10, 0)}
    finally:
        remote.close()


def test_an_sqlite_datetime_key_written_as_other_programs_write_it_takes_edits_and_deletes(tmp_path) -> None:
    """SQLite keeps a DATETIME key as the text it was given: '09:00:00' and '09:00:00.250' are keys too."""
    import sqlite3

    remote = SqlSharedLog(str(tmp_path / "shared.db"))
    paths = [tmp_path / "a.db", tmp_path / "b.db"]
    for path in paths:
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE events (at DATETIME PRIMARY KEY, label TEXT)")
        con.commit()
        con.close()
    a, b = (Device.init(str(path), ["events"], name=path.stem) for path in paths)
    try:
        con = sqlite3.connect(paths[0])  # the sqlite3 shell's way: no microseconds, or milliseconds
        con.executemany(
            "INSERT INTO events VALUES (?, ?)", [("2024-08-01 09:00:00", "whole"), ("2024-08-02 09:00:00.250", "milli")]
        )
        con.commit()
        con.close()
        a.sync(remote)
        b.sync(remote)
        con = sqlite3.connect(paths[1])
        con.execute("UPDATE events SET label = 'edited on b' WHERE label = 'whole'")
        con.execute("DELETE FROM events WHERE label = 'milli'")
        con.commit()
        con.close()
        b.sync(remote)
        assert a.sync(remote).applied == 2
        con = sqlite3.connect(paths[0])
        assert con.execute("SELECT at, label FROM events").fetchall() == [("2024-08-01 09:00:00", "edited on b")]
        con.close()
        assert a.conflicts(include_decided=True) == [] and a.verify(remote).in_step
    finally:
        a.close()
        b.close()
        remote.close()
