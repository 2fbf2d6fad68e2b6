"""Encryption…: set up end-to-end encryption, unlock this device, rotate the key, or change the passphrase.

One page per action, each a few password fields and one button; only the pages
that fit the device's state can be chosen (a device that encrypts cannot set up
again, a log that is not encrypted cannot be unlocked). The work runs in a worker
thread (:class:`~app.services.encryption.EncryptionService`): Argon2id takes about
half a second. A refusal — a wrong passphrase, another device changing the keys
meanwhile — is the engine's sentence under the page, the typed text kept and
selected for another try; after success the dialog says which key the device holds
and where it keeps it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from syncengine import KeyStatus

from .. import format as fmt
from ..errors import sentence
from ..ops import Ops
from ..services.encryption import MIN_LENGTH, EncryptionService, LockState, check_new, describe, strength, where_kept

SETUP, UNLOCK, ROTATE, PASSPHRASE = "setup", "unlock", "rotate", "passphrase"
WEAK = 3  # zxcvbn scores below this are said to be weak (as on the command line)


def _secret(placeholder: str = "") -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    field.setClearButtonEnabled(False)
    return field


def _wrapped(text: str, name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    if name:
        label.setObjectName(name)
    return label


class _Page(QWidget):
    """One action: its fields, its button, and the field to select again after a refusal."""

    submitted = Signal()

    def __init__(self, intro: str, button: str) -> None:
        super().__init__()
        self.layout_ = QVBoxLayout(self)
        self.layout_.addWidget(_wrapped(intro))
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.button = QPushButton(button)
        self.button.setAutoDefault(False)  # Return in a field submits this page, never another button
        self.button.clicked.connect(self.submitted)
        self.layout_.addStretch(1)
        self.layout_.addWidget(self.button, 0, Qt.AlignmentFlag.AlignRight)
        self.fields: list[QLineEdit] = []
        self.retry_field: QLineEdit | None = None

    def add(self, label: str, field: QLineEdit) -> QLineEdit:
        self.form.addRow(label, field)
        self.fields.append(field)
        field.returnPressed.connect(self._return)
        return field

    def _return(self) -> None:
        if self.button.isEnabled():
            self.button.click()

    def clear(self) -> None:
        for field in self.fields:
            field.clear()


class EncryptionDialog(QDialog):
    """Emits ``succeeded(action, KeyStatus)`` after an action succeeded (action: setup, unlock, rotate, passphrase)."""

    succeeded = Signal(str, object)

    def __init__(self, keys: EncryptionService, ops: Ops, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys = keys
        self.ops = ops
        self.task: asyncio.Future[object] | None = None
        self._rated: tuple[str, int, str] | None = None
        self.setWindowTitle("Encryption")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        self.summary = _wrapped("", "muted")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)

        self.setup_page = _Page(
            "Encrypt the shared log from now on: it, and whoever runs it, keeps only ciphertext. Every other "
            "device then needs this passphrase once (<b>Unlock</b>). Nobody can recover it for you: "
            "<b>keep it safe</b>.",
            "Set &up encryption",
        )
        self.new = self.setup_page.add("&New passphrase", _secret(f"at least {MIN_LENGTH} characters; several words are best"))
        self.repeat = self.setup_page.add("&Repeat it", _secret())
        self.setup_strength = _wrapped("", "muted")
        self.setup_page.form.addRow("", self.setup_strength)

        self.unlock_page = _Page(
            "The shared log is encrypted. Type the passphrase given when encryption was set up (or last changed) "
            "on another device; this device then keeps the keys and syncs.",
            "&Unlock",
        )
        self.unlock_field = self.unlock_page.add("&Passphrase", _secret())
        self.unlock_page.retry_field = self.unlock_field

        self.rotate_page = _Page(
            "Make a new key for the batches sent from now on. Older batches stay readable with the older keys, "
            "which every device keeps.",
            "&Rotate key",
        )
        self.rotate_field = self.rotate_page.add("&Passphrase", _secret())
        self.rotate_page.retry_field = self.rotate_field
        self.unchained = QCheckBox("Other &devices must type the passphrase")
        self.unchained.setToolTip("The new key is wrapped under the passphrase only, not under the current key")
        self.rotate_page.form.addRow("", self.unchained)
        self.rotate_page.form.addRow(
            "",
            _wrapped(
                "Tick it after a device was lost: change the passphrase first, then rotate, and the lost device "
                "cannot follow. Otherwise the devices that hold the current key take the new one at their next sync.",
                "muted",
            ),
        )

        self.passphrase_page = _Page(
            "Wrap the keys under a new passphrase. Nothing in the log is encrypted again, and the devices that "
            "hold the keys need nothing new; devices that join from now on type the new one.",
            "&Change passphrase",
        )
        self.old = self.passphrase_page.add("C&urrent passphrase", _secret())
        self.passphrase_page.retry_field = self.old
        self.changed_new = self.passphrase_page.add("&New passphrase", _secret(f"at least {MIN_LENGTH} characters"))
        self.changed_repeat = self.passphrase_page.add("&Repeat it", _secret())
        self.passphrase_strength = _wrapped("", "muted")
        self.passphrase_page.form.addRow("", self.passphrase_strength)

        self.pages: dict[str, _Page] = {
            SETUP: self.setup_page,
            UNLOCK: self.unlock_page,
            ROTATE: self.rotate_page,
            PASSPHRASE: self.passphrase_page,
        }
        self.tabs = QTabWidget()
        for page, title in zip(self.pages.values(), ("Set up", "Unlock", "Rotate key", "Change passphrase"), strict=True):
            self.tabs.addTab(page, title)
        layout.addWidget(self.tabs, 1)

        self.working = QProgressBar()
        self.working.setRange(0, 0)
        self.working.setTextVisible(False)
        self.working.setMaximumHeight(6)
        self.working.hide()
        layout.addWidget(self.working)
        self.message = QLabel()
        self.message.setObjectName("banner")  # drawn like the window's banner: its level gives the colour
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        layout.addWidget(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setAutoDefault(False)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.setup_page.submitted.connect(self.set_up)
        self.unlock_page.submitted.connect(self.unlock)
        self.rotate_page.submitted.connect(self.rotate)
        self.passphrase_page.submitted.connect(self.change_passphrase)
        for field in (self.new, self.repeat):
            field.textChanged.connect(self._check_setup)
        for field in (self.old, self.changed_new, self.changed_repeat):
            field.textChanged.connect(self._check_passphrase)
        self.rotate_field.textChanged.connect(self._check_simple)
        self.unlock_field.textChanged.connect(self._check_simple)
        self.tabs.currentChanged.connect(self._page_shown)
        keys.changed.connect(self.refresh)
        keys.service.busyChanged.connect(self._busy_changed)
        self.refresh()
        self.show_page(self.suggested())

    # -- which pages apply ---------------------------------------------------------------------

    def available(self) -> set[str]:
        """The actions that fit the device's state (none without a shared log)."""
        keys = self.keys
        if not keys.has_remote:
            return set()
        status = keys.status
        if status is None:
            return {SETUP, UNLOCK}
        if status.encrypts:
            return {UNLOCK, ROTATE, PASSPHRASE}  # Unlock fetches the keys again (after a rotation others must type for)
        if status.log_encrypted:
            return {UNLOCK}
        if status.log_encrypted is None:  # the log could not be asked
            return {SETUP, UNLOCK}
        return {SETUP}

    def suggested(self) -> str:
        """The page to open on: Unlock when the device lacks the key, Set up when nothing is encrypted, else Rotate."""
        state = self.keys.state
        if state is LockState.LOCKED:
            return UNLOCK
        if state is LockState.ENCRYPTED:
            return ROTATE
        return SETUP if SETUP in self.available() else UNLOCK

    def show_page(self, key: str) -> None:
        """Show one action's page and put the cursor in its first field."""
        self.tabs.setCurrentWidget(self.pages[key])
        self._page_shown()

    def current(self) -> str:
        return next(k for k, page in self.pages.items() if page is self.tabs.currentWidget())

    def refresh(self) -> None:
        """Say what the device holds and enable the pages that fit (a page at work stays as it is)."""
        if not shiboken6.isValid(self):
            return
        keys = self.keys
        if not keys.has_remote:
            self.summary.setText("No shared log is open. The keys are kept in the shared log: open it, then come back.")
        elif keys.status is None:
            self.summary.setText(_escape(keys.problem) if keys.problem else "Reading this device's keys…")
        else:
            text = describe(keys.status)
            if keys.refused and keys.status.encrypts:
                text += " The shared log's key was replaced: unlock with the passphrase to take it."
            self.summary.setText(_escape(text))
        available = self.available()
        for i, key in enumerate(self.pages):
            self.tabs.setTabEnabled(i, key in available)
        if self.current() not in available and available:
            self.show_page(self.suggested() if self.suggested() in available else sorted(available)[0])
        self._check_all()

    # -- checking what is typed ----------------------------------------------------------------

    def _check_all(self) -> None:
        self._check_setup()
        self._check_passphrase()
        self._check_simple()

    def _idle(self) -> bool:
        return (self.task is None or self.task.done()) and not self.keys.service.busy

    def _check_setup(self) -> None:
        self._strength(self.new.text(), self.repeat.text(), self.setup_strength, self.setup_page)

    def _check_passphrase(self) -> None:
        ok = self._strength(self.changed_new.text(), self.changed_repeat.text(), self.passphrase_strength, self.passphrase_page)
        if ok and not self.old.text():
            self.passphrase_page.button.setEnabled(False)

    def _check_simple(self) -> None:
        self.unlock_page.button.setEnabled(self._idle() and bool(self.unlock_field.text()))
        self.rotate_page.button.setEnabled(self._idle() and bool(self.rotate_field.text()))

    def _strength(self, passphrase: str, repeated: str, label: QLabel, page: _Page) -> bool:
        """Show the live hint for a new passphrase; enable the page's button when it can be used."""
        refused = check_new(passphrase, repeated)
        if not passphrase:
            label.setText(f"At least {MIN_LENGTH} characters. Several unrelated words are easy to remember and hard to guess.")
        else:
            score, hint = self._rate(passphrase)
            said = f"Strength: {_escape(hint)}"
            if score < WEAK:
                said = f"<b>Weak passphrase</b> — {_escape(hint)} Whoever holds the shared log can try guesses at leisure."
            if len(passphrase) < MIN_LENGTH:
                said = f"<b>Too short</b> — {fmt.plural(len(passphrase), 'character')}; use at least {MIN_LENGTH}. " + said
            elif refused and repeated:
                said = f"<b>{_escape(refused)}</b> " + said
            label.setText(said)
        usable = not refused
        page.button.setEnabled(self._idle() and usable)
        return usable

    def _rate(self, passphrase: str) -> tuple[int, str]:
        """zxcvbn's rating, kept for the last passphrase only: typing the repeat must not rate the first again (~30 ms)."""
        if self._rated is None or self._rated[0] != passphrase:
            self._rated = (passphrase, *strength(passphrase))
        return self._rated[1], self._rated[2]

    def _busy_changed(self, _busy: bool) -> None:
        if shiboken6.isValid(self):
            self._check_all()

    def _page_shown(self, *_: object) -> None:
        page = self.tabs.currentWidget()
        if isinstance(page, _Page) and page.fields and self.isVisible():
            page.fields[0].setFocus(Qt.FocusReason.OtherFocusReason)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._page_shown()

    # -- the actions ---------------------------------------------------------------------------

    def set_up(self) -> None:
        passphrase = self.new.text()
        refused = check_new(passphrase, self.repeat.text())
        if refused:  # the button is off meanwhile; Return can still arrive from a field
            self.say(refused, "error")
            return

        def said(status: KeyStatus) -> str:
            text = (
                f"The shared log is encrypted from now on, with key {status.key_id}; this device keeps it in "
                f"{where_kept(status)}. On every other device choose Sync → Encryption… → Unlock with the same passphrase."
            )
            if status.encrypted_from:
                text += (
                    f" The batches shared before (numbers up to {status.encrypted_from}) stay unencrypted in the log."
                )
            return text

        self._start(SETUP, "Setting up encryption", lambda: self.keys.setup(passphrase), said)

    def unlock(self) -> None:
        passphrase = self.unlock_field.text()
        if not passphrase:
            return
        self._start(
            UNLOCK,
            "Unlocking the shared log",
            lambda: self.keys.join(passphrase),
            lambda s: f"Unlocked: this device holds key {s.key_id} now, kept in {where_kept(s)}.",
        )

    def rotate(self) -> None:
        passphrase = self.rotate_field.text()
        if not passphrase:
            return
        chained = not self.unchained.isChecked()
        others = (
            "other devices take it at their next sync"
            if chained
            else "every other device needs Unlock with the passphrase before it syncs again"
        )
        self._start(
            ROTATE,
            "Rotating the key",
            lambda: self.keys.rotate(passphrase, chained=chained),
            lambda s: f"New batches are encrypted with key {s.key_id}; {others}. The keys are kept in {where_kept(s)}.",
        )

    def change_passphrase(self) -> None:
        old, new = self.old.text(), self.changed_new.text()
        refused = check_new(new, self.changed_repeat.text())
        if refused or not old:
            self.say(refused or "Type the current passphrase.", "error")
            return
        self._start(
            PASSPHRASE,
            "Changing the passphrase",
            lambda: self.keys.change_passphrase(old, new),
            lambda s: "The passphrase is changed; devices that hold the keys need nothing new. "
            f"This device keeps them in {where_kept(s)}.",
        )

    def _start(
        self, action: str, what: str, work: Callable[[], Awaitable[KeyStatus]], said: Callable[[KeyStatus], str]
    ) -> None:
        if not self._idle():
            return
        page = self.pages[action]
        self.say("", "info")
        self.working.show()
        self.tabs.setEnabled(False)  # the typed text stays; nothing can change it while the work runs

        async def run() -> None:
            try:
                status = await work()
            except Exception as exc:  # the engine's sentence, inline; never a traceback
                if shiboken6.isValid(self):
                    self._settle()
                    self.say(sentence(exc), "error")
                    field = page.retry_field
                    if field is not None:
                        field.setFocus(Qt.FocusReason.OtherFocusReason)
                        field.selectAll()
                return
            finally:
                if shiboken6.isValid(self):
                    self._settle()
            if not shiboken6.isValid(self):
                return
            page.clear()  # no passphrase stays in a widget once it did its work
            self._rated = None
            self.unchained.setChecked(False)
            self.say(said(status), "info")
            self.succeeded.emit(action, status)

        self.task = self.ops.start(what, run)
        self._check_all()
        self.task.add_done_callback(lambda _t: self._check_all() if shiboken6.isValid(self) else None)

    def _settle(self) -> None:
        self.working.hide()
        self.tabs.setEnabled(True)

    def say(self, text: str, level: str) -> None:
        """Show a sentence under the pages: ``error`` (red) or ``info``; empty hides it."""
        self.message.setProperty("level", level)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)
        self.message.setVisible(bool(text))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
