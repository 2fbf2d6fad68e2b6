"""Opening a real device database in a real window, and news for the demo's shop-north, for the app's tests."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from app import config
from app.demo import products, suppliers
from app.services.device import DeviceService
from app.window import MainWindow
from syncengine import Device, SqlSharedLog, new_id


def open_window(qtbot: Any, run: Callable[..., Any], workspace: config.Workspace, token: str | None = None) -> MainWindow:
    """Open ``workspace`` in a shown main window and wait until every view has loaded."""
    service = run(DeviceService.open(workspace, token))
    window = MainWindow(service)
    service.setParent(window)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.ready, timeout=20000):
        window.start()
    return window


def close_window(qtbot: Any, window: MainWindow) -> None:
    """Close the window and wait until its sync is cancelled and its connections released."""
    if window.service._closed and window._shut_down:
        return
    with qtbot.waitSignal(window.closed, timeout=30000):
        window.close()


def news_for_north(folder: Path) -> None:
    """East adds a supplier (a table north does not sync: quarantined); south edits a price north edited too."""
    shared = SqlSharedLog(str(folder / "shared.db"))
    east = Device.open(str(folder / "shop-east.db"))
    south = Device.open(str(folder / "shop-south.db"))
    try:
        with east.engine.begin() as conn:
            conn.execute(suppliers.insert().values(id=new_id(), name="Fjord Steel", city="Bergen"))
        with south.engine.begin() as conn:
            conn.execute(products.update().where(products.c.sku == "J-540").values(price=Decimal("47.00")))
        east.sync(shared)
        south.sync(shared)
    finally:
        for closable in (east, south, shared):
            closable.close()
