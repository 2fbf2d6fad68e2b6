"""Overview: this device, its remote, the counts, Sync now, automatic sync, the review policy,
whether the devices are in step, and what needs attention (each finding with its fix)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from syncengine import RepairReport, Status, SyncRecord, SyncReport

from .. import format as fmt
from .. import resources
from ..models.activity import result_text
from ..ops import Ops
from ..services.device import DeviceService
from ..services.health import HealthService
from ..services.progress import SyncProgress
from ..services.remote import Reachability
from .chart import SHOWN as CHART_SYNCS
from .chart import SyncChart
from .health import ACTIONS, SYNC, AttentionPanel, CheckPanel

STAGES = {"receive": "Receiving", "share": "Sending", "reconcile": "Applying"}
REACHABILITY = {
    Reachability.UNKNOWN.value: ("refresh", "Checking…"),
    Reachability.CHECKING.value: ("refresh", "Checking…"),
    Reachability.MISSING.value: ("offline", "No shared log there — working offline"),
    Reachability.REACHABLE.value: ("online", "Reachable"),
    Reachability.OFFLINE.value: ("offline", "Offline — changes wait on this device"),
    Reachability.ERROR.value: ("error", "Error"),
    Reachability.NONE.value: ("info", "No remote configured"),
}


def last_sync_line(last: SyncRecord, open_conflicts: int) -> str:
    """Return the Last sync box's result: the outcome, the counts, and the conflicts found and waiting for review."""
    text = result_text(last)
    r = last.report
    if last.error is not None or "sent" not in r:
        return text
    text += f" — sent {r.get('sent', 0):,}, received {r.get('received', 0):,}, applied {r.get('applied', 0):,}"
    found = int(r.get("conflicts", 0) or 0)
    if found:
        text += f"; {fmt.plural(found, 'conflict')} found"
    if open_conflicts:
        verb = "is" if open_conflicts == 1 else "are"
        text += f"; {fmt.plural(open_conflicts, 'conflict')} {verb} held for your review"
    return text


