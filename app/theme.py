"""Light and dark: follow the system's colour scheme, or the person's choice in View → Theme (remembered).

*System* reads Qt's idea of the scheme (``QStyleHints.colorScheme``, which the
platform theme fills in), and where Qt does not know it (no platform theme, as
on many X11 desktops), ``GTK_THEME`` (``Adwaita:dark``: the GTK convention that
GNOME and most GTK desktops set for a dark session). A dark scheme is drawn with
the Fusion style and :func:`dark_palette`, since not every platform style honours a
dark palette; light is the style's own palette. The choice is kept in
``settings.ini`` (``appearance/theme``). The window redraws its icons when the
application's palette changes (``MainWindow.event``).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

SYSTEM, LIGHT, DARK = "system", "light", "dark"
CHOICES = ((SYSTEM, "Follow the &system"), (LIGHT, "&Light"), (DARK, "&Dark"))
KEY = "appearance/theme"

_original: tuple[str, QPalette] | None = None  # the platform's style and palette, for light and "system: light"


def system_is_dark(environ: dict[str, str] | None = None) -> bool:
    """Whether the desktop asks for a dark scheme: Qt's colour scheme, else ``GTK_THEME``'s ``:dark`` variant."""
    env = os.environ if environ is None else environ
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hasattr(hints, "colorScheme") else Qt.ColorScheme.Unknown
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    gtk = env.get("GTK_THEME", "")
    return gtk.lower().endswith(":dark") or gtk.lower().endswith("-dark")


def stored(settings: QSettings) -> str:
    """Return the remembered choice (``system`` when none, or not understood)."""
    value = settings.value(KEY, SYSTEM)
    return value if value in (SYSTEM, LIGHT, DARK) else SYSTEM


def remember(settings: QSettings, choice: str) -> None:
    settings.setValue(KEY, choice)
    settings.sync()


def effective(choice: str, environ: dict[str, str] | None = None) -> str:
    """Return ``light`` or ``dark`` for a choice (``system`` asks the desktop)."""
    if choice == SYSTEM:
        return DARK if system_is_dark(environ) else LIGHT
    return choice


def note_platform(app: QApplication) -> None:
    """Remember the platform's style and palette (before a style sheet hides the style's name), for light."""
    global _original
    if _original is None:
        _original = (app.style().name() or "Fusion", QPalette(app.palette()))


def apply(choice: str, app: QApplication | None = None) -> str:
    """Draw the application in the chosen scheme; return the one applied (``light`` or ``dark``)."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    if not isinstance(app, QApplication):
        return LIGHT
    note_platform(app)
    assert _original is not None
    scheme = effective(choice)
    if scheme == DARK:
        app.setStyle(QStyleFactory.create("Fusion"))
        app.setPalette(dark_palette())
    else:
        style, palette = _original
        app.setStyle(QStyleFactory.create(style) or QStyleFactory.create("Fusion"))
        app.setPalette(palette)
    app.setProperty("colorScheme", scheme)
    return scheme


def current(app: QApplication | None = None) -> str:
    """The scheme last applied (``light`` until :func:`apply` ran)."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    value = app.property("colorScheme") if isinstance(app, QApplication) else None
    return value if value in (LIGHT, DARK) else LIGHT


def dark_palette() -> QPalette:
    """A dark palette with enough contrast for text, disabled text and the placeholder text of muted labels."""
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#2b2d31"), (roles.WindowText, "#e6e6e6"), (roles.Base, "#1f2023"),
        (roles.AlternateBase, "#26282c"), (roles.Text, "#e6e6e6"), (roles.Button, "#35373c"),
        (roles.ButtonText, "#e6e6e6"), (roles.Highlight, "#2f6fde"), (roles.HighlightedText, "#ffffff"),
        (roles.ToolTipBase, "#35373c"), (roles.ToolTipText, "#e6e6e6"), (roles.PlaceholderText, "#9a9ca3"),
        (roles.Light, "#4a4d54"), (roles.Midlight, "#3d4046"), (roles.Mid, "#2f3136"), (roles.Dark, "#1b1c1f"),
        (roles.Shadow, "#111214"), (roles.BrightText, "#ffffff"), (roles.Link, "#6ea0ff"),
    ):
        palette.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7c7f86"))
    return palette
