"""``doctor``: what is wrong with a device and its shared log, each with the command that fixes it.

It looks and says; it changes nothing on the device (opening the device already
re-installs triggers a schema change broke, which it reports). With a remote it
asks the shared log what it knows of this device and the others, and compares
digests as ``verify`` does (publishing this device's own).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from . import crypto
from ._verify import compare
from .core import LogPlace
from .errors import RemoteError, RemoteUnavailable, SyncEngineError
from .remote import SharedLog
from .store import DeviceStore, LogState, missing_message

Severity = Literal["error", "warning", "info"]

FAR_BEHIND = 100_000
"""Entries another device has yet to pull before it counts as far behind."""
SILENT_DAYS = 14
"""Days without a push or a pull before a device counts as silent."""
CLOCK_OFF_MS = 60_000


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One thing wrong, and the command that fixes it (None when a person must look)."""

    code: str
    severity: Severity
    message: str
    fix: str | None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {"code": self.code, "severity": self.severity, "message": self.message, "fix": self.fix}


def diagnose(store: DeviceStore, device_id: str, db: str, remote: SharedLog | None, remote_arg: str) -> list[Diagnosis]:
    """Everything wrong with the device in ``store`` (``db`` is how commands name it) and its ``remote``."""
    found = _local(store, db)
    if remote is not None:
        found += _remote(store, device_id, db, remote, remote_arg)
    return found


def _local(store: DeviceStore, db: str) -> list[Diagnosis]:
    found = [
        Diagnosis(
            "table_missing",
            "error",
            missing_message(name, db),
            f'syncengine migrate {db} "ALTER TABLE … RENAME TO {name}"   (or create it again, then: syncengine init {db} --table {name})',
        )
        for name in store.missing
    ]
    with store.read() as tx:
        offset = tx.setting("clock_offset_ms")
        quarantined = tx.quarantined()
        conflicts = tx.conflicts()
        said = tx.setting("schema_changes", []) or []
    if offset is not None and abs(offset) > CLOCK_OFF_MS:
        found.append(
            Diagnosis(
                "clock_offset",
                "warning",
                f"this device's clock is {offset / 1000:+.0f} s off the server's; versions still order "
                "correctly, but times shown are off",
                "set the clock from the network (NTP)",
            )
        )
    if quarantined:
        reasons = Counter(q.reason for q in quarantined).most_common(3)
        listed = "; ".join(f"{n} × {reason}" for reason, n in reasons)
        found.append(
            Diagnosis(
                "quarantined",
                "warning",
                f"{_plural(len(quarantined), 'received entry', 'received entries')} could not be applied: {listed}",
                f"syncengine quarantine {db} --retry --all   (after fixing the cause; or --skip --all)",
            )
        )
    held = [c for c in conflicts if c.held]
    if held:
        kinds = ", ".join(f"{n} {kind}" for kind, n in Counter(c.kind for c in held).most_common())
        found.append(
            Diagnosis(
                "open_conflicts",
                "warning",
                f"{_plural(len(held), 'conflict waits', 'conflicts wait')} for a person ({kinds})",
                f"syncengine conflicts {db}   then   syncengine resolve {db} ID --take local|remote",
            )
        )
    for sentence in said:
        found.append(Diagnosis("schema_changed", "info", f"schema change handled: {sentence}", None))
    return found


def unopened(exc: SyncEngineError, db: str, remote_arg: str) -> Diagnosis:
    """What is wrong when the shared log could not even be opened, and the fix for it."""
    message = " ".join(str(exc).split())
    sync = f"syncengine sync {db} --remote {remote_arg}"
    if isinstance(exc, RemoteUnavailable):
        return Diagnosis("remote_unreachable", "error", message, f"{sync}   (when it is back)")
    if isinstance(exc, RemoteError) and exc.kind == "no_log":
        return Diagnosis("remote_unusable", "error", message, f"{sync}   (if the path is the one you meant)")
    if "needs a device token" in message:
        return Diagnosis("remote_unusable", "error", message, f"syncengine config {db} --token TOKEN")
    return Diagnosis("remote_unusable", "error", message, None)


