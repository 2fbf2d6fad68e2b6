"""The line above the conflict list that says what was just decided, and offers to take it back.

A decision can be undone until a sync sends it (``Device.undo_decisions``); the
line then says plainly that it no longer can. It holds the ids of the last
decisions only: a new decision replaces them.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from .. import resources


class UndoBar(QFrame):
    """What was last decided, with Undo while it can be undone."""

    undo = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("undoBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.button = QPushButton("&Undo")
        resources.themed(self.button, "history")
        self.button.setToolTip("Take the last decision back (Ctrl+Z); possible until a sync sends it")
        layout.addWidget(self.text, 1)
        layout.addWidget(self.button)
        self.button.clicked.connect(self.undo)
        self.ids: list[int] = []
        self.hide()

    @property
    def offering(self) -> bool:
        """Whether Undo is offered now."""
        return bool(self.ids) and self.isVisible() and self.button.isVisible()

    def offer(self, ids: list[int], text: str) -> None:
        """Say what was decided and offer to undo it."""
        self.ids = list(ids)
        self.text.setText(text)
        self.button.show()
        self.button.setEnabled(True)
        self.show()

    def say(self, text: str) -> None:
        """Say something about the last decision, with nothing left to undo."""
        self.ids = []
        self.text.setText(text)
        self.button.hide()
        self.show()


__all__ = ["UndoBar"]
