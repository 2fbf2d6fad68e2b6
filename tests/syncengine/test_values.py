"""Column values survive device → shared log → device exactly, on every dialect.

A row written on one device is captured by its triggers, decoded, shared, received
by another device and written there by the engine; reading it back must give the
very value that was written (same type, same digits, same instant). Each dialect
is tested to itself, and along the chain SQLite → PostgreSQL → MariaDB with the
values every one of them can store.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncengine import Device, SqlSharedLog
from syncengine._db import to_url

UTC = dt.UTC

TEXTS = [
    "plain",
    "",
    "quotes ' \" and `backticks`, back\\slash \\\\ and \\x00 as text",
    "new\nline, tab\t, carriage\r\nreturn",
    "emoji 🎉👍🏽‍ and 中文, é, ß, \u2028\u2029 separators, \U0001f600",
    '{"looks": "like json"}',
    '["r", "1.5"]',  # the SQLite trigger's tag shape, as plain text
    "123",
]
INTEGERS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63 - 1), -(2**63)]
FLOATS = [0.1 + 0.2, 1e300, -1e300, -0.0, 5e-324, 2.2250738585072014e-308, 1 / 3, 2.0**53, -1.5]
DECIMALS = [
    Decimal("0.000001"),
    Decimal("-12345678901234.123456"),
    Decimal("99999999999999.999999"),
    Decimal("1.5"),
    Decimal("0"),
    Decimal("-7"),
]
# SQLite stores Numeric as a REAL (15 significant digits), so along the chain and on
# SQLite the decimals are ones a double holds exactly at scale 6
SMALL_DECIMALS = [
    Decimal("0.000001"),
    Decimal("-1234.567891"),
    Decimal("1.5"),
    Decimal("0"),
    Decimal("-7"),
    Decimal("123456789.25"),
]
BOOLEANS = [True, False]
DATES = [dt.date(2024, 2, 29), dt.date(1970, 1, 1), dt.date(9999, 12, 31), dt.date(1000, 1, 1)]
NAIVE_DATETIMES = [
    dt.datetime(2024, 5, 1, 10, 0, 0, 123456),
    dt.datetime(1999, 12, 31, 23, 59, 59),
    dt.datetime(2038, 1, 19, 3, 14, 8, 1),
    dt.datetime(1970, 1, 1),
]
AWARE_DATETIMES = [
    dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    dt.datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=14))),
]
BLOBS = [b"\x00\xff", b"", bytes(range(256)), "ünïcode".encode(), b"\\x00ff", b'["b", "00"]']
DOCUMENTS = [
    {"a": [1, 2.5, {"b": None, "c": [True, False]}], "s": 'x"y\\z\n', "n": 0.1, "big": 2**53 + 1},
    [1, "two", 3.25, [], {}],
    {"deep": {"deeper": {"deepest": [0.30000000000000004, -1e-300, 1e300]}}},
    {"$b": "not a tag", "emoji": "🎉"},
    "123",  # a JSON string that looks like a number
    "plain string",
    42,
    -0.5,
    True,
    [],
]


def columns(dialect: str, *, portable: bool, json: bool) -> list[sa.Column]:  # type: ignore[type-arg]
    """The value columns; ``portable`` ones every dialect can hold the same way."""
    if portable or dialect != "postgresql":
        # MariaDB and SQLite keep no time zone; MariaDB needs fsp=6 for microseconds
        moment: sa.types.TypeEngine[Any] = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    else:
        moment = sa.DateTime(timezone=True)
    return [
        sa.Column("txt", sa.Text),
        sa.Column("big", sa.BigInteger),
        sa.Column("dbl", sa.Double),
        sa.Column("dec", sa.Numeric(20, 6)),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("moment", moment),
        sa.Column("blob", sa.LargeBinary),
        *([sa.Column("doc", sa.JSON(none_as_null=True))] if json else []),
    ]


def make_table(dialect: str, *, portable: bool, json: bool) -> sa.Table:
    """Return the ``vals`` table (in a fresh MetaData) for ``dialect``."""
    value_columns = columns(dialect, portable=portable, json=json)
    return sa.Table("vals", sa.MetaData(), sa.Column("id", sa.String(40), primary_key=True), *value_columns)


def value_sets(dialect: str, *, portable: bool, json: bool) -> dict[str, list[Any]]:
    """Return the values to write per column."""
    exact_decimals = dialect != "sqlite" and not portable
    values = {
        "txt": TEXTS,
        "big": INTEGERS,
        "dbl": FLOATS,
        "dec": DECIMALS if exact_decimals else SMALL_DECIMALS,
        "flag": BOOLEANS,
        "day": DATES,
        "moment": AWARE_DATETIMES if dialect == "postgresql" and not portable else NAIVE_DATETIMES,
        "blob": BLOBS,
        "doc": DOCUMENTS,
    }
    if not json:
        del values["doc"]
    return values


def make_rows(values: dict[str, list[Any]], prefix: str, shift: int = 0) -> list[dict[str, Any]]:
    """Return rows that together hold every value of every column, plus a row of NULLs."""
    count = max(len(v) for v in values.values())
    rows = [{"id": f"{prefix}{i:02d}", **{c: v[(i + shift) % len(v)] for c, v in values.items()}} for i in range(count)]
    rows.append({"id": f"{prefix}null", **{c: None for c in values}})
    return rows


def comparable(value: Any, *, signed_zero: bool = True) -> Any:
    """Return a form of ``value`` that compares equal only for the same type and value.

    Without ``signed_zero`` -0.0 counts as 0.0: SQLite and MariaDB store -0.0 as 0.
    """
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        if value == 0 and not signed_zero:
            value = 0.0
        return ("float", repr(value), math.copysign(1.0, value))
    if isinstance(value, Decimal):
        return ("decimal", value)  # Decimal("1.5") == Decimal("1.500000"): the column has scale 6
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return ("naive", value)
        return ("instant", value.astimezone(UTC))
    if isinstance(value, dict):
        return ("dict", sorted((k, comparable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("list", [comparable(v) for v in value])
    if isinstance(value, bytes | bytearray | memoryview):
        return ("bytes", bytes(value))
    return (type(value).__name__, value)


def read(url: str, table: sa.Table) -> list[dict[str, Any]]:
    """Return every row of ``table``, by key, read with the declared column types.

    Each row also says, per column, whether it holds SQL NULL (``<name> is null``):
    a JSON column could hold the JSON text ``null`` instead, which reads as None too.
    """
    nulls = [sa.case((c.is_(None), True), else_=False).label(f"{c.name} is null") for c in table.columns]
    engine = sa.create_engine(to_url(url))
    try:
        with engine.connect() as conn:
            query = sa.select(table, *nulls).order_by(table.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        engine.dispose()


def write(url: str, table: sa.Table, rows: list[dict[str, Any]], *, update: bool = False) -> None:
    """Insert (or update by key) ``rows`` through a plain engine, as an application would."""
    engine = sa.create_engine(to_url(url))
    try:
        with engine.begin() as conn:
            if update:
                statement = table.update().where(table.c.id == sa.bindparam("k_id"))
                statement = statement.values({c.name: sa.bindparam(c.name) for c in table.columns if c.name != "id"})
                conn.execute(statement, [{**{k: v for k, v in r.items() if k != "id"}, "k_id": r["id"]} for r in rows])
            else:
                conn.execute(table.insert(), rows)
    finally:
        engine.dispose()


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]], *, signed_zero: bool) -> None:
    """Assert the rows hold the same values, column by column (for a readable failure)."""
    assert [r["id"] for r in actual] == [r["id"] for r in expected]
    for got, want in zip(actual, expected, strict=True):
        for column, value in want.items():
            same = comparable(got[column], signed_zero=signed_zero) == comparable(value, signed_zero=signed_zero)
            assert same, f"row {want['id']} column {column}: {got[column]!r} != {value!r}"
            assert bool(got[f"{column} is null"]) == (value is None), f"row {want['id']} column {column}: NULL or not"


def assert_clean(*devices: Device) -> None:
    """Assert nothing was quarantined or left behind on the devices."""
    for device in devices:
        status = device.status()
        assert device.quarantined() == [], device.quarantined()
        assert (status.unshared, status.pending, status.quarantined) == (0, 0, 0)


@pytest.fixture
def remote(tmp_path):
    """A shared log in an SQLite file."""
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    yield log
    log.engine.dispose()


# SQLAlchemy warns whenever SQLite reads or writes a Numeric column (SQLite has no
# decimal type, so the value goes through a float); the test's own reads and writes
# of the ``dec`` column trigger it, and the test checks exactly those digits
_SQLITE_DECIMAL_WARNING = "ignore:Dialect sqlite\\+pysqlite does \\*not\\* support Decimal objects natively"


@pytest.mark.filterwarnings(_SQLITE_DECIMAL_WARNING)
@pytest.mark.parametrize("json", [False, True], ids=["scalars", "json"])
def test_values_round_trip_between_devices_of_one_dialect(dialect, new_db, remote, json):
    table = make_table(dialect, portable=False, json=json)
    values = value_sets(dialect, portable=False, json=json)
    a_url, b_url = new_db(dialect), new_db(dialect)
    a = Device.init(a_url, metadata=table.metadata, name="a")
    b = Device.init(b_url, metadata=table.metadata, name="b")
    try:
        signed_zero = dialect == "postgresql"  # the others store -0.0 as 0
        rows = make_rows(values, "r")
        write(a_url, table, rows)
        assert_rows(read(a_url, table), rows, signed_zero=signed_zero)  # the database itself keeps them
        a.sync(remote)
        b.sync(remote)
        assert_rows(read(b_url, table), rows, signed_zero=signed_zero)

        # updates carry the changed values as exactly (every row gets the next row's values)
        changed = [{**r, "id": old["id"]} for r, old in zip(make_rows(values, "r", shift=1), rows, strict=True)]
        changed[-1] = {**rows[0], "id": rows[-1]["id"]}  # the NULL row gets values
        changed[0] = {**rows[-1], "id": rows[0]["id"]}  # and a row with values gets NULLs
        write(a_url, table, changed, update=True)
        a.sync(remote)
        b.sync(remote)
        assert_rows(read(a_url, table), changed, signed_zero=signed_zero)
        assert_rows(read(b_url, table), changed, signed_zero=signed_zero)

        # and back the other way: B's edits reach A
        write(b_url, table, rows, update=True)
        b.sync(remote)
        a.sync(remote)
        assert_rows(read(a_url, table), rows, signed_zero=signed_zero)
        assert_clean(a, b)
    finally:
        a.close()
        b.close()


@pytest.mark.filterwarnings(_SQLITE_DECIMAL_WARNING)
@pytest.mark.parametrize("json", [False, True], ids=["scalars", "json"])
def test_values_read_back_from_the_table_travel_exactly(dialect, new_db, tmp_path, json):
    """A whole state shared again (a new log) is read from the table itself, not from the triggers: same values."""
    table = make_table(dialect, portable=False, json=json)
    values = value_sets(dialect, portable=False, json=json)
    a_url, b_url = new_db(dialect), new_db(dialect)
    rows = make_rows(values, "r")
    signed_zero = dialect == "postgresql"
    a = Device.init(a_url, metadata=table.metadata, name="a")
    first, second = SqlSharedLog(str(tmp_path / "first.db")), SqlSharedLog(str(tmp_path / "second.db"))
    b = Device.init(b_url, metadata=table.metadata, name="b")
    try:
        write(a_url, table, rows)
        a.sync(first)
        a.sync(second)  # a log it has not shared with: it shares every row as the table holds it
        b.sync(second)
        assert_rows(read(b_url, table), rows, signed_zero=signed_zero)
        by_id = {r["id"]: r for r in rows}
        for got in a.rows("vals", list(by_id)):  # what the API reads is what the table holds
            for column, value in by_id[got["id"]].items():
                want = comparable(value, signed_zero=signed_zero)
                assert comparable(got[column], signed_zero=signed_zero) == want, (got["id"], column, got[column])
        assert a.verify(second).in_step
        assert_clean(a, b)
    finally:
        a.close()
        b.close()
        first.engine.dispose()
        second.engine.dispose()


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.filterwarnings(_SQLITE_DECIMAL_WARNING)
@pytest.mark.parametrize("json", [False, True], ids=["scalars", "json"])
def test_values_travel_sqlite_to_postgresql_to_mariadb(new_db, remote, json):
    chain = ["sqlite", "postgresql", "mysql"]
    urls = {d: new_db(d) for d in chain}
    tables = {d: make_table(d, portable=True, json=json) for d in chain}
    devices = {d: Device.init(urls[d], metadata=tables[d].metadata, name=d) for d in chain}
    try:
        values = value_sets("sqlite", portable=True, json=json)
        from_sqlite = make_rows(values, "lite-")
        write(urls["sqlite"], tables["sqlite"], from_sqlite)
        devices["sqlite"].sync(remote)
        devices["postgresql"].sync(remote)
        # SQLite and MariaDB keep no negative zero, so the chain cannot carry one
        assert_rows(read(urls["postgresql"], tables["postgresql"]), from_sqlite, signed_zero=False)

        # PostgreSQL writes values of its own (captured by its triggers) for MariaDB
        from_postgresql = make_rows(values, "pg-", shift=1)
        write(urls["postgresql"], tables["postgresql"], from_postgresql)
        devices["postgresql"].sync(remote)
        devices["mysql"].sync(remote)
        expected = sorted(from_sqlite + from_postgresql, key=lambda r: r["id"])
        assert_rows(read(urls["mysql"], tables["mysql"]), expected, signed_zero=False)

        # and MariaDB's edits come back to SQLite
        edits = [{**r, "id": old["id"]} for r, old in zip(make_rows(values, "x", shift=2), from_sqlite, strict=True)]
        write(urls["mysql"], tables["mysql"], edits, update=True)
        devices["mysql"].sync(remote)
        devices["postgresql"].sync(remote)
        devices["sqlite"].sync(remote)
        final = sorted(edits + from_postgresql, key=lambda r: r["id"])
        for d in chain:
            assert_rows(read(urls[d], tables[d]), final, signed_zero=False)
        assert_clean(*devices.values())
    finally:
        for device in devices.values():
            device.close()


@pytest.mark.parametrize(
    "row",
    [
        {"id": "k", "n": 1, "r": 0.1, "t": None},
        {"id": "k", "r": float("inf")},
        {"id": "k", "r": float("-inf"), "t": "null"},
        {"id": "k", "b": b"\x00\xff"},
        {"$id": "only a dollar column"},
        {"id": "k", "big": 2**63 - 1, "t": "é\u0001\"'"},
    ],
)
def test_the_quick_json_of_raw_sqlite_rows_is_the_tagged_json(row) -> None:
    from syncengine._codec import dumps
    from syncengine.store._stamping import dumps_cells

    assert dumps_cells(row) == dumps(row)
