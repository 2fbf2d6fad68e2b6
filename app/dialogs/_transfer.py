"""What the two pairing dialogs share: a progress bar with rows, rate and time left, one sentence for an
error (its traceback behind Details…), and a cancel that closing the dialog sets too.

The transfer itself runs in a worker thread (see ``app/services/pairing.py``); the
dialog awaits it in an asyncio task. Closing the dialog while it runs cancels the
transfer and closes once the worker has stopped (within a batch, or a moment while
waiting), so no thread outlives the dialog's purpose.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from syncengine import PairProgress

from .. import format as fmt
from ..services.pairing import Transfer, sentence
from .details import DetailsDialog


class TransferDialog(QDialog):
    """A dialog that runs one pairing transfer at a time and shows how it goes."""

    side = "sender"  # or "joiner": a cancel means another thing on each (see services.pairing.sentence)
    close_on_cancel = True  # whether the Cancel button closes the dialog too (closing it always cancels)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transfer: Transfer | None = None
        self.task: asyncio.Future[None] | None = None
        self.error: BaseException | None = None
        self.details = ""
        self._close_when_done = False
        self._running = False
        self._details_dialog: DetailsDialog | None = None

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.status = QLabel()
        self.status.setObjectName("transferStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel()
        self.detail.setObjectName("muted")
        self.error_label = QLabel()
        self.error_label.setObjectName("transferError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details…")
        self.details_button.clicked.connect(self._show_details)
        self.error_row = QWidget()
        row = QHBoxLayout(self.error_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.error_label, 1)
        row.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        self.error_row.hide()

    def progress_section(self) -> QVBoxLayout:
        """The progress bar, the status line, the rate line and the error row, for the subclass's layout."""
        box = QVBoxLayout()
        box.setSpacing(4)
        box.addWidget(self.progress)
        box.addWidget(self.status)
        box.addWidget(self.detail)
        box.addWidget(self.error_row)
        return box

    # -- running -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a transfer (or the step before it) is under way."""
        return self._running

    def begin(self, work: Callable[[Transfer], Awaitable[None]]) -> None:
        """Start ``work(transfer)`` as a task, with a fresh transfer whose progress this dialog shows."""
        self.transfer = Transfer(self)
        self.transfer.progress.connect(self.show_progress)
        self.clear_error()
        self._close_when_done = False
        self._running = True
        self.progress.show()
        self.task = asyncio.ensure_future(self._run(work, self.transfer))
        self.running_changed(True)

    async def _run(self, work: Callable[[Transfer], Awaitable[None]], transfer: Transfer) -> None:
        try:
            await work(transfer)
        except Exception as exc:
            if shiboken6.isValid(self):
                self.show_error(exc)
        finally:
            self._running = False
            if shiboken6.isValid(self):
                self.running_changed(False)
                if self._close_when_done:
                    super().reject()

    def running_changed(self, running: bool) -> None:
        """Called when a transfer starts and when it ends (enable and relabel the buttons)."""

    def cancel_or_close(self) -> None:
        """The Cancel button: stop the transfer (and close, if :attr:`close_on_cancel`), or close."""
        if self.running and self.transfer is not None:
            self._cancel(close=self.close_on_cancel)
        else:
            self.reject()

    def reject(self) -> None:
        """Escape or the window's close button: cancel what runs, and close once it has stopped."""
        if self.running and self.transfer is not None:
            self._cancel(close=True)
            return
        super().reject()

    def _cancel(self, *, close: bool) -> None:
        assert self.transfer is not None
        self._close_when_done = self._close_when_done or close
        if not self.transfer.cancelled:
            self.transfer.cancel()
            self.status.setText("Cancelling…")
            self.detail.clear()

    # -- showing ---------------------------------------------------------------------------------

    def show_progress(self, event: PairProgress) -> None:
        self.clear_error()
        total = max(event.total, event.rows)
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(event.rows)
        else:
            self.progress.setRange(0, 0)
        self.status.setText(self.progress_text(event))
        parts = [f"{event.rate:,.0f} rows/s", fmt.size(event.bytes)]
        if event.left is not None and event.rows < event.total:
            parts.append(f"about {fmt.duration(event.left)} left")
        self.detail.setText(" · ".join(parts))

    def progress_text(self, event: PairProgress) -> str:
        verb = "Sending" if event.direction == "sending" else "Receiving"
        return f"{verb} {event.rows:,} / {event.total:,} rows…"

    def busy(self, text: str) -> None:
        """A status with a busy bar (no progress to show yet)."""
        self.progress.setRange(0, 0)
        self.status.setText(text)
        self.detail.clear()

    def finished_status(self, text: str, detail: str = "") -> None:
        """A finished status: a full bar."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.status.setText(text)
        self.detail.setText(detail)

    def show_error(self, error: BaseException) -> None:
        """The one place a transfer's failure is shown: a sentence, the traceback behind Details…."""
        self.error = error
        self.details = "".join(traceback.format_exception(error))
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.clear()
        self.detail.clear()
        self.error_label.setText(sentence(error, side=self.side))
        self.error_row.show()

    def clear_error(self) -> None:
        self.error = None
        self.details = ""
        self.error_label.clear()
        self.error_row.hide()

    def _show_details(self) -> None:
        if self._details_dialog is None:
            self._details_dialog = DetailsDialog(self)
        self._details_dialog.set_text(self.details)
        self._details_dialog.show()
        self._details_dialog.raise_()
