"""Dark mode: the window follows the system (GTK_THEME=Adwaita:dark where Qt does not know the scheme),
and View → Theme chooses system, light or dark, remembered for the next start."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app import resources, theme
from app.demo import build_demo
from app.window import settings

from .helpers import close_window, open_window


@pytest.fixture
def restore_light(qapp):
    light = QPalette(qapp.palette())
    yield
    theme.apply(theme.LIGHT)
    qapp.setPalette(light)
    resources.clear_cache()


def _window_lightness(window) -> int:
    return window.palette().color(QPalette.ColorRole.Window).lightness()


def test_gtk_theme_adwaita_dark_is_a_dark_system(monkeypatch) -> None:
    assert theme.effective(theme.SYSTEM, {"GTK_THEME": "Adwaita:dark"}) == theme.DARK
    assert theme.effective(theme.SYSTEM, {"GTK_THEME": "Adwaita"}) == theme.LIGHT
    assert theme.effective(theme.DARK, {}) == theme.DARK and theme.effective(theme.LIGHT, {"GTK_THEME": "Adwaita:dark"}) == theme.LIGHT


def test_the_window_follows_a_dark_system_and_the_menu_choice_is_remembered(qtbot, run, tmp_path, monkeypatch, restore_light) -> None:
    monkeypatch.setenv("GTK_THEME", "Adwaita:dark")
    window = open_window(qtbot, run, build_demo(tmp_path / "demo"))
    assert window.theme_actions["system"].isChecked()  # nothing chosen yet: follow the system
    theme.apply(theme.stored(settings()))  # what the app does at start
    qtbot.waitUntil(lambda: _window_lightness(window) < 80, timeout=5000)
    assert theme.current() == theme.DARK
    button = window.overview.sync_button
    qtbot.waitUntil(lambda: button.icon().pixmap(32, 32).toImage().pixelColor(16, 4).lightness() > 150 or _light_icon(button), timeout=5000)
    window.theme_actions["light"].trigger()  # View → Theme → Light, whatever the system says
    qtbot.waitUntil(lambda: _window_lightness(window) > 180, timeout=5000)
    assert theme.stored(settings()) == theme.LIGHT and theme.current() == theme.LIGHT
    close_window(qtbot, window)
    again = open_window(qtbot, run, build_demo(tmp_path / "demo2"))
    assert again.theme_actions["light"].isChecked() and not again.theme_actions["system"].isChecked()
    again.theme_actions["dark"].trigger()
    qtbot.waitUntil(lambda: _window_lightness(again) < 80, timeout=5000)
    assert QApplication.instance().property("colorScheme") == "dark"
    close_window(qtbot, again)


def _light_icon(button) -> bool:
    image = button.icon().pixmap(32, 32).toImage()
    return max(image.pixelColor(x, y).lightness() for x in range(32) for y in range(32) if image.pixelColor(x, y).alpha() > 200) > 200
