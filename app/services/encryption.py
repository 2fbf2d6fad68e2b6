"""End-to-end encryption of the open device's shared log, driven from the UI thread without blocking it.

The engine does the work (``Device.setup_encryption``, ``join_encryption``,
``rotate_key``, ``change_passphrase``, ``encryption_status``); each call runs in a
worker thread through :meth:`DeviceService.run`, because Argon2id spends about
0.4 s and 128 MiB on every passphrase. This service keeps the last
:class:`~syncengine.KeyStatus` and whether the last sync was refused for want of a
key (``KeyMissing``), and broadcasts both through ``changed``: the lock in the status
bar and the banner are drawn from them (:func:`lock_state`).
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from syncengine import EncryptionError, KeyMissing, KeyStatus, RemoteError, passphrase_strength

from .. import format as fmt
from ..errors import sentence
from .device import DeviceService

COST: dict[str, int] | None = None
"""Argon2id's cost for a new key (``memory_kib``, ``iterations``, ``lanes``); None: the engine's default.

Only tests lower it (to stay quick); the app always uses the engine's default.
"""

MIN_LENGTH = 8
"""A new passphrase needs at least this many characters (as on the command line)."""

_STRENGTH_LIMIT = 72  # zxcvbn refuses longer input with a ValueError; the first 72 characters tell enough


class LockState(enum.Enum):
    """What the lock shows."""

    UNKNOWN = "unknown"  # not read yet
    ENCRYPTED = "encrypted"  # this device seals what it sends
    LOCKED = "locked"  # the shared log is encrypted and this device cannot read it: it needs the passphrase
    OPEN = "open"  # nothing is encrypted


def lock_state(status: KeyStatus | None, problem: str) -> LockState:
    """The lock's state from the device's key status and the sentence of a refusal (``""``: none).

    A device that encrypts can still be locked out: after a rotation that other
    devices must follow with the passphrase, its sync raises ``KeyMissing``.
    """
    if problem:
        return LockState.LOCKED
    if status is None:
        return LockState.UNKNOWN
    if status.log_encrypted and not status.encrypts:
        return LockState.LOCKED
    return LockState.ENCRYPTED if status.encrypts else LockState.OPEN


def where_kept(status: KeyStatus) -> str:
    """Where the device keeps its unwrapped keys, as a phrase: "the system keyring" or "the file ~/…"."""
    where = status.stored_in or "its key store"
    return where if where.startswith("the ") else f"the file {fmt.location(where)}"


def describe(status: KeyStatus) -> str:
    """One sentence on this device's keys (for the dialog and the lock's tooltip)."""
    if not status.encrypts:
        mine = "This device does not encrypt."
    else:
        mine = (
            f"This device encrypts with key {status.key_id} ({fmt.plural(status.keys, 'key')}); "
            f"the keys are kept in {where_kept(status)}."
        )
    if status.log_encrypted is None:
        return mine
    if not status.log_encrypted:
        return f"{mine} The shared log is not encrypted."
    theirs = f"The shared log is encrypted (key {status.log_key_id})"
    if not status.encrypts:
        return f"{mine} {theirs}: unlock it with the passphrase to sync."
    if status.log_key_id != status.key_id:
        return f"{mine} {theirs}: the next sync takes its new key."
    return f"{mine} {theirs}."


def strength(passphrase: str) -> tuple[int, str]:
    """zxcvbn's score (0–4) and hint for a passphrase being typed (quick enough for every keystroke)."""
    return passphrase_strength(passphrase[:_STRENGTH_LIMIT])


def check_new(passphrase: str, repeated: str) -> str:
    """Why a new passphrase cannot be used (``""`` when it can): too short, or the two differ."""
    if len(passphrase) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters (several words are best)."
    if passphrase != repeated:
        return "The two passphrases differ."
    return ""


class EncryptionService(QObject):
    """The open device's encryption: its status, and the four things a person can do with a passphrase."""

    changed = Signal()  # status or problem changed

    def __init__(self, service: DeviceService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.status: KeyStatus | None = None
        self.refused = ""  # the engine's sentence when the last sync was refused for want of a key (KeyMissing)
        self.unreadable = ""  # the engine's sentence when this device's keys cannot be read (gone from the keyring)
        self._tasks: set[asyncio.Future[Any]] = set()

    @property
    def problem(self) -> str:
        """Why this device cannot read the shared log now (``""``: nothing known against it)."""
        return self.refused or self.unreadable

    @property
    def state(self) -> LockState:
        return lock_state(self.status, self.problem)

    @property
    def has_remote(self) -> bool:
        """Whether a shared log is open (the keys live there)."""
        return self.service.remote is not None

    async def refresh(self) -> KeyStatus | None:
        """Read the device's keys and ask the shared log whether it is encrypted.

        A remote that cannot be reached gives the device's side only
        (``log_encrypted`` None). Keys that cannot be read become :attr:`problem`.
        """
        if self.service.closed:
            return self.status
        device, remote = self.service.device, self.service.remote

        def read() -> KeyStatus:
            try:
                return device.encryption_status(remote)
            except RemoteError:
                return device.encryption_status(None)

        try:
            self.status = await self.service.run(read)
            self.unreadable = ""
        except EncryptionError as exc:
            self.unreadable = sentence(exc)
        if shiboken6.isValid(self):  # the window may have gone while the call ran
            self.changed.emit()
        return self.status

    def sync_finished(self, report: object, error: BaseException | None) -> None:
        """After any sync (the window's or the scheduler's): note a refusal for want of a key, then read the status."""
        if isinstance(error, KeyMissing):
            self.refused = sentence(error)
        elif error is None and report is not None:
            self.refused = ""
        else:  # offline, cancelled, or another failure: it says nothing about the keys
            return
        self.changed.emit()
        self._later(self.refresh())

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_settle)

    # -- the four actions (each raises the engine's error: WrongPassphrase, EncryptionError, RemoteError) --

    def _remote(self) -> Any:
        if self.service.remote is None:
            raise EncryptionError("no shared log is open, and the keys are kept there: open the shared log first")
        return self.service.remote

    def _adopt(self, status: KeyStatus) -> KeyStatus:
        self.status = status
        self.refused = self.unreadable = ""
        self.changed.emit()
        return status

    async def setup(self, passphrase: str) -> KeyStatus:
        """Encrypt the shared log from now on with a new key wrapped by ``passphrase`` (at :data:`COST`)."""
        remote = self._remote()
        return self._adopt(await self.service.run(self.service.device.setup_encryption, remote, passphrase, cost=COST))

    async def join(self, passphrase: str) -> KeyStatus:
        """Unlock the shared log's keys with ``passphrase`` and keep them on this device."""
        remote = self._remote()
        return self._adopt(await self.service.run(self.service.device.join_encryption, remote, passphrase))

    async def rotate(self, passphrase: str, *, chained: bool = True) -> KeyStatus:
        """A new key for new batches; with ``chained`` false, every other device needs the passphrase to take it."""
        remote = self._remote()
        return self._adopt(
            await self.service.run(self.service.device.rotate_key, remote, passphrase, chained=chained)
        )

    async def change_passphrase(self, old: str, new: str) -> KeyStatus:
        """Wrap the keys under ``new``; nothing in the log is encrypted again."""
        remote = self._remote()
        return self._adopt(await self.service.run(self.service.device.change_passphrase, remote, old, new))


def _settle(task: asyncio.Future[Any]) -> None:
    """Mark a background refresh's exception seen (the window may have closed under it)."""
    if not task.cancelled():
        task.exception()
