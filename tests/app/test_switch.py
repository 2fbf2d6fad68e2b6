"""Several devices: switching between the databases opened before, and a workspace's devices side by side."""

from __future__ import annotations

from app.main import Controller

from .helpers import close_window


def _names(controller: Controller) -> list[str]:
    return sorted(w.service.device.name for w in controller.windows)


def test_the_demo_shops_are_one_switch_away_and_can_be_opened_side_by_side(qtbot, run, tmp_path) -> None:
    controller = Controller()
    north = run(controller.open_demo(str(tmp_path / "demo")))
    assert north is not None and north.service.device.name == "shop-north"
    qtbot.waitUntil(lambda: north._loaded, timeout=10000)
    north.fill_switch_menu()
    entries = [a for a in north.switch_menu.actions()]
    assert [a.text().split()[0] for a in entries] == ["shop-north.db", "shop-east.db", "shop-south.db"]
    assert entries[0].isChecked() and not entries[0].isEnabled()  # where we are
    assert entries[2].shortcut().toString() == "Ctrl+Alt+3"

    # switching replaces the window
    with qtbot.waitSignal(north.closed, timeout=20000):
        entries[2].trigger()
    qtbot.waitUntil(lambda: _names(controller) == ["shop-south"], timeout=10000)
    south = controller.window
    assert south is not None and south.windowTitle() == "shop-south — Sync Manager"
    qtbot.waitUntil(lambda: south._loaded, timeout=10000)

    # the workspace's other devices open beside it, each in its own window
    assert [w.title for w in south.other_devices()] == ["shop-north.db", "shop-east.db"]
    south.beside_action.trigger()
    qtbot.waitUntil(lambda: _names(controller) == ["shop-east", "shop-north", "shop-south"], timeout=20000)
    assert all(w.isVisible() for w in controller.windows)
    for window in list(controller.windows):
        qtbot.waitUntil(lambda w=window: w._loaded, timeout=10000)
    east = next(w for w in controller.windows if w.service.device.name == "shop-east")
    assert run(controller.open(east.service.workspace, beside=True)) is east  # already open: raised, not opened twice
    assert len(controller.windows) == 3
    for window in list(controller.windows):
        close_window(qtbot, window)
    assert controller.done.is_set()
