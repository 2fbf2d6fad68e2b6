"""The shared log as the engine sees it: one typed seam, several implementations.

A shared log stores batches of serialized entries from many devices, in one order
that it alone assigns (``seq``, increasing, never reused), and keeps a registry of
devices. Devices pull after their own cursor, so no wall clock is ever compared.
Implementations: :class:`syncengine.store.SqlSharedLog` (SQLite or PostgreSQL),
:class:`syncengine.remote.MemorySharedLog` (tests), and the HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..model import DeviceInfo, PublishedState, PullResult, PushResult, StoredKeyring


@runtime_checkable
class SharedLog(Protocol):
    """Where devices exchange batches of entries."""

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Add the device to the registry, or update its name; return its record."""
        ...

    def devices(self) -> list[DeviceInfo]:
        """Return every device of this log's user, oldest first."""
        ...

    def push(
        self,
        device_id: str,
        batch_id: str,
        payload: bytes,
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> PushResult:
        """Append one batch. Pushing the same (device, batch id) again stores nothing new."""
        ...

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches with ``seq > after``, about ``limit`` entries at most.

        At least one batch is returned when any is there, however large.
        """
        ...

    def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record how far the device has pulled (for the registry's "behind")."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class DeviceRoll(Protocol):
    """A shared log whose registry can forget a device (one that is gone: a lost laptop, an abandoned id).

    Optional: without it ``forget_device`` is refused in a sentence. Forgetting keeps
    the device's batches (others still read them); it takes the device out of
    ``devices()`` and its published state out of ``states()``.
    """

    def forget_device(self, device_id: str) -> bool:
        """Take this user's device out of the registry; return whether it was there."""
        ...


@runtime_checkable
class StateBoard(Protocol):
    """A shared log that also keeps each device's latest digest of its synced state (for ``verify``).

    Optional: a shared log without these methods still syncs; ``verify`` then says
    it cannot compare.
    """

    def publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> None:
        """Keep ``digest`` as the device's state at log position ``position`` (replacing its previous one)."""
        ...

    def states(self) -> list[PublishedState]:
        """Every device's latest published state (this log's user's devices)."""
        ...


@runtime_checkable
class KeyBoard(Protocol):
    """A shared log that keeps its user's wrapped encryption keys (see :mod:`syncengine.crypto`).

    Optional: without it a log cannot be encrypted. The log never sees a key it can
    use: what it keeps is wrapped with a key derived from the user's passphrase.
    Once a user has a keyring, the log refuses a batch that is not encrypted.
    """

    def keyring(self) -> StoredKeyring | None:
        """The user's keyring, or None when the log is not encrypted."""
        ...

    def put_keyring(self, body: str, revision: int) -> StoredKeyring:
        """Store ``body`` as the keyring if its revision is still ``revision`` (0: none yet); return the new one.

        Raises :class:`~syncengine.errors.RemoteError` with ``kind="changed"`` when
        another device changed it first (read it again and retry).
        """
        ...
