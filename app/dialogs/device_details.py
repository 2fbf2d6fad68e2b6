"""One device of the shared log in detail: who it is, when it was last seen, how far behind it is.

Opened by double-clicking (or pressing Enter on) a device in the Devices view. It
shows what the shared log's registry says (``SharedLog.devices()``); for this
device it adds what waits here (not sent yet, received and not applied).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from syncengine import DeviceInfo, Status

from .. import format as fmt
from ..models.devices import behind_text, last_seen


class DeviceDetailsDialog(QDialog):
    """A read-only form about one device; ``fields`` maps each label to the text shown (for tests)."""

    def __init__(self, info: DeviceInfo, *, this_device: bool, status: Status | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{info.name} — device details")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        title = QLabel(info.name + ("  (this device)" if this_device else ""))
        title.setObjectName("heading")
        layout.addWidget(title)
        form = QFormLayout()
        self.fields: dict[str, str] = {
            "Id": info.device_id,
            "Last seen": fmt.when(last_seen(info)) if last_seen(info) else "never",
            "Behind": behind_text(info.behind) + ("" if info.behind in (None, 0) else " of the shared log"),
            "Last sent": fmt.stamp(info.last_push_at) if info.last_push_at else "never",
            "Last received": fmt.stamp(info.last_pull_at) if info.last_pull_at else "never",
            "Log position read": f"{info.last_pull_seq:,}",
            "Registered": fmt.stamp(info.created_at),
            "User": info.user,
        }
        if this_device and status is not None:
            self.fields["Waiting here"] = (
                f"{fmt.plural(status.unshared, 'entry')} not sent yet, {status.pending:,} received and not applied"
            )
        for label, text in self.fields.items():
            value = QLabel(text)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            form.addRow(label, value)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
