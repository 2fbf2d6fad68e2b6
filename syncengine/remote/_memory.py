"""An in-memory shared log, for tests and experiments; it keeps nothing after exit."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import RemoteError, RemoteUnavailable
from ..model import SEALED, DeviceInfo, PublishedState, PullResult, PushResult, ReceivedBatch, StoredKeyring


class MemorySharedLog:
    """A :class:`SharedLog` held in a Python list; thread-safe; one user.

    Set ``offline = True`` to make every call fail with
    :class:`~syncengine.errors.RemoteUnavailable`, as an unreachable server would.
    """

    def __init__(self, *, user: str = "default") -> None:
        self.user = user
        self.offline = False
        self._lock = threading.Lock()
        self._batches: list[ReceivedBatch] = []
        self._ids: dict[tuple[str, str], int] = {}
        self._devices: dict[str, DeviceInfo] = {}
        self.log_id = uuid.uuid4().hex
        self._states: dict[str, PublishedState] = {}
        self._keyring: StoredKeyring | None = None

    url = "memory:"
    """Where this log is: in this process's memory."""

    def __repr__(self) -> str:
        return f"MemorySharedLog(user={self.user!r})"

    def _check(self) -> None:
        if self.offline:
            raise RemoteUnavailable("the in-memory shared log is offline")

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Add or rename a device."""
        self._check()
        with self._lock:
            info = self._devices.get(device_id)
            info = DeviceInfo(device_id, name, self.user, time.time()) if info is None else replace(info, name=name)
            self._devices[device_id] = info
            return self._described(info)

    def _described(self, info: DeviceInfo) -> DeviceInfo:
        own = [b for b in self._batches if b.device_id == info.device_id]
        last = own[-1] if own else None
        return replace(
            info,
            log_id=self.log_id,
            last_push_seq=last.seq if last else None,
            last_batch_id=last.batch_id if last else None,
        )

    def devices(self) -> list[DeviceInfo]:
        """Return the devices with how many entries each has yet to pull."""
        self._check()
        with self._lock:
            out = []
            for info in self._devices.values():
                behind = sum(
                    b.count for b in self._batches if b.seq > info.last_pull_seq and b.device_id != info.device_id
                )
                out.append(replace(self._described(info), behind=behind))
            return out

    def push(
        self, device_id: str, batch_id: str, payload: bytes, count: int, extra: Mapping[str, Any] | None = None
    ) -> PushResult:
        """Append once per (device, batch id)."""
        self._check()
        with self._lock:
            if device_id not in self._devices:
                raise RemoteError(f"device {device_id} is not registered")
            seq = self._ids.get((device_id, batch_id))
            if seq is not None:
                return PushResult(seq, duplicate=True)
            if self._keyring is not None and payload[: len(SEALED)] != SEALED:
                raise RemoteError(f"batch {batch_id} is not encrypted, and this log is", kind="encrypted")
            seq = len(self._batches) + 1
            now = time.time()
            self._batches.append(
                ReceivedBatch(seq, device_id, batch_id, bytes(payload), count, dict(extra) if extra else None, now)
            )
            self._ids[(device_id, batch_id)] = seq
            self._devices[device_id] = replace(self._devices[device_id], last_push_at=now)
            return PushResult(seq)

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``."""
        self._check()
        with self._lock:
            out: list[ReceivedBatch] = []
            total = 0
            for batch in self._batches[after:]:
                if batch.device_id == device_id:
                    continue
                if out and total + batch.count > limit:
                    return PullResult(out, out[-1].seq, True, log_id=self.log_id)
                out.append(batch)
                total += batch.count
            return PullResult(out, max(after, len(self._batches)), False, log_id=self.log_id)

    def publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> None:
        """Keep the device's digest."""
        self._check()
        with self._lock:
            self._states[device_id] = PublishedState(device_id, position, dict(digest), time.time())

    def states(self) -> list[PublishedState]:
        """Every device's latest digest."""
        self._check()
        with self._lock:
            return list(self._states.values())

    def keyring(self) -> StoredKeyring | None:
        """The user's wrapped keys, if the log is encrypted."""
        self._check()
        return self._keyring

    def put_keyring(self, body: str, revision: int) -> StoredKeyring:
        """Replace the keyring if it is still at ``revision`` (0: none yet)."""
        self._check()
        with self._lock:
            now = self._keyring
            if (now.revision if now is not None else 0) != revision:
                raise RemoteError("the keyring was changed by another device meanwhile", kind="changed")
            start = now.encrypted_from if now is not None else len(self._batches)
            self._keyring = StoredKeyring(body, revision + 1, start)
            return self._keyring

    def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record the device's cursor."""
        self._check()
        with self._lock:
            if device_id in self._devices:
                self._devices[device_id] = replace(
                    self._devices[device_id], last_pull_seq=seq, last_pull_at=time.time()
                )

    def forget_device(self, device_id: str) -> bool:
        """Take the device out of the registry (its batches stay); return whether it was there."""
        self._check()
        with self._lock:
            self._states.pop(device_id, None)
            return self._devices.pop(device_id, None) is not None

    def close(self) -> None:
        """Nothing to release."""
