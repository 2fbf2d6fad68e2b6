"""A QR code of a short text (a pairing code), drawn by segno, dark on light whatever the palette."""

from __future__ import annotations

import io

import segno
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QWidget

BORDER = 4  # the quiet zone the QR standard asks for, in modules


def qr_png(text: str, *, side: int = 200) -> tuple[bytes, int]:
    """Return a PNG of ``text`` as a QR code about ``side`` pixels wide, and its scale (pixels a module).

    Error correction M: a code on a screen, read by a camera, survives glare and a
    little blur. Black on white, always: scanners expect dark modules on light.
    """
    symbol = segno.make(text, error="m", micro=False)
    modules = int(symbol.symbol_size(scale=1, border=BORDER)[0])
    scale = max(2, side // modules)
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=scale, border=BORDER, dark="#000000", light="#ffffff")
    return out.getvalue(), scale


class QrCode(QLabel):
    """Shows one text as a QR code; its tooltip says what it holds."""

    def __init__(self, side: int = 200, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.text_shown = ""
        self.scale = 0
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(side, side)

    def show_text(self, text: str) -> None:
        data, self.scale = qr_png(text, side=self.side)
        pixmap = QPixmap()
        pixmap.loadFromData(data, "PNG")
        self.text_shown = text
        self.setPixmap(pixmap)
        self.setToolTip(f"QR code of {text}")
        self.setAccessibleName("QR code of the pairing code")

    def clear_code(self) -> None:
        self.text_shown = ""
        self.clear()
        self.setToolTip("")
