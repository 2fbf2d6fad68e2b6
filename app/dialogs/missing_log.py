"""Asking what to do when the workspace's shared log is not there: create it, choose another, or work offline.

A shared log is never created behind the person's back: a remote path with a typo
or on a drive that is not mounted would otherwise start a new, empty log that the
other devices never see. The box is window-modal and opened with ``open()``, so
the UI never waits on it; closing it (Escape) means working offline.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget

from .. import format as fmt

CREATE, CHOOSE, OFFLINE = "create", "choose", "offline"


class MissingLogBox(QMessageBox):
    """Emits ``chosen`` with ``create``, ``choose`` or ``offline``."""

    chosen = Signal(str)

    def __init__(self, remote: str, detail: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle("No shared log")
        self.setText(f"There is no shared log at {fmt.location(remote)}.")
        self.setInformativeText(
            "If it is on a drive that is not connected, or the path has a typo, choose the right one or work "
            "offline: changes stay on this device until a sync reaches the log. Create a new, empty shared log "
            "only to start syncing afresh; the other devices must then use it too."
        )
        self.setDetailedText(detail)
        self.create_button = self.addButton("&Create a new shared log", QMessageBox.ButtonRole.AcceptRole)
        self.choose_button = self.addButton("C&hoose another…", QMessageBox.ButtonRole.ActionRole)
        self.offline_button = self.addButton("Work &offline", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.choose_button)
        self.setEscapeButton(self.offline_button)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.buttonClicked.connect(self._clicked)

    def _clicked(self, button: QAbstractButton) -> None:
        if button is self.create_button:
            self.chosen.emit(CREATE)
        elif button is self.choose_button:
            self.chosen.emit(CHOOSE)
        else:
            self.chosen.emit(OFFLINE)
