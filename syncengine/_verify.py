"""Proving that devices are in step: publish this device's digest, compare it with the others' at the same position.

A device's *position* is the shared-log sequence number its state reflects: every
batch up to it is integrated and none after it, which holds when nothing is
unshared or pending here and nothing this device pushed lies beyond its cursor.
Two devices at the same position have merged the same entries, so their synced
tables must hold the same rows (see the convergence argument in
:mod:`syncengine.reconcile._state`); a digest (:mod:`syncengine.core._digest`)
that differs names the tables, and the buckets name the keys.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from . import values
from .core import TableDigest, differing
from .crypto import Keys, Unreadable, keys_for_sync
from .model import PK, PublishedState, SyncReport
from .remote import SharedLog, StateBoard
from .store import DeviceStore, LogState, Tx

log = logging.getLogger("syncengine")

AUTO_PUBLISH_ROWS = 50_000
"""A sync publishes the device's digest by itself when its synced tables hold at most this many rows."""
AUTO_PUBLISH_SHARE = 0.02
"""... and spends at most this share of the time on it: a digest that took d seconds is published
again only d / AUTO_PUBLISH_SHARE seconds later (every sync for a small table, every few seconds at
50,000 rows), so a device syncing in a loop does not spend its time hashing its tables."""

Comparison = Literal["same", "differs", "not comparable"]


@dataclass(frozen=True, slots=True)
class DeviceComparison:
    """How another device's last published state compares with this one's."""

    device_id: str
    name: str
    position: int | None
    state: Comparison

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {"device_id": self.device_id, "name": self.name, "position": self.position, "state": self.state}


@dataclass(frozen=True, slots=True)
class Difference:
    """Where this device and another differ: a table, and this device's keys in the differing buckets (up to a limit)."""

    device_id: str
    table: str
    keys: tuple[PK, ...]
    more: int = 0
    """Keys in those buckets left out by the limit."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints (a one-column key as its value)."""
        keys = [values.encode(k[0] if len(k) == 1 else list(k)) for k in self.keys]
        return {"device_id": self.device_id, "table": self.table, "keys": keys, "more": self.more}


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of :meth:`syncengine.Device.verify`."""

    in_step: bool
    position: int | None
    devices: tuple[DeviceComparison, ...]
    differences: tuple[Difference, ...]
    reason: str | None = None
    """Why nothing could be compared (None when something was)."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "in_step": self.in_step,
            "position": self.position,
            "devices": [d.as_json() for d in self.devices],
            "differences": [d.as_json() for d in self.differences],
            "reason": self.reason,
        }


def position_of(tx: Tx) -> int | None:
    """The log position this device's state reflects, or None when it reflects none exactly (see the module)."""
    counts = tx.counts()
    if any(counts.get(state, 0) for state in (LogState.CAPTURED, LogState.UNSHARED, LogState.PENDING)):
        return None
    if tx.setting("log") is None:
        return None
    cursor = int(tx.setting("cursor", 0))
    pushed = tx.setting("pushed")
    if pushed is not None and pushed > cursor:
        return None
    return cursor


def publish(
    store: DeviceStore,
    device_id: str,
    remote: SharedLog,
    *,
    most_rows: int | None = None,
    now: float | None = None,
    keys: Keys | None = None,
) -> int | None:
    """Publish this device's digest at its position; return the position (None: nothing published).

    With ``most_rows`` (a sync publishing by itself), only when the synced tables hold
    at most that many rows, and within the time budget of :data:`AUTO_PUBLISH_SHARE`
    (``now`` is the wall clock, read by the caller).
    """
    if not isinstance(remote, StateBoard):
        return None
    with store.read() as tx:
        position = position_of(tx)
        if position is None:
            return None
        if most_rows is not None:
            last = tx.setting("digest_published", None)
            if last is not None and now is not None and now - last["at"] < last["seconds"] / AUTO_PUBLISH_SHARE:
                return None
            if tx.synced_rows() > most_rows:
                return None
        started = time.perf_counter()
        digest = tx.digest()
        seconds = time.perf_counter() - started
    remote.publish_state(device_id, position, _sealed(keys, digest, device_id, position))
    if now is not None:
        with store.begin() as tx:
            tx.set_setting("digest_published", {"at": now, "seconds": round(seconds, 6), "position": position})
    log.debug("published the state at position %d", position)
    return position


def compare(
    store: DeviceStore,
    device_id: str,
    remote: SharedLog,
    *,
    limit: int = 20,
) -> Verification:
    """Publish this device's digest and compare it with every other device's at the same position."""
    if not isinstance(remote, StateBoard):
        return Verification(True, None, (), (), reason="this shared log keeps no digests, so nothing can be compared")
    with store.read() as tx:
        position = position_of(tx)
        mine = tx.digest()
    if position is None:
        reason = "this device has writes not yet shared or entries not yet applied: sync it, then verify"
        return Verification(False, None, (), (), reason=reason)
    keys = keys_for_sync(store, remote)
    remote.publish_state(device_id, position, _sealed(keys, mine, device_id, position))
    names = {d.device_id: d.name for d in remote.devices()}
    published = {p.device_id: p for p in remote.states()}
    devices: list[DeviceComparison] = []
    differences: list[Difference] = []
    for other, name in names.items():
        if other == device_id:
            continue
        state = published.get(other)
        if state is None or state.position != position:
            devices.append(DeviceComparison(other, name, state.position if state else None, "not comparable"))
            continue
        if keys is not None:
            try:
                state = dataclasses.replace(state, digest=keys.open_state(state.digest, other, state.position))
            except Unreadable as exc:
                log.warning("cannot compare with device %s: %s", other, exc)
                devices.append(DeviceComparison(other, name, state.position, "not comparable"))
                continue
        found = _differences(store, other, mine, state, limit)
        devices.append(DeviceComparison(other, name, position, "differs" if found else "same"))
        differences += found
    in_step = not differences
    return Verification(in_step, position, tuple(devices), tuple(differences))


def _sealed(keys: Keys | None, digest: Mapping[str, TableDigest], device_id: str, position: int) -> dict[str, Any]:
    """A digest as published: as it is, or sealed when the device encrypts (table names are data too)."""
    plain = {t: d.as_json() for t, d in digest.items()}
    return plain if keys is None else keys.seal_state(plain, device_id, position)


def _differences(
    store: DeviceStore, other: str, mine: Mapping[str, TableDigest], state: PublishedState, limit: int
) -> list[Difference]:
    try:
        theirs = {t: TableDigest.from_json(d) for t, d in state.digest.items()}
    except (ValueError, AttributeError):
        return [Difference(other, table, ()) for table in mine]
    out = []
    for table, buckets in differing(mine, theirs).items():
        keys: Sequence[PK] = ()
        if table in store.catalog and buckets:
            with store.read() as tx:
                keys = tx.keys_in(table, set(buckets))
        out.append(Difference(other, table, tuple(keys[:limit]), max(0, len(keys) - limit)))
    return out


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :meth:`syncengine.Device.repair` did."""

    captured: int
    """Rows the tables held that sync had never seen (written while capture was off), now shared as inserts."""
    restated: int
    """Rows shared again with the versions they have, so a device that missed them takes them."""
    differences: tuple[Difference, ...]
    """What ``verify`` found before the repair (empty when it repaired everything without comparing)."""
    report: SyncReport
    """The sync that shared the repair."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "captured": self.captured,
            "restated": self.restated,
            "differences": [d.as_json() for d in self.differences],
            "sync": self.report.as_json(),
        }
