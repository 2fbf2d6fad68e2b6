"""A label that shortens its text with "…" to the width it is given, and shows the whole text on hover.

Values in the conflict detail can be anything from "3" to a paragraph. A plain
``QLabel`` asks for its whole text's width, which pushes a grid wider than its
window (a horizontal scroll bar, columns cut at the edge). This label asks for the
whole width but accepts a few characters' worth, so a layout can shrink it; what
it cannot show it elides, and its tooltip holds the full text.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

_SHORTEST = 4
"""Characters an elided label keeps at the least (then "…")."""


class ElidedLabel(QLabel):
    """One line of text, elided at the right to fit; ``text()`` is always the full text."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, tooltip: str = "") -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = tooltip
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:  # the full text, whatever is shown
        return self._full

    def setText(self, text: str) -> None:
        self._full = " ".join(text.splitlines()) if "\n" in text else text
        self.setToolTip(self._tip or text)
        self._elide()
        self.updateGeometry()

    def is_elided(self) -> bool:
        """Whether the text shown is shorter than the full text."""
        return super().text() != self._full

    def _padding(self) -> int:
        return super().sizeHint().width() - self.fontMetrics().horizontalAdvance(super().text())

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self._padding() + self.fontMetrics().horizontalAdvance(self._full) + 1, hint.height())

    def minimumSizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        least = self._padding() + metrics.horizontalAdvance(self._full[:_SHORTEST] + "…") + 1
        return QSize(min(least, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.width() - self._padding()
        shown = self._full
        if self.fontMetrics().horizontalAdvance(self._full) > room:
            shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(room, 0))
        if shown != super().text():
            super().setText(shown)


__all__ = ["ElidedLabel"]