def _remote(store: DeviceStore, device_id: str, db: str, remote: SharedLog, remote_arg: str) -> list[Diagnosis]:
    sync = f"syncengine sync {db} --remote {remote_arg}"
    try:
        devices = remote.devices()
    except RemoteUnavailable as exc:
        return [Diagnosis("remote_unreachable", "error", " ".join(str(exc).split()), f"{sync}   (when it is back)")]
    except RemoteError as exc:
        if exc.kind == "auth":
            fix = (
                "ask whoever runs the server for a new token (there: syncengine token create --remote LOG --user USER), "
                f"then: syncengine config {db} --token TOKEN"
            )
            return [Diagnosis("token_refused", "error", str(exc), fix)]
        return [Diagnosis("remote_error", "error", f"the shared log refused: {exc}", None)]
    found: list[Diagnosis] = []
    missing = crypto.problem(store, remote)
    if missing is not None:
        found.append(Diagnosis("no_key", "error", missing, f"syncengine key join {db}   (with the passphrase)"))
    mine = next((d for d in devices if d.device_id == device_id), None)
    now = time.time()
    for d in devices:
        if d.device_id == device_id:
            continue
        if d.behind is not None and d.behind > FAR_BEHIND:
            found.append(
                Diagnosis(
                    "device_behind",
                    "warning",
                    f"device {d.name} ({d.device_id}) has {d.behind} entries yet to pull",
                    f"sync {d.name}, or if it is gone: syncengine devices {db} --remote {remote_arg} --forget {d.device_id}",
                )
            )
        last = max((t for t in (d.last_push_at, d.last_pull_at, d.created_at) if t is not None), default=None)
        if last is not None and now - last > SILENT_DAYS * 86400:
            found.append(
                Diagnosis(
                    "device_silent",
                    "info",
                    f"device {d.name} ({d.device_id}) has not synced for {int((now - last) // 86400)} days",
                    f"sync {d.name}, or if it is gone: syncengine devices {db} --remote {remote_arg} --forget {d.device_id}",
                )
            )
    if mine is None:
        found.append(Diagnosis("not_registered", "info", "this device has not synced with this shared log yet", sync))
        return found
    if mine.log_id is not None:
        with store.read() as tx:
            met = tx.meet(mine)
            counts = tx.counts()
        waiting = counts.get(LogState.UNSHARED, 0) + counts.get(LogState.CAPTURED, 0)
        if met.copied:
            found.append(Diagnosis("copied", "error", met.copied, f"{sync}   (it takes a new device id by itself)"))
        elif met.restored:
            found.append(
                Diagnosis("log_restored", "warning", met.restored, f"{sync}   (it shares its whole state there again)")
            )
        elif met.new_log and met.place == LogPlace():
            found.append(
                Diagnosis(
                    "new_log",
                    "warning",
                    f"this device has not shared with this shared log ({mine.log_id}) yet, or shared elsewhere since",
                    f"{sync}   (it shares its whole state there)",
                )
            )
        elif met.new_log:
            found.append(
                Diagnosis(
                    "shared_elsewhere",
                    "warning",
                    "this device synced with another shared log since it last synced with this one",
                    f"{sync}   (it shares its whole state there)",
                )
            )
        if waiting:
            waits = _plural(waiting, "local write waits", "local writes wait")
            found.append(Diagnosis("unshared", "info", f"{waits} to be shared", sync))
    if any(d.code == "no_key" for d in found):
        return found  # nothing to compare without the key
    result = compare(store, device_id, remote)
    differing = {d.device_id for d in result.differences}
    for other in result.devices:
        if other.device_id in differing:
            tables = sorted({x.table for x in result.differences if x.device_id == other.device_id})
            found.append(
                Diagnosis(
                    "differs",
                    "error",
                    f"device {other.name} ({other.device_id}) holds other rows than this one at the same position, "
                    f"in {', '.join(tables)}",
                    f"syncengine repair {db} --remote {remote_arg}",
                )
            )
    return found


def _plural(n: int, one: str, many: str) -> str:
    """``1 received entry``, ``2 received entries`` (as ``_console.plural``, without the console's imports)."""
    return f"{n} {one if n == 1 else many}"
