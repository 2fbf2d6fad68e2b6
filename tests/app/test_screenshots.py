"""Screenshots of each main view of the demo workspace, saved under docs/screenshots/ for the README.

They change only when the interface does: the window has a fixed size, and the
demo is built and shown in a fixed world (:mod:`tests.app.fixed`: a frozen clock,
seeded ids, UTC), so two runs write the same pixels. The demo is built in a folder
called ``demo`` inside a home folder the test sets, so the window shows
``~/demo/shared.db`` and never a temporary path. The activity shot comes last,
after a sync from the window, so the engine's log has lines. One more shot shows
the overview in the dark theme, and one the Add a device dialog waiting with its
code (listening on 127.0.0.1).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QToolButton

from app import resources, theme
from app.demo import build_demo

from .fixed import fixed_world
from .helpers import close_window, news_for_north, open_window

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = (1200, 760)
# The code a pairing shows holds a fresh secret and the pin of a fresh TLS key, which no seed fixes:
# the shot shows this one (a real code's shape) through the dialog's own display.
SHOWN_CODE = "SE1-P4AAA-ANZ76-ETVTF-IXFJH-DJSQG-ET3RL-7XPH6-4KWY"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home folder of the test's own, so paths read ``~/demo/…``, in a fixed world (clock, ids, time zone)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    fixed_world(monkeypatch)
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


def _settled(qtbot, window) -> None:
    """Wait until the status bar's lock has read the device's keys (it says "Encryption…" until then)."""
    lock = window.findChild(QToolButton, "lock")
    assert lock is not None
    qtbot.waitUntil(lambda: lock.text() != "Encryption…", timeout=10000)


def _shot(window, name: str) -> None:
    window.resize(*SIZE)
    assert (window.width(), window.height()) == SIZE
    _laid_out()
    image = window.grab().toImage()
    assert image.save(str(SHOTS / f"{name}.png"))


def _laid_out() -> None:
    """Carry out the layout requests still queued, so the shot shows the view as laid out (not a stale scroll bar).

    A view shown a moment ago has posted its layout requests (a scroll area learns
    its content's new size from them); ``grab`` alone paints before they are handled.
    """
    for _ in range(3):  # a layout can post another (a scroll area's content, then the area)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        QCoreApplication.processEvents()


def _no_temporary_paths(window) -> None:
    shown = [w.text() for w in window.findChildren(type(window.overview.remote_label)) if w.isVisibleTo(window)]
    assert "~/demo/shared.db" in shown
    assert not [t for t in shown if str(Path(window.service.workspace.db).parent) in t or "/tmp" in t or "pytest-" in t]


def test_screenshot_of_each_view(qtbot, run, home) -> None:
    workspace = build_demo(home / "demo")
    news_for_north(home / "demo")  # for the activity shot's sync (before the window: its log shows only its own syncs)
    window = open_window(qtbot, run, workspace)
    _settled(qtbot, window)
    window.resize(*SIZE)
    qtbot.waitUntil(lambda: window.pending.model.rowCount() > 0, timeout=10000)
    qtbot.waitUntil(lambda: bool(window.conflicts.panel.choices), timeout=10000)
    window.pending.view.selectRow(0)
    _no_temporary_paths(window)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for key in ("overview", "conflicts", "pending", "devices"):
        window.show_view(key)
        qtbot.waitExposed(window)
        _shot(window, key)
    window.show_view("conflicts")
    window.conflicts.tabs.setCurrentIndex(1)
    _shot(window, "history")
    # Activity last, after a sync from the window, so the engine's log below the syncs has lines
    syncs = window.activity.model.rowCount()
    qtbot.mouseClick(window.overview.sync_button, Qt.MouseButton.LeftButton)
    page = window.activity
    qtbot.waitUntil(lambda: page.log_filter.rowCount() > 0 and page.log_filter.data(page.log_filter.index(0, 2)).startswith("sync done"), timeout=20000)
    qtbot.waitUntil(lambda: not window.service.busy and page.model.rowCount() > syncs and not page.model.loading, timeout=20000)
    page.view.selectRow(0)
    assert not [r for r in range(page.log_model.rowCount()) if "/tmp" in page.log_model.entry(r).message]  # ~/demo/…
    window.show_view("activity")
    qtbot.waitExposed(window)
    _shot(window, "activity")
    close_window(qtbot, window)
    for key in ("overview", "conflicts", "pending", "devices", "activity", "history"):
        assert (SHOTS / f"{key}.png").stat().st_size > 10_000


def test_screenshot_of_add_a_device(qtbot, run, home) -> None:
    window = open_window(qtbot, run, build_demo(home / "demo"))
    window.pair_host = "127.0.0.1"
    window.add_action.trigger()
    dialog = window.add_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: bool(dialog.code) and dialog.status.text() == "Waiting for a device…", timeout=10000)
    qtbot.waitExposed(dialog)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.show_code(SHOWN_CODE, time.time() + dialog.timeout)
    dialog.progress.setRange(0, 1)  # a still bar: the busy bar's animation frame depends on the moment of the shot
    _laid_out()
    assert dialog.grab().save(str(SHOTS / "add-device.png"))
    with qtbot.waitSignal(dialog.rejected, timeout=10000):
        dialog.reject()  # stops listening
    close_window(qtbot, window)
    assert (SHOTS / "add-device.png").stat().st_size > 5_000


def _lightest_pixel(image: QImage) -> int:
    """Return the highest lightness among the image's opaque pixels."""
    best = 0
    for y in range(image.height()):
        for x in range(image.width()):
            colour = image.pixelColor(x, y)
            if colour.alpha() > 200:
                best = max(best, colour.lightness())
    return best


def test_the_window_follows_a_dark_palette(qtbot, run, home) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    window = open_window(qtbot, run, build_demo(home / "demo"))
    _settled(qtbot, window)
    try:
        window.resize(*SIZE)
        window.show_view("overview")
        icon_before = _lightest_pixel(window.overview.sync_button.icon().pixmap(32, 32).toImage())
        assert icon_before < 128  # dark icons on a light window
        window.theme_actions["dark"].trigger()  # View → Theme → Dark
        # the icons are drawn again in the dark palette's light text colour
        qtbot.waitUntil(lambda: _lightest_pixel(window.overview.sync_button.icon().pixmap(32, 32).toImage()) > 200, timeout=5000)
        assert _lightest_pixel(window.overview.device_icon.pixmap().toImage()) > 200
        _no_temporary_paths(window)
        qtbot.waitExposed(window)
        _laid_out()
        image = window.grab().toImage()
        assert image.pixelColor(image.width() - 20, image.height() // 2).lightness() < 80  # the window itself is dark
        _shot(window, "overview-dark")
        close_window(qtbot, window)
    finally:
        theme.apply(theme.LIGHT)
        app.setPalette(light)
        resources.clear_cache()
    assert (SHOTS / "overview-dark.png").stat().st_size > 10_000
