"""Whether this device is in step with the others, and what is wrong with it, with the fix for each.

The *check* compares this device's synced tables with every other device's at the
same shared-log position (``Device.verify(remote, sync=False)``: the app runs it
right after its own sync, so it does not sync again). It reads every synced row, so
it runs in a worker thread like every engine call, and after a sync only while the
synced tables hold at most :data:`AUTO_CHECK_ROWS` rows (the limit under which the
engine publishes its own digest at each sync); a larger database is checked when
the person asks. The last result is kept in the device database (the setting
:data:`LAST_CHECK`), so it survives a restart.

*Findings* are ``Device.doctor``'s diagnoses, and what the last sync said that a
person may want to know (a schema change it handled, a new device id), and a
shared log that is missing. :class:`HealthService` also runs the actions that fix them; each
reads again whatever it may have changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

from syncengine import (
    ConfigurationError,
    Device,
    DeviceComparison,
    Diagnosis,
    Difference,
    RepairReport,
    SyncEngineError,
    SyncReport,
    Verification,
)

from .. import format as fmt
from .device import DeviceService
from .remote import Reachability

AUTO_CHECK_ROWS = 50_000
"""After a sync, the check runs by itself only while the synced tables hold at most this many rows."""
LAST_CHECK = "sync_manager.last_check"
"""The device setting that keeps the last check (:meth:`LastCheck.as_json`)."""
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class LastCheck:
    """One check's result and when it ran."""

    at: float
    verification: Verification

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at, "verification": self.verification.as_json()}

    @classmethod
    def from_json(cls, data: Any) -> LastCheck | None:
        """Read what :meth:`as_json` stored; None when it is missing or not understood."""
        try:
            v = data["verification"]
            devices = tuple(DeviceComparison(d["device_id"], d["name"], d["position"], d["state"]) for d in v["devices"])
            differences = tuple(
                Difference(d["device_id"], d["table"], tuple(_key(k) for k in d["keys"]), int(d.get("more", 0)))
                for d in v["differences"]
            )
            verification = Verification(bool(v["in_step"]), v["position"], devices, differences, v.get("reason"))
            return cls(float(data["at"]), verification)
        except (KeyError, TypeError, ValueError):
            return None


def _key(stored: Any) -> tuple[Any, ...]:
    return tuple(stored) if isinstance(stored, list) else (stored,)


def summary(check: LastCheck | None) -> tuple[str, str]:
    """Return (state, one line) for a check: state is ``same``, ``differs`` or ``unknown``."""
    if check is None:
        return "unknown", "Not checked yet"
    v = check.verification
    if v.reason and not v.devices:
        return "unknown", f"Not comparable: {v.reason}"
    if v.differences:
        names = {d.device_id: d.name for d in v.devices}
        parts = []
        for device_id in dict.fromkeys(d.device_id for d in v.differences):
            mine = [d for d in v.differences if d.device_id == device_id]
            tables = ", ".join(sorted({d.table for d in mine}))
            keys = sum(len(d.keys) + d.more for d in mine)
            counted = f" ({keys:,} key{'s' if keys != 1 else ''})" if keys else ""
            parts.append(f"{names.get(device_id, device_id[:8])} in {tables}{counted}")
        return "differs", "Differs from " + "; from ".join(parts)
    same = sum(d.state == "same" for d in v.devices)
    apart = sum(d.state == "not comparable" for d in v.devices)
    if same:
        text = f"In step with {_devices(same)}"
        return "same", text + (f"; {apart:,} not comparable" if apart else "")
    if apart:
        return "unknown", f"{_devices(apart)} not comparable (they synced before or after this one)"
    return "unknown", "No other device to compare with"


def _devices(n: int) -> str:
    return f"{n:,} device{'s' if n != 1 else ''}"


def details(check: LastCheck | None) -> str:
    """Return the lines under the summary: when, at which position, and each device's state."""
    if check is None:
        return "Press Check now to compare this device's tables with the other devices'."
    v = check.verification
    head = f"Checked {fmt.when(check.at)}" + (f" at log position {v.position:,}" if v.position is not None else "")
    lines = [head]
    for d in v.devices:
        where = "" if d.position is None or d.state != "not comparable" else f" (at position {d.position:,})"
        lines.append(f"{d.name}: {d.state}{where}")
    return "\n".join(lines)


