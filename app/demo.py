"""``sync-manager --demo``: a product catalogue kept by three shops, with something in every view.

The workspace is real: three SQLite device databases and an SQLite shared log,
driven through the engine's public API only. The device the window opens
(``shop-north``) ends up with

* held conflicts of every kind — edit/edit (a price, a name), delete/edit,
  create/create, and a constraint conflict on the UNIQUE ``sku`` column;
* one conflict already decided by a person (the history view);
* entries received but not yet applied (pending) and local edits not yet shared;
* quarantined entries (a ``suppliers`` table that only ``shop-east`` syncs);
* a few past syncs in its history (the Activity view).

Automatic sync is switched off on ``shop-north`` so the pending entries stay
pending until someone presses **Sync now**.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from syncengine import Device, SqlSharedLog, new_id

from . import config

metadata = sa.MetaData()
products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("sku", sa.String(16), nullable=False, unique=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default="1"),
)
east_metadata = sa.MetaData()
products.to_metadata(east_metadata)
suppliers = sa.Table(
    "suppliers",
    east_metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("city", sa.String(80), nullable=True),
)

SHOPS = ("shop-north", "shop-south", "shop-east")
CAFETIERE = "c0ffee00-0000-4000-8000-000000000001"  # minted on two shops at once: create/create

CATALOGUE = [
    ("K-100", "Kettle", "24.90", 12),
    ("T-200", "Toaster", "39.00", 5),
    ("M-300", "Mug (set of 4)", "12.50", 40),
    ("P-400", "Teapot", "29.00", 7),
    ("S-500", "Sugar bowl", "9.90", 15),
    ("B-510", "Butter dish", "14.00", 9),
    ("C-520", "Cutting board", "18.50", 22),
    ("F-530", "French press", "31.00", 6),
    ("J-540", "Juicer", "54.00", 3),
    ("L-550", "Ladle", "7.20", 30),
    ("O-560", "Oven mitts", "11.00", 18),
    ("W-570", "Whisk", "6.40", 25),
]


def _write(device: Device, statement: Any, params: Any = None) -> None:
    with device.engine.begin() as conn:
        conn.execute(statement, params) if params is not None else conn.execute(statement)


def _set(device: Device, pk: str, **values: Any) -> None:
    _write(device, products.update().where(products.c.id == pk).values(**values))


def build_demo(folder: str | Path) -> config.Workspace:
    """Build the demo workspace in ``folder`` (its files are replaced); return shop-north's workspace."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name in (*(f"{s}.db" for s in SHOPS), "shared.db"):
        for suffix in ("", "-wal", "-shm", "-journal"):
            (root / (name + suffix)).unlink(missing_ok=True)
    north = Device.init(str(root / "shop-north.db"), metadata=metadata, name="shop-north")
    south = Device.init(str(root / "shop-south.db"), metadata=metadata, name="shop-south")
    east = Device.init(str(root / "shop-east.db"), metadata=east_metadata, name="shop-east")
    shared = SqlSharedLog(str(root / "shared.db"))
    try:
        for shop in (north, south, east):  # each remembers the log, so the command line needs no --remote
            shop.set_remote(str(root / "shared.db"))
        _story(north, south, east, shared)
    finally:
        for closable in (north, south, east, shared):
            closable.close()
    return config.Workspace(db=str((root / "shop-north.db").resolve()), remote=str((root / "shared.db").resolve()))


def _story(north: Device, south: Device, east: Device, shared: SqlSharedLog) -> None:
    ids = {sku: new_id() for sku, *_ in CATALOGUE}
    _write(
        north,
        products.insert(),
        [
            {"id": ids[sku], "sku": sku, "name": name, "price": Decimal(price), "stock": stock, "active": True}
            for sku, name, price, stock in CATALOGUE
        ],
    )
    north.sync(shared)
    south.sync(shared)
    east.sync(shared)
    north.sync(shared)

    north.set_review(True)  # this shop reviews conflicts; the others take the automatic result
    north.set_setting("sync.enabled", False)
    north.set_setting("sync.interval", 300.0)

    # Concurrent edits: nobody has seen the others' writes yet.
    _set(north, ids["K-100"], price=Decimal("22.90"))
    _set(south, ids["K-100"], price=Decimal("23.50"))  # edit/edit on a price
    _set(north, ids["T-200"], name="Toaster, 2-slice")
    _set(east, ids["T-200"], name="Toaster (2 slots)")  # edit/edit on a name
    _set(north, ids["M-300"], stock=35)
    _write(east, products.delete().where(products.c.id == ids["M-300"]))  # delete/edit
    _set(north, ids["P-400"], stock=6)
    _set(south, ids["P-400"], stock=9)  # edit/edit that north decides below (history)
    cafetiere = {"id": CAFETIERE, "sku": "C-600", "price": Decimal("19.90"), "stock": 4, "active": True}
    _write(north, products.insert().values(name="Cafetière", **cafetiere))
    _write(south, products.insert().values(name="Cafetiere 1l", **{**cafetiere, "price": Decimal("18.50")}))  # create/create
    _write(south, products.insert().values(id=new_id(), sku="G-700", name="Glass jug", price=Decimal("15.00"), stock=8))
    _write(north, products.insert().values(id=new_id(), sku="G-700", name="Glass carafe", price=Decimal("16.90"), stock=2))
    _write(east, suppliers.insert(), [{"id": new_id(), "name": "Nordic Kitchen", "city": "Oslo"}, {"id": new_id(), "name": "Casa Bella", "city": "Milan"}])

    south.sync(shared)
    east.sync(shared)
    north.sync(shared)  # north finds the conflicts and holds them

    teapot = next(c for c in north.conflicts() if c.kind == "edit/edit" and c.field == "stock")
    north.resolve(teapot.id, "remote")
    north.sync(shared)  # shares the decision
    south.sync(shared)
    east.sync(shared)

    # Received but not yet applied on north: the other shops keep working.
    _set(south, ids["S-500"], stock=13)
    _set(south, ids["L-550"], price=Decimal("6.90"))
    _write(south, products.insert().values(id=new_id(), sku="E-800", name="Egg timer", price=Decimal("5.50"), stock=20))
    _set(east, ids["W-570"], stock=21)
    _set(east, ids["O-560"], active=False)
    south.sync(shared)
    east.sync(shared)
    north.sync(shared, stages=("receive",))

    # Written on north and not shared yet.
    _set(north, ids["J-540"], price=Decimal("49.00"), stock=2)
    _set(north, ids["C-520"], stock=20)
    _write(north, products.insert().values(id=new_id(), sku="N-900", name="Napkin rings", price=Decimal("8.00"), stock=12))


def demo_devices(north: config.Workspace) -> list[config.Workspace]:
    """The three shops' workspaces, given shop-north's (as :func:`build_demo` returns it)."""
    folder = Path(north.db).parent
    return [config.Workspace(db=str(folder / f"{shop}.db"), remote=north.remote) for shop in SHOPS]


def default_folder() -> Path:
    """Return the folder the demo is built in when none is given."""
    return config.config_dir() / "demo"
