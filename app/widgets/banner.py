"""A non-modal message strip above the views: errors with details, or the offline state."""

from __future__ import annotations

import traceback

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from .. import resources
from ..dialogs.details import DetailsDialog


class Banner(QFrame):
    """Shows one message at a time; ``retry`` is emitted by its Retry button."""

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setProperty("level", "info")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(8)
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details…")
        self.retry_button = QPushButton("Retry")
        self.close_button = QToolButton()
        resources.themed(self.close_button, "close")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.retry_button)
        layout.addWidget(self.details_button)
        layout.addWidget(self.close_button)
        self.details_button.clicked.connect(self._show_details)
        self.retry_button.clicked.connect(self.retry)
        self.close_button.clicked.connect(self.dismiss)
        self.details = ""
        self.level = ""
        self._retry_text = self.retry_button.text()
        self._dialog: DetailsDialog | None = None
        self.hide()

    def show_error(self, title: str, error: BaseException | str) -> None:
        """Show an error; Details… opens its full text (and traceback) in a non-modal window."""
        if isinstance(error, BaseException):
            message = str(error) or type(error).__name__
            details = "".join(traceback.format_exception(error))
        else:
            message, details = error, error
        self._show("error", "error", f"<b>{title}</b> — {_escape(message)}", details, retry=False)

    def show_offline(self, detail: str) -> None:
        """Show that the remote cannot be reached; local work is safe and a retry is offered."""
        self._show(
            "offline",
            "offline",
            "<b>Offline</b> — the remote cannot be reached. Changes stay on this device until the next successful sync.",
            detail,
            retry=True,
        )

    def show_missing(self, detail: str) -> None:
        """Show that the shared log is not where the workspace says; the window works offline meanwhile."""
        self._show(
            "offline",
            "offline",
            f"<b>No shared log</b> — {_escape(detail)}. This window works offline: changes stay on this device.",
            "",
            retry=True,
        )
        self.retry_button.setText("Create or choose…")

    def show_info(self, text: str) -> None:
        self._show("info", "info", _escape(text), "", retry=False)

    def _show(self, level: str, icon_name: str, html: str, details: str, *, retry: bool) -> None:
        self.level = level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        resources.themed(self.icon, icon_name, 20)
        self.text.setText(html)
        self.details = details
        self.details_button.setVisible(bool(details))
        self.retry_button.setVisible(retry)
        self.retry_button.setText(self._retry_text)
        self.show()

    def dismiss(self) -> None:
        self.level = ""
        self.hide()

    def _show_details(self) -> None:
        if self._dialog is None:
            self._dialog = DetailsDialog(self.window())
        self._dialog.set_text(self.details)
        self._dialog.show()
        self._dialog.raise_()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
