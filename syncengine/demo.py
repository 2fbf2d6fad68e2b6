"""``syncengine demo``: two shops, one catalogue, a shared log, all in SQLite files."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ._ids import new_id
from .device import Device
from .model import SyncReport
from .store import SqlSharedLog

metadata = sa.MetaData()
products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False, server_default="0"),
)

Echo = Callable[[str], None] | None


def _rows(device: Device) -> list[dict[str, Any]]:
    with device.engine.connect() as conn:
        return [
            {"sku": r.sku, "name": r.name, "price": str(r.price), "stock": r.stock}
            for r in conn.execute(sa.select(products).order_by(products.c.sku))
        ]


def _show(echo: Echo, title: str, device: Device) -> None:
    if echo is None:
        return
    echo(f"  {title}:")
    for row in _rows(device):
        echo(f"    {row['sku']:<8} {row['name']:<22} {row['price']:>8}  stock {row['stock']}")


def _line(echo: Echo, who: str, report: SyncReport) -> dict[str, Any]:
    if echo is not None:
        echo(f"  {who:<7} sent {report.sent:>2}, received {report.received:>2}, applied {report.applied:>2}")
    return {"device": who, "sent": report.sent, "received": report.received, "applied": report.applied}


DEMO_FILES = ("shop-a.db", "shop-b.db", "shared.db")
DEMO_MARK = ".syncengine-demo"
"""The file a demo leaves in its folder: a folder holding it is one a demo may write over again."""


def run_demo(folder: str | Path, echo: Echo = print) -> dict[str, Any]:
    """Build the demo in ``folder`` (its three files are replaced) and return what moved."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / DEMO_MARK).write_text("made by 'syncengine demo': running it again replaces its files\n", encoding="utf-8")
    for name in DEMO_FILES:
        (root / name).unlink(missing_ok=True)
    shop_a = Device.init(str(root / "shop-a.db"), metadata=metadata, name="shop-a")
    shop_b = Device.init(str(root / "shop-b.db"), metadata=metadata, name="shop-b")
    shared = SqlSharedLog(str(root / "shared.db"))
    for shop in (shop_a, shop_b):  # so that 'syncengine sync shop-a.db' needs no --remote, as after init --remote
        shop.set_remote(str(root / "shared.db"))
    kettle = new_id()
    with shop_a.engine.begin() as conn:
        conn.execute(
            products.insert(),
            [
                {"id": kettle, "sku": "K-100", "name": "Kettle", "price": Decimal("24.90"), "stock": 12},
                {"id": new_id(), "sku": "T-200", "name": "Toaster", "price": Decimal("39.00"), "stock": 5},
                {"id": new_id(), "sku": "M-300", "name": "Mug (set of 4)", "price": Decimal("12.50"), "stock": 40},
            ],
        )
    with shop_b.engine.begin() as conn:
        conn.execute(
            products.insert(),
            [
                {"id": new_id(), "sku": "P-400", "name": "Teapot", "price": Decimal("29.00"), "stock": 7},
                {"id": new_id(), "sku": "S-500", "name": "Sugar bowl", "price": Decimal("9.90"), "stock": 15},
            ],
        )
    if echo is not None:
        echo(f"demo workspace: {root.resolve()}")
        echo("shop-a wrote 3 products, shop-b wrote 2; syncing through shared.db:")
    moves = [
        _line(echo, "shop-a", shop_a.sync(shared)),
        _line(echo, "shop-b", shop_b.sync(shared)),
        _line(echo, "shop-a", shop_a.sync(shared)),
    ]
    with shop_b.engine.begin() as conn:  # shop-b sells two kettles and changes the price
        conn.execute(
            products.update().where(products.c.id == kettle).values(stock=products.c.stock - 2, price=Decimal("22.90"))
        )
    if echo is not None:
        echo("shop-b sold two kettles and lowered their price; syncing again:")
    moves += [_line(echo, "shop-b", shop_b.sync(shared)), _line(echo, "shop-a", shop_a.sync(shared))]
    _show(echo, "shop-a now holds", shop_a)
    _show(echo, "shop-b now holds", shop_b)
    same = _rows(shop_a) == _rows(shop_b)
    if echo is not None:
        echo("both shops hold the same catalogue" if same else "the shops differ!")
        echo(
            f"try: syncengine status {root / 'shop-a.db'}   |   syncengine devices {root / 'shop-a.db'} --remote {root / 'shared.db'}"
        )
    result = {
        "folder": str(root.resolve()),
        "syncs": moves,
        "shop_a": _rows(shop_a),
        "shop_b": _rows(shop_b),
        "converged": same,
    }
    for closable in (shop_a, shop_b, shared):
        closable.close()
    return result
