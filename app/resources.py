"""Icons and the style sheet from ``resources/``, tinted to follow the palette.

The files live in the source tree's ``resources/`` folder; an installed copy is
found under ``<prefix>/share/sync-manager`` (``pyproject.toml`` declares them as
data files). Icons are single-colour SVGs drawn with ``currentColor``; they are
rendered in the palette's text colour (so they suit light and dark schemes) at
several sizes, which keeps them sharp on high-DPI screens.
"""

from __future__ import annotations

import functools
import sys
import sysconfig
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QAbstractButton, QLabel

_SIZES = (16, 20, 24, 32, 48, 64)


@functools.cache
def resource_dir() -> Path:
    """Return the folder holding ``style.qss`` and ``icons/``."""
    candidates = [
        Path(__file__).resolve().parent.parent / "resources",  # source tree, editable install
        Path(sysconfig.get_path("data")) / "share" / "sync-manager",  # pip install .
        Path(sys.prefix) / "share" / "sync-manager",
    ]
    for folder in candidates:
        if (folder / "icons" / "app.svg").is_file():
            return folder
    raise FileNotFoundError("the Sync Manager's resources are missing (looked in: " + ", ".join(map(str, candidates)) + ")")


def style_sheet() -> str:
    """Return the app's style sheet."""
    return (resource_dir() / "style.qss").read_text(encoding="utf-8")


def _text_colour() -> str:
    app = QGuiApplication.instance()
    if app is None:
        return "#404040"
    return QGuiApplication.palette().color(QPalette.ColorRole.WindowText).name()


def icon(name: str, colour: str | None = None) -> QIcon:
    """Return the icon ``name`` tinted with ``colour`` (default: the palette's text colour)."""
    return _icon(name, colour or _text_colour())


@functools.cache
def _icon(name: str, colour: str) -> QIcon:
    svg = (resource_dir() / "icons" / f"{name}.svg").read_text(encoding="utf-8").replace("currentColor", colour)
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    result = QIcon()
    for size in _SIZES:
        for ratio in (1.0, 2.0):
            pixels = int(size * ratio)
            pixmap = QPixmap(pixels, pixels)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            renderer.render(painter, QRectF(0, 0, pixels, pixels))
            painter.end()
            pixmap.setDevicePixelRatio(ratio)
            result.addPixmap(pixmap)
    return result


def clear_cache() -> None:
    """Forget rendered icons (after the colour scheme changed)."""
    _icon.cache_clear()


_THEMED = "themedIcon"  # the dynamic property naming a widget's or action's palette-tinted icon


def themed(target: QObject, name: str, size: int = 0) -> None:
    """Give a button, action or label (``size``: its pixmap's size) the icon ``name``, and keep it tinted.

    :func:`retint` redraws every icon set this way when the palette changes.
    """
    target.setProperty(_THEMED, name)
    target.setProperty(_THEMED + "Size", size)
    _apply(target)


def _apply(target: QObject) -> None:
    name = str(target.property(_THEMED))
    if isinstance(target, QLabel):
        size = int(target.property(_THEMED + "Size") or 16)
        target.setPixmap(icon(name).pixmap(size, size))
    elif isinstance(target, (QAbstractButton, QAction)):
        target.setIcon(icon(name))


def retint(root: QObject) -> None:
    """Render the icons again in the palette's current text colour, for ``root`` and its children."""
    clear_cache()
    for obj in [root, *root.findChildren(QObject)]:
        if obj.property(_THEMED):
            _apply(obj)


def badge_icon(count: int) -> QIcon:
    """Return the app icon with a red badge showing ``count`` (no badge at 0)."""
    base = icon("app", "#2f6fde")
    result = QIcon()
    for size in (16, 22, 32, 48, 64):
        pixmap = base.pixmap(size, size)
        if count > 0:
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            diameter = size * 0.6
            rect = QRectF(size - diameter, 0, diameter, diameter)
            painter.setBrush(QColor("#d64541"))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(rect)
            painter.setPen(QColor("#ffffff"))
            font = painter.font()
            font.setBold(True)
            font.setPixelSize(max(6, int(diameter * (0.62 if count < 10 else 0.48))))
            painter.setFont(font)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count) if count < 100 else "99+")
            painter.end()
        result.addPixmap(pixmap)
    return result
