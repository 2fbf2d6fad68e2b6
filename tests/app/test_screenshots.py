"""Screenshots of each main view of the demo workspace, saved under docs/screenshots/ for the README."""

from __future__ import annotations

from pathlib import Path

from app.demo import build_demo

from .helpers import close_window, open_window

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_screenshot_of_each_view(qtbot, run, tmp_path) -> None:
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    window.resize(1200, 760)
    qtbot.waitUntil(lambda: window.pending.model.rowCount() > 0, timeout=10000)
    qtbot.waitUntil(lambda: bool(window.conflicts.panel.choices), timeout=10000)
    window.pending.view.selectRow(0)
    window.activity.view.selectRow(0)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for key in ("overview", "conflicts", "pending", "devices", "activity"):
        window.show_view(key)
        qtbot.waitExposed(window)
        image = window.grab().toImage()
        assert not image.isNull() and image.width() >= 1000
        assert image.save(str(SHOTS / f"{key}.png"))
    window.show_view("conflicts")
    window.conflicts.tabs.setCurrentIndex(1)
    assert window.grab().save(str(SHOTS / "history.png"))
    close_window(qtbot, window)
    for key in ("overview", "conflicts", "pending", "devices", "activity", "history"):
        assert (SHOTS / f"{key}.png").stat().st_size > 10_000