class CountCard(QFrame):
    """A big number with a caption; clicking it opens the view it counts."""

    clicked = Signal()

    def __init__(self, caption: str, icon_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        top = QHBoxLayout()
        self.icon = QLabel()
        self.icon_name = icon_name
        resources.themed(self.icon, icon_name, 18)
        title = QLabel(caption)
        title.setObjectName("cardTitle")
        top.addWidget(self.icon)
        top.addWidget(title, 1)
        self.number = QLabel("—")
        self.number.setObjectName("bigCount")
        layout.addLayout(top)
        layout.addWidget(self.number)

    def set_count(self, n: int | None) -> None:
        self.number.setText(fmt.DASH if n is None else f"{n:,}")

    def mouseReleaseEvent(self, event: Any) -> None:
        self.clicked.emit()
        super().mouseReleaseEvent(event)


class OverviewPage(QWidget):
    """The first view: what this device is and how it stands."""

    openView = Signal(str)  # "pending", "conflicts"
    notice = Signal(str)  # what an action did, for the window's banner
    pauseOffered = Signal(bool, bool)  # Pause (or Resume) is offered; automatic sync is paused

    def __init__(self, service: DeviceService, ops: Ops, health: HealthService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service, self.ops, self.health = service, ops, health
        self.confirm_box: QMessageBox | None = None
        # The content keeps its natural size and scrolls in a small window rather than being squeezed
        wrapper = QVBoxLayout(self)
        wrapper.setContentsMargins(0, 0, 0, 0)
        self.scroller = QScrollArea()
        self.scroller.setObjectName("overviewScroller")
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget()
        self.scroller.setWidget(content)
        wrapper.addWidget(self.scroller)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(18, 12, 18, 12)
        outer.setSpacing(10)

        # -- who and the sync button
        head = QHBoxLayout()
        self.device_icon = QLabel()
        resources.themed(self.device_icon, "this-device", 36)
        names = QVBoxLayout()
        self.name_label = QLabel(service.device.name or "(unnamed device)")
        self.name_label.setObjectName("heading")
        self.id_label = QLabel(f"Device id {service.device_id}")
        self.id_label.setObjectName("muted")
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setFlat(True)
        self.rename_button.setToolTip("Change the name other devices see for this one (a copied database keeps the name of its original)")
        self.rename_box: QInputDialog | None = None  # the question, while it is open
        name_row = QHBoxLayout()
        name_row.setSpacing(6)
        name_row.addWidget(self.name_label)
        name_row.addWidget(self.rename_button)
        name_row.addStretch(1)
        names.addLayout(name_row)
        names.addWidget(self.id_label)
        self.sync_button = QPushButton("&Sync now")
        resources.themed(self.sync_button, "sync")
        self.sync_button.setDefault(True)
        self.sync_button.setMinimumHeight(32)
        self.sync_button.setToolTip("Receive, send and apply changes now (F5)")
        self.cancel_button = QPushButton("Cancel")
        resources.themed(self.cancel_button, "cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip(
            "Stop the sync at the next batch; everything done so far is kept (automatic sync pauses until you resume it)"
        )
        self.pause_button = QPushButton("&Pause")
        self.pause_button.setToolTip("Pause automatic sync until you resume it (a sync under way stops at its next batch)")
        self.pause_button.setVisible(False)
        head.addWidget(self.device_icon)
        head.addLayout(names, 1)
        head.addWidget(self.sync_button)
        head.addWidget(self.cancel_button)
        head.addWidget(self.pause_button)
        outer.addLayout(head)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress_label = QLabel("Idle")
        self.progress_label.setObjectName("muted")
        self.progress_label.setMinimumWidth(220)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_label)
        outer.addLayout(progress_row)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

        # -- counts
        cards = QGridLayout()
        cards.setSpacing(12)
        self.unshared_card = CountCard("Not sent yet", "outbox")
        self.pending_card = CountCard("Received, not applied", "pending")
        self.conflicts_card = CountCard("Open conflicts", "conflicts")
        self.quarantined_card = CountCard("Quarantined", "warning")
        for i, card in enumerate((self.unshared_card, self.pending_card, self.conflicts_card, self.quarantined_card)):
            cards.addWidget(card, 0, i)
        self.unshared_card.clicked.connect(lambda: self.openView.emit("pending"))
        self.pending_card.clicked.connect(lambda: self.openView.emit("pending"))
        self.quarantined_card.clicked.connect(lambda: self.openView.emit("pending"))
        self.conflicts_card.clicked.connect(lambda: self.openView.emit("conflicts"))
        outer.addLayout(cards)

        # -- remote and last sync
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(12)
        remote_box = QGroupBox("Remote")
        remote_form = QGridLayout(remote_box)
        self.remote_label = QLabel(fmt.location(service.workspace.remote) if service.workspace.remote else "none")
        self.remote_label.setToolTip(service.workspace.remote)
        self.remote_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.remote_label.setWordWrap(True)
        self.reach_icon = QLabel()
        self.reach_label = QLabel()
        self.check_button = QPushButton("Check")
        resources.themed(self.check_button, "refresh")
        self.check_button.setToolTip("Ask the remote whether it answers")
        remote_form.addWidget(QLabel("Location"), 0, 0)
        remote_form.addWidget(self.remote_label, 0, 1, 1, 3)
        remote_form.addWidget(QLabel("State"), 1, 0)
        remote_form.addWidget(self.reach_icon, 1, 1)
        remote_form.addWidget(self.reach_label, 1, 2)
        remote_form.addWidget(self.check_button, 1, 3)
        remote_form.setColumnStretch(2, 1)

        last_box = QGroupBox("Last sync")
        last_form = QGridLayout(last_box)
        self.last_when = QLabel(fmt.DASH)
        self.last_result = QLabel(fmt.DASH)
        self.last_result.setWordWrap(True)
        last_form.addWidget(QLabel("When"), 0, 0)
        last_form.addWidget(self.last_when, 0, 1)
        last_form.addWidget(QLabel("Result"), 1, 0)
        last_form.addWidget(self.last_result, 1, 1)
        self.chart = SyncChart()
        last_form.addWidget(self.chart, 2, 0, 1, 2)
        last_form.setColumnStretch(1, 1)

        auto_box = QGroupBox("Automatic sync")
        auto_form = QGridLayout(auto_box)
        self.auto_check = QCheckBox("Sync &automatically")
        self.auto_check.setToolTip("Every interval, and about a second after local changes")
        self.interval = QSpinBox()
        self.interval.setRange(5, 24 * 3600)
        self.interval.setSuffix(" s")
        self.interval.setSingleStep(30)
        self.interval.setKeyboardTracking(False)
        auto_form.addWidget(self.auto_check, 0, 0, 1, 2)
        auto_form.addWidget(QLabel("Every"), 1, 0)
        auto_form.addWidget(self.interval, 1, 1)
        auto_form.setColumnStretch(2, 1)

        review_box = QGroupBox("Conflicts")
        review_form = QVBoxLayout(review_box)
        self.review_check = QCheckBox("&Hold conflicts for my review")
        review_note = QLabel(
            "When on, conflicting changes wait in the Conflicts view and this database keeps its values "
            "until you decide. When off, the automatic result (the latest change) is applied and kept in the history."
        )
        review_note.setWordWrap(True)
        review_note.setObjectName("muted")
        review_form.addWidget(self.review_check)
        review_form.addWidget(review_note)

        self.check_panel = CheckPanel(health)
        self.attention = AttentionPanel(health)

        grid.addWidget(remote_box, 0, 0)
        grid.addWidget(last_box, 0, 1)
        grid.addWidget(self.check_panel, 1, 0)
        grid.addWidget(self.attention, 1, 1)
        grid.addWidget(auto_box, 2, 0)
        grid.addWidget(review_box, 2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        outer.addLayout(grid)
        outer.addStretch(1)

        self.sync_button.clicked.connect(self.sync_now)
        self.cancel_button.clicked.connect(self.cancel)
        self.pause_button.clicked.connect(self.toggle_pause)
        service.pausedChanged.connect(self._show_pause)
        service.conflictsArrived.connect(self._conflicts_arrived)
        self.check_button.clicked.connect(self.check_remote)
        self.auto_check.toggled.connect(self.auto_toggled)
        self.interval.valueChanged.connect(self.interval_changed)
        self.review_check.toggled.connect(self.review_toggled)
        service.statusChanged.connect(self.show_status)
        service.reachabilityChanged.connect(self.show_reachability)
        service.syncStarted.connect(self.sync_started)
        service.syncProgress.connect(self.sync_progress)
        service.syncFinished.connect(self.sync_finished)
        service.autoSyncChanged.connect(self.show_auto)
        service.activityChanged.connect(lambda: self.ops.start("Reading the sync history", self.load_chart))
        service.syncFinished.connect(self.check_after_sync)
        service.identityChanged.connect(self.show_identity)
        service.renamed.connect(self.name_label.setText)
        self.rename_button.clicked.connect(self.ask_name)
        self.check_panel.check_button.clicked.connect(self.check_now)
        self.attention.act.connect(self.act)
        self.show_reachability(service.reachability.value, service.reachability_detail)
        if not service.has_remote:
            self.sync_button.setToolTip("No remote: a sync applies received entries only")
        self._loading = False
        self.tracker: SyncProgress | None = None
        self._unshared_at_start: int | None = None
        for control in self._settings():
            control.setEnabled(False)  # until the stored values are in: a default shown meanwhile would be a lie

    def _settings(self) -> tuple[QWidget, ...]:
        return (self.auto_check, self.interval, self.review_check)

    # -- loading ------------------------------------------------------------------------

    async def load_chart(self) -> None:
        """Read the last syncs for the chart."""
        self.chart.set_records(await self.service.history(limit=CHART_SYNCS))

    async def load(self) -> None:
        """Read the settings shown here, and the chart (the counts arrive through the service's signals)."""
        await self.load_chart()
        self._loading = True
        try:
            enabled, interval = await self.service.auto_sync_settings()
            self.auto_check.setChecked(enabled)
            self.interval.setValue(int(interval))
            self.review_check.setChecked(await self.service.review_on())
            self._show_pause(self.service.paused)
        finally:
            self._loading = False
            for control in self._settings():
                control.setEnabled(True)

    def show_status(self, status: Status) -> None:
        self.unshared_card.set_count(status.unshared)
        self.pending_card.set_count(status.pending)
        self.conflicts_card.set_count(status.conflicts)
        self.quarantined_card.set_count(status.quarantined)
        self.last_when.setText(fmt.when(status.last_sync_at) if status.last_sync_at else "never")
        last = self.service.last_sync
        if last is not None:
            self.last_result.setText(last_sync_line(last, status.conflicts))

    def show_reachability(self, state: str, detail: str) -> None:
        icon_name, text = REACHABILITY.get(state, ("info", state))
        resources.themed(self.reach_icon, icon_name, 16)
        plain = state in (Reachability.OFFLINE.value, Reachability.MISSING.value)
        self.reach_label.setText(text if not detail or plain else f"{text}: {detail}")
        self.reach_label.setToolTip(detail)

    def show_identity(self, device_id: str) -> None:
        self.id_label.setText(f"Device id {device_id}")

    def ask_name(self) -> None:
        """Ask for this device's new name (a window-modal box; the UI never waits on it)."""
        box = QInputDialog(self)
        box.setWindowTitle("Rename this device")
        box.setLabelText("The name the other devices see for this one (sent with the next sync):")
        box.setTextEchoMode(QLineEdit.EchoMode.Normal)
        box.setTextValue(self.service.device.name)
        box.setOkButtonText("Rename")
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.textValueSelected.connect(self._rename)
        box.finished.connect(lambda _: self._forget_rename_box(box))
        self.rename_box = box
        box.open()

    def _forget_rename_box(self, box: QInputDialog) -> None:
        self.rename_box = None
        box.deleteLater()

    def _rename(self, name: str) -> None:
        async def rename() -> str:
            kept = await self.service.rename(name)
            return f"This device is now named {kept!r}; the other devices see it after its next sync."

        self.ops.start("Renaming the device", lambda: self._tell(rename()), [self.rename_button])

    def show_auto(self, enabled: bool, interval: float) -> None:
        self._loading = True
        self.auto_check.setChecked(enabled)
        self.interval.setValue(int(interval))
        self._loading = False
        self._show_pause(self.service.paused)

    def _show_pause(self, paused: bool) -> None:
        """Pause is offered while automatic sync is on; once paused it reads Resume."""
        offered = self.auto_check.isChecked() and self.service.has_remote
        self.pause_button.setVisible(offered)
        self.pauseOffered.emit(offered, paused)
        self.pause_button.setText("&Resume" if paused else "&Pause")
        resources.themed(self.pause_button, "sync" if paused else "cancel")
        if paused and not self.service.busy:
            self.progress_label.setText("Automatic sync paused — Resume to go on")

    def toggle_pause(self) -> None:
        work = self.service.resume_auto_sync if self.service.paused else self.service.pause_auto_sync
        self.ops.start("Pausing automatic sync", work, [self.pause_button])

    def _conflicts_arrived(self, n: int) -> None:
        """A sync under way found conflicts: count them on the card at once (the sync's end reads the real count)."""
        if self.service.busy and self.service.status is not None:
            shown = self.conflicts_card.number.text().replace(",", "")
            self.conflicts_card.set_count((int(shown) if shown.isdigit() else 0) + n)

    # -- syncing --------------------------------------------------------------------------

    def sync_now(self) -> None:
        if self.service.busy:
            return
        self.cancel_button.setEnabled(True)
        self.ops.start("Sync", lambda: self.service.sync("forced"), [self.sync_button])

    def cancel(self) -> None:
        """Stop the sync at its next batch; a sync automatic sync started pauses automatic sync too."""
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling at the next batch…")
        if self.service.auto_sync_running:
            self.ops.start("Pausing automatic sync", self.service.pause_auto_sync)
        else:
            self.service.cancel_sync()

    @asyncSlot()
    async def check_remote(self) -> None:
        await self.ops.run("Checking the remote", self.service.check_remote, [self.check_button])

    def sync_started(self, reason: str) -> None:
        self.sync_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)  # busy until the first progress event
        self.progress_label.setText("Syncing…" if reason == "forced" else "Syncing automatically…")
        status = self.service.status
        self._unshared_at_start = status.unshared if status is not None else None
        self.tracker = SyncProgress(self.service.behind(), self._unshared_at_start or 0, time.monotonic())

    def sync_progress(self, stage: str, done: int, total: int) -> None:
        if total > 0:  # the engine knew the amount itself
            verb = STAGES.get(stage, stage.capitalize() or "Syncing")
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress_label.setText(f"{verb}… {done:,} of {total:,}")
            return
        if self.tracker is None:
            return
        reading = self.tracker.update(stage, done, time.monotonic())
        self.progress.setRange(0, reading.maximum)
        self.progress.setValue(reading.value)
        self.progress_label.setText(reading.text)
        if stage == "share" and self._unshared_at_start is not None:  # the card counts down as entries leave
            self.unshared_card.set_count(max(0, self._unshared_at_start - done))

    def sync_finished(self, report: SyncReport | None, error: BaseException | None) -> None:
        self.tracker = None
        self.sync_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if error is None else 0)
        if error is not None:
            self.progress_label.setText("Offline" if self.service.reachability is Reachability.OFFLINE else "Failed")
        elif report is not None and report.cancelled:
            paused = " — automatic sync paused until you resume it" if self.service.paused else ""
            self.progress_label.setText("Cancelled — nothing is lost" + paused)
        elif report is not None:
            held = f", held {report.held:,} for a decision" if report.held else ""
            self.progress_label.setText(
                f"Done: sent {report.sent:,}, received {report.received:,}, applied {report.applied:,}{held}"
            )

    # -- settings ----------------------------------------------------------------------------

    @asyncSlot(bool)
    async def auto_toggled(self, on: bool) -> None:
        if self._loading:
            return
        await self.ops.run("Automatic sync", lambda: self.service.set_auto_sync(on, float(self.interval.value())), [self.auto_check])

    @asyncSlot(int)
    async def interval_changed(self, seconds: int) -> None:
        if self._loading:
            return
        await self.ops.run(
            "Sync interval", lambda: self.service.set_auto_sync(self.auto_check.isChecked(), float(seconds)), [self.interval]
        )

    @asyncSlot(bool)
    async def review_toggled(self, on: bool) -> None:
        if self._loading:
            return
        await self.ops.run("Review policy", lambda: self.service.set_review(on), [self.review_check])

    # -- the state check and the findings ---------------------------------------------------

    def check_after_sync(self, report: SyncReport | None, error: BaseException | None) -> None:
        if error is None and report is not None:
            self.ops.start("Checking the devices", lambda: self.health.after_sync(report), [self.check_panel.check_button])

    @asyncSlot()
    async def check_now(self) -> None:
        await self.ops.run("Checking the devices", self.health.check_now, [self.check_panel.check_button])

    def act(self, code: str) -> None:
        """Run the fix of the finding ``code`` (its button was pressed)."""
        button = self.attention.buttons().get(code)
        label = ACTIONS.get(code, SYNC)[0]
        if code == "open_conflicts":
            self.openView.emit("conflicts")
        elif code == "copied":
            self.confirm_reset()
        elif code == "quarantined":
            self.ops.start("Retrying quarantined entries", lambda: self._tell(self.health.retry_quarantined()), [button])
        elif code == "schema_changed":
            self.ops.start("Re-installing triggers", lambda: self._tell(self.health.refresh_schema()), [button])
        elif code == "differs":
            self.ops.start("Repairing", lambda: self._tell(self._repair()), [button, self.sync_button])
        elif label == SYNC[0] or code in ("remote_unreachable", "log_missing"):
            self.sync_now()

    async def _tell(self, work: Awaitable[str]) -> None:
        self.notice.emit(await work)

    async def _repair(self) -> str:
        report: RepairReport = await self.health.repair()
        if not report.captured and not report.restated:
            return "Repair: nothing to share again — this device holds no row that differs."
        parts = []
        if report.restated:
            parts.append(f"{report.restated:,} row{'s' if report.restated != 1 else ''} shared again with their versions")
        if report.captured:
            parts.append(f"{report.captured:,} row{'s' if report.captured != 1 else ''} that sync never saw shared")
        return (
            "Repair: " + " and ".join(parts) + ". The other devices take them at their next sync; a row they hold "
            "under the same version with another value becomes a diverged conflict there, for a person to decide."
        )

    def confirm_reset(self) -> None:
        """Ask before giving the database a new device id (a window-modal box; the UI never waits on it)."""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Reset identity",
            "Give this database a new device id?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            "Do this when this database is a copy of another device's database (copied to set up this machine, "
            "or restored from a backup): two databases under one id skip each other's changes. "
            "The next sync registers the new id and shares this database's whole state; nothing is lost. "
            "Changes waiting to be sent under the current id must be synced first."
        )
        yes = box.button(QMessageBox.StandardButton.Yes)
        yes.setText("Reset identity")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.buttonClicked.connect(lambda clicked: self._confirmed(box, clicked))
        self.confirm_box = box
        box.open()

    def _confirmed(self, box: QMessageBox, clicked: QAbstractButton) -> None:
        self.confirm_box = None
        box.deleteLater()
        if box.standardButton(clicked) != QMessageBox.StandardButton.Yes:
            return
        button = self.attention.buttons().get("copied")

        async def reset() -> str:
            new = await self.health.reset_identity()
            return f"This database is now device {new}. Its next sync shares its whole state with the shared log."

        self.ops.start("Resetting the identity", lambda: self._tell(reset()), [button])
