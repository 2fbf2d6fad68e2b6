"""Opening a real device database in a real window, for the app's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app import config
from app.services.device import DeviceService
from app.window import MainWindow


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
