"""How the device store differs per database: one strategy per dialect, as :mod:`syncengine.capture` has.

The rest of the store asks :func:`strategy` and never tests the dialect's name.

* **SQLite** looks rows up with every key in one JSON parameter (``json_each``), so
  no statement of hundreds of markers is built; inserts rows into a user table
  thousands to a statement; its triggers copy captured values into the log's
  typeless value columns ``n0…``/``o0…``; and, with cleanup, a stamped batch waits
  whole in ``syncengine_outbox`` (see ``_schema.outbox``).
* **PostgreSQL and MariaDB** look rows up in chunks of ``IN (...)`` lists, capture
  values as JSON, and keep a stamped batch's id beside its log entries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from ..model import PK
from . import _schema as s
from ._catalog import SyncedTable, datetime_key_texts

CHUNK = 500  # keys per IN (...) list: well under every dialect's parameter limit
_ROWS_PER_INSERT = 5000  # rows per SQLite INSERT statement (fewer when the parameter limit says so)
_REGISTERS = "pk, exists_v, alive, fields, dead"


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Dialect:
    """The way of PostgreSQL and MariaDB; :class:`Sqlite` changes what differs."""

    outbox = False
    """Whether stamped batches wait whole in the outbox until they are shared (with cleanup)."""

    def registers(self, conn: sa.Connection, table: str, texts: Sequence[str]) -> list[Any]:
        """The stored register rows (pk, exists_v, alive, fields, dead) of these keys of one table."""
        found: list[Any] = []
        columns = [s.rows.c[c.strip()] for c in _REGISTERS.split(",")]
        for part in chunks(texts):
            found += conn.execute(sa.select(*columns).where(s.rows.c.tbl == table, s.rows.c.pk.in_(part))).all()
        return found

    def rows(self, conn: sa.Connection, synced: SyncedTable, pks: Sequence[PK]) -> list[dict[str, Any]]:
        """The rows of a synced table with these keys, as dicts of Python values."""
        cols = [synced.table.c[c] for c in synced.pk_columns]
        found: list[dict[str, Any]] = []
        for part in chunks([synced.own_key(pk) for pk in pks]):
            if len(cols) == 1:
                where = cols[0].in_([pk[0] for pk in part])
            else:
                where = sa.tuple_(*cols).in_([tuple(pk) for pk in part])
            result = conn.execute(sa.select(synced.table).where(where)).mappings()
            found += ({str(k): v for k, v in row.items()} for row in result)
        return found

    def value_columns(self, conn: sa.Connection) -> int:
        """How many typeless value columns (``n0…`` and ``o0…``) the log has: none here."""
        return 0

    def insert_rows(self, conn: sa.Connection, into: str, width: int, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows of ``width`` driver values each; ``into`` is ``"table" ("column", …)``, quoted."""
        marker = param_marker(conn)
        conn.exec_driver_sql(f"INSERT INTO {into} VALUES ({', '.join([marker] * width)})", list(rows))

    def registers_with_rows(self, conn: sa.Connection, synced: SyncedTable, after: str, limit: int) -> list[Any] | None:
        """A page of a table's registers each joined to its row's raw cells, in one query; None where not done so.

        Rows: ``(pk, exists_v, alive, fields, dead, *cells)`` (cells NULL for a key the table lacks).
        """
        return None