def keys_text(check: LastCheck | None, limit: int = 10) -> str:
    """Return the keys that differ, for a tooltip."""
    if check is None:
        return ""
    lines = []
    for d in check.verification.differences:
        shown = ", ".join(fmt.key(k) for k in d.keys[:limit])
        more = len(d.keys) - limit + d.more
        lines.append(f"{d.table}: {shown}" + (f" and {more:,} more" if more > 0 else ""))
    return "\n".join(lines)


def from_report(report: SyncReport) -> list[Diagnosis]:
    """What a sync's report says that a person may want to see among the findings."""
    found = [Diagnosis("schema_changed", "info", f"schema change handled: {s}", None) for s in report.schema_changes]
    if report.identity_changed:
        found.append(Diagnosis("identity_changed", "info", f"this database took a new device id: {report.identity_changed}", None))
    if report.log_restored:
        found.append(
            Diagnosis(
                "log_restored",
                "warning",
                f"{report.log_restored}; this device shared its whole state there again and read it again",
                None,
            )
        )
    # (not report.log_created: the engine sets it on every sync through a log object that created its log)
    return found


def missing_log(location: str) -> Diagnosis:
    """The finding for a shared log that is not where the workspace says (never created without asking)."""
    return Diagnosis(
        "log_missing",
        "error",
        f"there is no shared log at {location}: this window works offline, and nothing is sent until one is there",
        None,
    )


