"""The Overview's state check ("In step with 2 devices") and its Attention list (doctor's findings, each with its fix)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from syncengine import Diagnosis

from .. import resources
from ..services.health import HealthService, details, keys_text, summary

STATE_ICONS = {"same": "check", "differs": "error", "unknown": "info"}
SEVERITY_ICONS = {"error": "error", "warning": "warning", "info": "info"}
SYNC = ("Sync now", "Run a sync: it is what fixes this")
ACTIONS: dict[str, tuple[str, str]] = {
    "quarantined": ("Retry", "Apply the quarantined entries again (after fixing their cause)"),
    "schema_changed": ("Re-install triggers", "Read the synced tables' columns again and re-install their triggers"),
    "differs": ("Repair", "Share again the rows that differ, with their versions; rows both devices hold under one version "
                "with different values become diverged conflicts for a person"),
    "copied": ("Reset identity…", "Give this database a new device id (asks first)"),
    "open_conflicts": ("Review conflicts", "Open the Conflicts view"),
    "remote_unreachable": ("Retry sync", "Try to sync again"),
    "log_missing": ("Create or choose…", "Look for the shared log again; if it is still not there, create a new one, "
                    "choose another, or go on offline"),
    "new_log": SYNC,
    "shared_elsewhere": SYNC,
    "not_registered": SYNC,
    "unshared": SYNC,
}
"""What each finding's button says and does (by doctor's code); findings not named here show the fix as text."""


class CheckPanel(QGroupBox):
    """The last check's one-line result, its details, and Check now."""

    def __init__(self, health: HealthService, parent: QWidget | None = None) -> None:
        super().__init__("Devices in step", parent)
        self.health = health
        layout = QGridLayout(self)
        self.icon = QLabel()
        self.text = QLabel()
        self.text.setObjectName("cardTitle")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel()
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.check_button = QPushButton("Check &now")
        resources.themed(self.check_button, "check")
        self.check_button.setToolTip(
            "Compare this device's synced tables with every other device's at the same shared-log position "
            "(reads every synced row)"
        )
        layout.addWidget(self.icon, 0, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.text, 0, 1)
        layout.addWidget(self.check_button, 0, 2)
        layout.addWidget(self.details, 1, 1, 1, 2, Qt.AlignmentFlag.AlignTop)
        layout.setColumnStretch(1, 1)
        layout.setRowStretch(1, 1)
        self.state = "unknown"
        if not health.service.has_remote:
            self.check_button.setEnabled(False)
            self.check_button.setToolTip("No remote: there is no other device to compare with")
        health.changed.connect(self.show_check)
        self.show_check()

    def show_check(self) -> None:
        self.state, text = summary(self.health.last)
        if not self.health.service.has_remote:
            self.state, text = "unknown", "No remote: nothing to compare with"
        if self.health.checking:
            text = "Checking…"
        resources.themed(self.icon, STATE_ICONS[self.state], 18)
        self.text.setText(text)
        self.text.setToolTip(keys_text(self.health.last))
        lines = [details(self.health.last)] if self.health.service.has_remote else []
        if self.health.note:
            lines.insert(0, self.health.note)
        self.details.setText("\n".join(lines))


class FindingRow(QWidget):
    """One finding: its severity, its message, and its fix (a button, or the engine's words)."""

    def __init__(self, finding: Diagnosis, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.finding = finding
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        icon = QLabel()
        resources.themed(icon, SEVERITY_ICONS.get(finding.severity, "info"), 16)
        text = QVBoxLayout()
        self.message = QLabel(finding.message[:1].upper() + finding.message[1:])
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.addWidget(self.message)
        self.button: QPushButton | None = None
        action = ACTIONS.get(finding.code)
        if action is None and finding.fix:
            fix = QLabel(f"Fix: {finding.fix}")
            fix.setObjectName("muted")
            fix.setWordWrap(True)
            fix.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.addWidget(fix)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(text, 1)
        if action is not None:
            self.button = QPushButton(action[0])
            self.button.setToolTip(action[1] + (f"\nOn the command line: {finding.fix}" if finding.fix else ""))
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)


class AttentionPanel(QGroupBox):
    """Doctor's findings, most serious first; ``act(code)`` when a finding's button is pressed."""

    act = Signal(str)

    def __init__(self, health: HealthService, parent: QWidget | None = None) -> None:
        super().__init__("Attention", parent)
        self.health = health
        self.rows_layout = QVBoxLayout(self)
        self.empty = QLabel()
        self.empty.setObjectName("muted")
        self.rows_layout.addWidget(self.empty)
        self.rows: list[FindingRow] = []
        health.changed.connect(self.show_findings)
        self.show_findings()

    def buttons(self) -> dict[str, QPushButton]:
        """The action buttons shown, by finding code."""
        return {row.finding.code: row.button for row in self.rows if row.button is not None}

    def show_findings(self) -> None:
        found = self.health.findings
        if [row.finding for row in self.rows] == found and self.rows:
            return
        for row in self.rows:
            self.rows_layout.removeWidget(row)
            row.hide()  # at once: deleteLater waits for the event loop
            row.deleteLater()
        self.rows = []
        for finding in found:
            row = FindingRow(finding)
            if row.button is not None:
                row.button.clicked.connect(lambda _=False, code=finding.code: self.act.emit(code))
            self.rows_layout.addWidget(row)
            self.rows.append(row)
        self.empty.setVisible(not found)
        self.empty.setText("Nothing needs attention." if self.health.looked else "Looking…")