class Sqlite(Dialect):
    """SQLite: JSON-parameter lookups, value columns in the log, the outbox."""

    outbox = True

    def registers(self, conn: sa.Connection, table: str, texts: Sequence[str]) -> list[Any]:
        sql = f"SELECT {_REGISTERS} FROM syncengine_rows WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))"
        return list(conn.exec_driver_sql(sql, (table, orjson.dumps(list(texts)).decode())))

    def rows(self, conn: sa.Connection, synced: SyncedTable, pks: Sequence[PK]) -> list[dict[str, Any]]:
        if synced.text_datetime_key:  # each text the key may be held as: other programs write them their way
            texts = [text for pk in pks for text in dict.fromkeys(datetime_key_texts(synced.own_key(pk)[0]))]
            key = synced.table.c[synced.pk_columns[0]]
            found: list[dict[str, Any]] = []
            for part in chunks(texts):
                where = key.in_([sa.literal(text, sa.String()) for text in part])
                found += (
                    {str(k): v for k, v in row.items()}
                    for row in conn.execute(sa.select(synced.table).where(where)).mappings()
                )
            return found
        if not (synced.plain_key and all(type(pk[0]) is str or type(pk[0]) is int for pk in pks)):
            return super().rows(conn, synced, pks)
        # one JSON parameter holding every key; the cells come back as the trigger copies them
        quote = conn.dialect.identifier_preparer.quote
        sql = (
            f"SELECT {', '.join(quote(c) for c in synced.columns)} FROM {quote(synced.name)} "
            f"WHERE {quote(synced.pk_columns[0])} IN (SELECT value FROM json_each(?))"
        )
        cells = synced.decoder.cells
        return [cells(row) for row in conn.exec_driver_sql(sql, (orjson.dumps([pk[0] for pk in pks]).decode(),))]

    def registers_with_rows(self, conn: sa.Connection, synced: SyncedTable, after: str, limit: int) -> list[Any] | None:
        if not synced.plain_key:
            return None
        quote = conn.dialect.identifier_preparer.quote
        cells = ", ".join(f"t.{quote(c)}" for c in synced.columns)
        sql = (
            f"SELECT r.pk, r.exists_v, r.alive, r.fields, r.dead, {cells} FROM syncengine_rows AS r "
            f"LEFT JOIN {quote(synced.name)} AS t ON t.{quote(synced.pk_columns[0])} = json_extract(r.pk, '$[0]') "
            "WHERE r.tbl = ? AND r.pk > ? ORDER BY r.pk LIMIT ?"
        )
        return list(conn.exec_driver_sql(sql, (synced.name, after, limit)).fetchall())

    def insert_rows(self, conn: sa.Connection, into: str, width: int, rows: Sequence[tuple[Any, ...]]) -> None:
        # Many rows to a statement, not one statement per row: the executor writes inside a
        # savepoint, where every statement that fires a trigger (the capture triggers fire,
        # capturing nothing, while sync applies) pays for a statement journal of its own;
        # row by row that made inserting 2.4 times as slow (bench/bench_floor.py showed it).
        raw = conn.connection.dbapi_connection
        assert raw is not None
        one = f"({', '.join(['?'] * width)})"
        fits = min(
            raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width,
            (raw.getlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH) - len(into) - 100) // (len(one) + 2),
        )
        per = max(1, min(_ROWS_PER_INSERT, fits))
        for part in chunks(rows, per):
            values = [value for row in part for value in row]
            conn.exec_driver_sql(f"INSERT INTO {into} VALUES {', '.join([one] * len(part))}", tuple(values))

    def value_columns(self, conn: sa.Connection) -> int:
        names = {row[1] for row in conn.exec_driver_sql("PRAGMA table_info(syncengine_log)")}
        width = 0
        while f"n{width}" in names and f"o{width}" in names:
            width += 1
        return width


_SQLITE = Sqlite()
_OTHERS = Dialect()


def strategy(conn: sa.Connection) -> Dialect:
    """The store's strategy for the database ``conn`` talks to."""
    return _SQLITE if conn.dialect.name == "sqlite" else _OTHERS


def param_marker(conn: sa.Connection) -> str:
    """Return the driver's positional parameter marker: ``?`` (sqlite3) or ``%s`` (psycopg, PyMySQL)."""
    return "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"


def executemany(conn: sa.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run ``sql`` (with ``?`` markers) once per row, straight through the driver.

    For the engine's own tables in hot paths: SQLAlchemy's per-row parameter
    processing would cost more than the database work, and these columns need none.
    """
    if rows:
        marker = param_marker(conn)
        conn.exec_driver_sql(sql if marker == "?" else sql.replace("?", marker), list(rows))