class HealthService(QObject):
    """The last check and the findings of one device, and the actions that fix what they find."""

    changed = Signal()  # the check, its progress or the findings changed

    def __init__(self, service: DeviceService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.last: LastCheck | None = None
        self.checking = False
        self.note = ""  # why the check shown is not a fresh one (skipped, failed), or ""
        self.findings: list[Diagnosis] = []
        self.looked = False  # whether the findings have been read once
        self._from_sync: list[Diagnosis] = []  # what the last sync said
        self._done: set[tuple[str, str]] = set()  # findings acted on that the engine repeats until the next sync
        self._looking = False
        self._again: tuple[bool, bool] | None = None  # (automatic, compare) of a look asked for while one ran

    # -- reading ---------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the last check kept in the device, then the findings."""
        stored = await self.service.run(self.service.device.setting, LAST_CHECK)
        self.last = LastCheck.from_json(stored) if stored else None
        self.changed.emit()
        await self.look(automatic=True, compare=False)

    async def after_sync(self, report: SyncReport | None) -> None:
        """Check again after a sync (automatic: skipped on a large database)."""
        if report is None or report.cancelled:
            return
        self._from_sync = from_report(report)
        self._done.clear()  # the sync reported (and the engine forgot) what was acted on
        await self.look(automatic=True, compare=self.service.remote is not None)

    async def check_now(self) -> None:
        """Check whatever the size of the database (the person asked)."""
        await self.look(automatic=False, compare=True)

    async def look(self, *, automatic: bool, compare: bool) -> None:
        """Read the findings and, with ``compare``, check the state (in a worker thread).

        ``automatic`` skips the check, and the findings that need it, on a database
        larger than :data:`AUTO_CHECK_ROWS` rows. Asked again while a look runs (an
        automatic sync ended), it looks once more after that one instead of twice at once.
        """
        if self._looking:
            before = self._again
            self._again = (automatic, compare) if before is None else (before[0] and automatic, before[1] or compare)
            return
        self._looking = True
        asked: tuple[bool, bool] | None = (automatic, compare)
        try:
            while asked is not None and not self.service.closed:
                self._again = None
                await self._look_once(automatic=asked[0], compare=asked[1])
                asked = self._again
        finally:
            self._looking, self._again = False, None

    async def _look_once(self, *, automatic: bool, compare: bool) -> None:
        remote = self.service.remote
        # known offline: the findings say so without asking again; a check the person asked for tries anyway
        offline = automatic and self.service.reachability is Reachability.OFFLINE
        self.checking = compare and remote is not None
        self.changed.emit()
        try:
            verification, found, rows = await self.service.run(
                self._look, compare=compare, automatic=automatic, offline=offline
            )
        except SyncEngineError as exc:
            if compare:
                self.note = f"Could not check: {exc}"
            raise
        finally:
            self.checking = False
            self.looked = True
            self.changed.emit()
        if verification is not None:
            self.last = LastCheck(time.time(), verification)
            self.note = ""
        elif compare and remote is not None:
            self.note = (
                "Not checked: the shared log cannot be reached."
                if offline
                else f"Not checked after this sync: {rows:,} rows are too many to read at every sync. Press Check now."
            )
        if offline:
            found.insert(
                0,
                Diagnosis(
                    "remote_unreachable",
                    "error",
                    f"the shared log cannot be reached: {self.service.reachability_detail}",
                    None,
                ),
            )
        if self.service.reachability is Reachability.MISSING:
            found.insert(0, missing_log(fmt.location(self.service.workspace.remote)))
        self.findings = _sorted([f for f in [*found, *self._from_sync] if (f.code, f.message) not in self._done])
        self.looked = True
        self.changed.emit()

    def _look(self, *, compare: bool, automatic: bool, offline: bool) -> tuple[Verification | None, list[Diagnosis], int]:
        """Worker thread: (the check or None, the findings, the synced rows counted or 0)."""
        device, remote = self.service.device, self.service.remote
        rows = _synced_rows(device) if automatic and remote is not None else 0
        large = rows > AUTO_CHECK_ROWS
        names = {"db": fmt.location(self.service.workspace.db), "remote_arg": fmt.location(self.service.workspace.remote)}
        # doctor compares digests as verify does: with the remote, only when a check may read every row
        asked = remote if remote is not None and not offline and not large else None
        found = device.doctor(asked, **names)
        if not compare or remote is None or offline or large:
            return None, found, rows
        verification = device.verify(remote, sync=False)
        device.set_setting(LAST_CHECK, LastCheck(time.time(), verification).as_json())
        return verification, found, rows

    # -- acting -------------------------------------------------------------------------------

    async def retry_quarantined(self) -> str:
        """Apply every quarantined entry again; return what happened."""
        report = await self.service.retry_quarantined(None)
        status = self.service.status
        left = status.quarantined if status is not None else report.quarantined
        await self._after_action()
        if left:
            return f"Retried: {report.applied:,} applied, {left:,} still quarantined (see Pending changes for the reasons)."
        return f"Retried: {report.applied:,} applied; nothing is quarantined any more."

    async def refresh_schema(self) -> str:
        """Re-install the triggers of the synced tables; return what changed."""
        said = await self.service.run(self.service.device.refresh_schema)
        self._acted("schema_changed")
        await self._after_action()
        return "Triggers re-installed" + (": " + "; ".join(said) if said else " on every synced table.")

    async def repair(self) -> RepairReport:
        """Share again the rows that differ (and those sync never saw), then check again."""
        if self.service.remote is None:
            raise ConfigurationError("there is no remote to repair with")
        report = await self.service.run(self.service.device.repair, self.service.remote)
        await self.service.after_change()
        await self.look(automatic=True, compare=True)
        return report

    async def reset_identity(self) -> str:
        """Give the database a new device id; return it."""
        new = await self.service.run(self.service.device.reset_identity)
        self.last = None  # a check of the old id says nothing of the new one
        await self.service.run(self.service.device.set_setting, LAST_CHECK, None)
        self._acted("copied")
        await self.service.after_change()
        await self.look(automatic=True, compare=False)
        return new

    def _acted(self, code: str) -> None:
        self._done |= {(f.code, f.message) for f in self.findings if f.code == code}
        self._from_sync = [f for f in self._from_sync if f.code != code]

    async def _after_action(self) -> None:
        await self.service.after_change()
        await self.look(automatic=True, compare=False)


def _synced_rows(device: Device) -> int:
    """Count the rows of the synced tables (worker thread; one ``count(*)`` a table, far cheaper than a digest)."""
    return device.synced_rows()


def _sorted(found: Sequence[Diagnosis]) -> list[Diagnosis]:
    return sorted(found, key=lambda f: SEVERITY_ORDER.get(f.severity, 3))
