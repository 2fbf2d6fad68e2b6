"""What a constraint conflict clashes with: the local row in the way, and the column it clashes on.

The engine holds a received change that this database refused (a UNIQUE value
another row already has, a reference to a row that is not here, a NULL in a NOT
NULL column); its reason is the database's own message, which differs per
database. To show the person *which* row is in the way, this module asks the
database again, in terms it understands: for each UNIQUE column set, is there
another row with the incoming values; for each foreign key, is the referred row
here; which NOT NULL column would receive NULL. Blocking work: run it in a worker
thread (``DeviceService.run``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncengine import Conflict, Device

_LABEL_COLUMNS = ("name", "title", "label", "sku")


@dataclass(frozen=True, slots=True)
class Clash:
    """Why a constraint conflict's change cannot apply here.

    ``columns`` are the clashing columns; ``row`` the local row in the way (for a
    UNIQUE clash), which ``label`` names; ``sentence`` says it for people;
    ``remote_can_apply`` is False when taking the other device's change can only fail.
    """

    kind: str  # "unique", "foreign key" or "not null"
    columns: tuple[str, ...]
    sentence: str
    row: dict[str, Any] | None = None
    label: str = ""
    remote_can_apply: bool = False


def label_of(row: dict[str, Any], fallback: str = "") -> str:
    """A readable name for a row: its name, title, label or SKU column."""
    for column in _LABEL_COLUMNS:
        if row.get(column):
            return str(row[column])
    return fallback


def find_clash(device: Device, conflict: Conflict) -> Clash | None:
    """Return what ``conflict``'s held change clashes with on ``device``, or None when nothing is found."""
    if conflict.kind != "constraint" or not isinstance(conflict.remote, dict):
        return None
    table = device.table(conflict.table)
    incoming = {**(conflict.local if isinstance(conflict.local, dict) else {}), **conflict.remote}
    with device.engine.connect() as conn:
        inspector = sa.inspect(conn)
        return (
            _not_null(table, incoming)
            or _unique(conn, inspector, table, conflict, incoming)
            or _foreign(conn, inspector, table, incoming)
        )


def _not_null(table: sa.Table, incoming: dict[str, Any]) -> Clash | None:
    missing = tuple(c.name for c in table.columns if not c.nullable and c.name in incoming and incoming[c.name] is None)
    if not missing:
        return None
    return Clash("not null", missing, f"{', '.join(missing)} must have a value here")


def _unique_sets(inspector: sa.Inspector, table: sa.Table) -> list[tuple[str, ...]]:
    sets = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)]
    sets += [tuple(str(c) for c in i["column_names"]) for i in inspector.get_indexes(table.name) if i.get("unique")]
    return list(dict.fromkeys(s for s in sets if s and all(c in table.c for c in s)))


def _unique(
    conn: sa.Connection, inspector: sa.Inspector, table: sa.Table, conflict: Conflict, incoming: dict[str, Any]
) -> Clash | None:
    pk = [table.c[c.name] for c in table.primary_key.columns]
    for columns in _unique_sets(inspector, table):
        if any(incoming.get(c) is None for c in columns):
            continue
        query = sa.select(table).where(*(table.c[c] == incoming[c] for c in columns))
        query = query.where(sa.not_(sa.and_(*(col == value for col, value in zip(pk, conflict.pk, strict=True)))))
        found = conn.execute(query.limit(1)).mappings().first()
        if found is None:
            continue
        row = dict(found)
        said = ", ".join(f"{c} {incoming[c]}" for c in columns)
        label = label_of(row, "another row")
        return Clash("unique", columns, f"{label} already has {said} on this device", row, label)
    return None


def _foreign(conn: sa.Connection, inspector: sa.Inspector, table: sa.Table, incoming: dict[str, Any]) -> Clash | None:
    for key in inspector.get_foreign_keys(table.name):
        columns = tuple(key["constrained_columns"])
        if not columns or any(incoming.get(c) is None for c in columns):
            continue
        referred = sa.table(key["referred_table"], *(sa.column(c) for c in key["referred_columns"]))
        query = sa.select(sa.literal(1)).select_from(referred)
        query = query.where(
            *(referred.c[r] == incoming[c] for c, r in zip(columns, key["referred_columns"], strict=True))
        )
        if conn.execute(query.limit(1)).first() is None:
            said = ", ".join(f"{c} {incoming[c]}" for c in columns)
            sentence = f"no {key['referred_table']} row matches {said} on this device"
            return Clash("foreign key", columns, sentence, remote_can_apply=False)
    return None


__all__ = ["Clash", "find_clash", "label_of"]
