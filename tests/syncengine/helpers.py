"""Small helpers shared by the engine's tests: a catalogue schema, row readers and writers, ``every_dialect``."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from syncengine import Device

metadata = sa.MetaData()
products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price", sa.Integer, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)

# A catalogue whose SKU is unique: two shops adding the same SKU under different ids
# make a constraint conflict.
unique_meta = sa.MetaData()
unique_products = sa.Table(
    "products",
    unique_meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("sku", sa.String(20), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
)


def rows(device: Device, table: sa.Table = products) -> list[dict[str, Any]]:
    """Return every row of ``table`` on ``device``, sorted by key."""
    with device.engine.connect() as conn:
        result = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
        return [dict(r._mapping) for r in result]


def write(device: Device, statement: Any, params: Any = None) -> None:
    """Run one statement in its own transaction on ``device``.

    Then wait 2 ms, so a write made after this one, on any device, carries a later
    wall time: two edits in one millisecond tie, and the device ids decide.
    """
    with device.engine.begin() as conn:
        conn.execute(statement, params) if params is not None else conn.execute(statement)
    time.sleep(0.002)


def add(device: Device, *items: tuple[str, str, int | None]) -> None:
    """Insert products given as (id, name, price)."""
    write(device, products.insert(), [{"id": i, "name": n, "price": p} for i, n, p in items])


def pump(*devices: Device, remote: Any, rounds: int = 2, **options: Any) -> None:
    """Sync every device in turn, ``rounds`` times: enough for all of them to converge."""
    for _ in range(rounds):
        for device in devices:
            device.sync(remote, **options)


def set_price(device: Device, pk: str, price: int | None) -> None:
    """Set the price of product ``pk``."""
    write(device, products.update().where(products.c.id == pk).values(price=price))


def set_name(device: Device, pk: str, name: str) -> None:
    """Set the name of product ``pk``."""
    write(device, products.update().where(products.c.id == pk).values(name=name))


def price(device: Device, pk: str = "p1") -> Any:
    """The price of product ``pk``, or "gone" if there is no such row."""
    found = [r["price"] for r in rows(device) if r["id"] == pk]
    return found[0] if found else "gone"


def no_conflicts(*devices: Device) -> bool:
    """Whether none of ``devices`` has ever had a conflict, decided or not."""
    return all(d.conflicts(include_decided=True) == [] for d in devices)


# Runs a test three times, its devices (the fixtures ``devices``, ``a``, ``b``, ``ab``)
# on SQLite, PostgreSQL and MariaDB in turn: for engine behaviour every database must share.
every_dialect = pytest.mark.parametrize(
    "device_dialect",
    [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", id="mariadb", marks=pytest.mark.mysql),
    ],
    indirect=True,
)
