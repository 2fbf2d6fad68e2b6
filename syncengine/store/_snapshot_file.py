"""A snapshot file: an SQLite device's synced tables and their registers, copied whole into a new SQLite file.

Pairing sends it to a joiner whose database does not exist yet, instead of pages
(see :mod:`._snapshot`): the joiner then has nothing to insert, only a file to make
its own. SQLite copies a table into an empty one of the same shape record by record,
without decoding them, and builds its indexes in order (``INSERT INTO … SELECT *``,
the way ``VACUUM`` does), several times faster than inserting rows one by one, which
was most of a join's time.

The file holds exactly what the pages would carry: the tables as the joiner makes
them from the sender's description (created by the caller), every register of
them, and no row without a live register nor a live register without its row.
Nothing else of the sender's database is in it, not even in free pages.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import _client as client
from . import _schema as s
from ._catalog import SyncedTable
from ._stamping import stamp


def can_write_file(engine: sa.Engine, catalog: Mapping[str, SyncedTable]) -> bool:
    """Whether :func:`write_file` can copy these tables: SQLite, raw cells and single-column keys."""
    return engine.dialect.name == "sqlite" and all(t.decoder.raw and t.plain_key for t in catalog.values())


def write_file(
    engine: sa.Engine,
    catalog: Mapping[str, SyncedTable],
    device_id: str,
    path: Path,
    tables: Sequence[sa.Table],
) -> dict[str, Any]:
    """Copy the synced tables and their registers into the new SQLite file ``path``; return what the copy reflects.

    ``tables`` are the synced tables as the joiner makes them, in a metadata of
    their own with ``schema="snap"``, their columns in the same order as here. One
    write transaction stamps what was captured and copies every table and the
    registers (other writers wait for it: about a second a million rows). Meanwhile a
    second connection looks for rows and registers that do not match (see
    :func:`_mismatched`); those found are removed from the copy alone. Returns
    ``{"rows": {table: registers}, "log": log id or None, "cursor": int, "clock":
    [wall, counter]}``, as the copy reflects them.
    """
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("ATTACH DATABASE ? AS snap", (str(path),))  # (outside any transaction, as SQLite requires)
        try:  # (the statements below reach SQLite as they are: translated by the caller)
            raw.execute("PRAGMA snap.journal_mode = OFF")  # a scratch file, thrown away if this fails
            raw.execute("PRAGMA snap.synchronous = OFF")
            raw.execute("PRAGMA snap.secure_delete = ON")  # what is removed below leaves no trace in the file
            quote = conn.dialect.identifier_preparer.quote
            with conn.begin():
                stamped = stamp(conn, catalog, device_id)  # the registers then describe every value the tables hold
                # nothing stamped: what this transaction copies is what another connection reads (no writer can
                # commit until it ends), so the search for mismatches runs beside the copy, on the other core
                source = engine.url.database if not stamped else None
                search = _Search(Path(source), catalog, quote) if source and source != ":memory:" else None
                metadata = tables[0].metadata if tables else sa.MetaData()
                s.rows.to_metadata(metadata, schema="snap")
                metadata.create_all(conn)
                for name in catalog:
                    conn.exec_driver_sql(f"INSERT INTO snap.{quote(name)} SELECT * FROM main.{quote(name)}")
                conn.exec_driver_sql("INSERT INTO snap.syncengine_rows SELECT * FROM main.syncengine_rows")
                out: dict[str, Any] = {
                    "log": client.get_setting(conn, "log"),
                    "cursor": int(client.get_setting(conn, "cursor", 0)),
                    "clock": list(client.get_setting(conn, "clock", [0, 0])),
                }
                found = search.result() if search is not None else None
            out["rows"] = _prune(raw, catalog, quote, found)
        finally:
            raw.execute("DETACH DATABASE snap")
    return out


class _Search(threading.Thread):
    """:func:`_mismatched` on the device's file through a connection of its own, in a thread (SQLite lets go of the
    GIL while it works)."""

    def __init__(self, source: Path, catalog: Mapping[str, SyncedTable], quote: Any) -> None:
        super().__init__(daemon=True)
        self.source, self.catalog, self.quote = source, catalog, quote
        self.found: tuple[set[str], dict[str, int]] | None = None
        self.start()

    def run(self) -> None:
        try:
            reader = sqlite3.connect(f"{self.source.expanduser().resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return
        try:
            reader.execute("BEGIN")
            self.found = _mismatched(reader, "main", self.catalog, self.quote)
        except sqlite3.Error:
            self.found = None  # the copy is searched after its transaction instead
        finally:
            reader.close()

    def result(self) -> tuple[set[str], dict[str, int]] | None:
        self.join()
        return self.found


def _mismatched(
    raw: Any, schema: str, catalog: Mapping[str, SyncedTable], quote: Any
) -> tuple[set[str], dict[str, int]]:
    """The tables of ``schema`` holding a live register without its row, or a row without a live register; and each
    table's registers.

    Every live register is looked up in its table: a row each, the cost of the
    search. A table holds a row without a live register exactly when it holds more
    rows than the live registers that found theirs.
    """
    tables, registers = set(), {}
    for name, synced in catalog.items():
        table, key = f"{schema}.{quote(name)}", quote(synced.pk_columns[0])
        live, found, total = raw.execute(
            "SELECT coalesce(sum(r.alive != 0), 0), coalesce(sum(CASE WHEN r.alive THEN EXISTS "
            f"(SELECT 1 FROM {table} AS t WHERE t.{key} = json_extract(r.pk, '$[0]')) ELSE 0 END), 0), count(*) "
            f"FROM {schema}.syncengine_rows AS r WHERE r.tbl = ?",
            (name,),
        ).fetchone()
        held = raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if found < live or held > found:
            tables.add(name)
        registers[name] = int(total)
    return tables, registers


def registers_fit(conn: sa.Connection) -> bool:
    """Whether the database's registers table (one received in a snapshot file) has the engine's columns and key."""
    if not sa.inspect(conn).has_table("syncengine_rows"):
        return False
    found = sa.Table("syncengine_rows", sa.MetaData(), autoload_with=conn)
    return [c.name for c in found.columns] == [c.name for c in s.rows.columns] and [
        c.name for c in found.primary_key.columns
    ] == [c.name for c in s.rows.primary_key.columns]


def _prune(
    raw: Any, catalog: Mapping[str, SyncedTable], quote: Any, found: tuple[set[str], dict[str, int]] | None
) -> dict[str, int]:
    """Leave in the copy what pages would carry (see ``snapshot_page``); return each table's registers.

    Runs on the copy alone, statement by statement, after the device's transaction
    ended, on the tables ``found`` names (all of them when nothing was searched).
    """
    names = list(catalog)
    raw.execute(
        f"DELETE FROM snap.syncengine_rows WHERE tbl NOT IN ({', '.join('?' * len(names))})", names
    )  # registers of tables no longer synced
    if found is None:
        found = _mismatched(raw, "snap", catalog, quote)
    wrong, registers = found
    for name in wrong:
        table, key = f"snap.{quote(name)}", quote(catalog[name].pk_columns[0])
        # a live register whose row is gone (removed while capture was off): nothing to send
        raw.execute(
            f"DELETE FROM snap.syncengine_rows AS r WHERE r.tbl = ? AND r.alive AND NOT EXISTS "
            f"(SELECT 1 FROM {table} AS t WHERE t.{key} = json_extract(r.pk, '$[0]'))",
            (name,),
        )
        # rows sync does not know of (a table installed without its snapshot): not shared
        raw.execute(
            f"DELETE FROM {table} WHERE {key} NOT IN "
            "(SELECT json_extract(pk, '$[0]') FROM snap.syncengine_rows WHERE tbl = ? AND alive)",
            (name,),
        )
        registers[name] = raw.execute("SELECT count(*) FROM snap.syncengine_rows WHERE tbl = ?", (name,)).fetchone()[0]
    return {name: int(registers[name]) for name in catalog}
