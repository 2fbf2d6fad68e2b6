"""Meeting a shared log: is it the one this device syncs with, and is this database the only one with its id?

At the start of every sync the device registers with the shared log, which
answers with the log's id and what it holds of this device id: the sequence
number and batch id of its newest batch. The device keeps, per log id, its
cursor and the sequence number of the newest batch it pushed there
(:class:`LogPlace`). Comparing the two tells:

* **a log it has not shared with** (new, recreated, a different one, the same
  team moved from a file to a server): what the device shared before is not in
  it. The device reads it from its start and shares its whole state there (each
  row's registers, with the versions they already have), so nothing is skipped.
* **another database with its device id** (a copied database file, or a backup
  restored over a database that synced after the backup was taken): the log holds
  a batch from this device id that this database did not push. Each such database
  would skip the others' batches as its own, forever. It takes a new device id,
  after sending what it had already prepared under the old one, and reads the log
  on from its cursor, so every batch the old id pushed from elsewhere reaches it
  (what came before the cursor is in the database already; replayed, an entry
  older than a decision made since would look concurrent with it). A copy that
  detects the other does the same, so both end with new ids and every write
  everywhere.

* **a log that lost batches this database sent** (the log's file restored from a
  backup, or its database rolled back): the log holds an older newest batch of this
  device id than the one this database recorded pushing, or none. What the device
  sent since the backup is gone from it, and its cursor may stand past batches other
  devices push into the restored log under the same numbers. It shares its whole state
  there again and reads the log from its start, as with a log it has not shared with.
* **a log that lost what this database read** (the same, seen by a device that only
  read after the backup): the log's registry records a pull cursor for this device
  lower than one it recorded before. Batches pushed into the restored log take the
  numbers of the lost ones, which the device's cursor stands past. It shares its whole
  state there again (what it received from lost batches is in the log again for every
  device) and reads the log on from the cursor the registry kept: up to there the
  restored log holds what the device read before.

A database synced before logs had ids adopts the first log it meets when the log
already knew the device (the upgrade), rather than reading it all again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..model import DeviceInfo


@dataclass(frozen=True, slots=True)
class LogPlace:
    """Where this device stands in one shared log."""

    cursor: int = 0
    pushed: int | None = None
    """The sequence number of the newest batch this database pushed there (None: none)."""
    marked: int | None = None
    """The newest pull cursor this database saw the log's registry record for it (None: none)."""


@dataclass(frozen=True, slots=True)
class Meeting:
    """What to do on meeting a shared log."""

    place: LogPlace
    """Where the device stands in the log from now on."""
    new_log: bool = False
    """The device has not shared with this log, or shared elsewhere since: share its whole state there."""
    copied: str | None = None
    """Why another database seems to hold this device id (then take a new one), or None."""
    restored: str | None = None
    """Why the log seems to have lost batches this database sent (then ``new_log`` and a cursor of 0), or None."""


def meet(
    info: DeviceInfo,
    current: str | None,
    places: Mapping[str, LogPlace],
    *,
    legacy_cursor: int | None,
    prepared: Collection[str],
) -> Meeting:
    """Decide what to do on meeting the log that answered ``info``.

    ``current`` is the log this device last synced with; ``places`` are the logs
    it synced with, by id; ``legacy_cursor`` the cursor of a device that synced
    before logs had ids (None: there is none); ``prepared`` the ids of batches
    this database prepared and may have pushed without recording it yet (a sync
    that died after a push). Coming back to a log it synced with before, after
    syncing with another, the device shares its state there too (what it shared
    elsewhere meanwhile is not there) but keeps its cursor.
    """
    log_id = info.log_id
    assert log_id is not None, "a log without an id is not met"
    place = places.get(log_id)
    theirs = info.last_push_seq
    if place is None and not places and legacy_cursor is not None and _knew(info):
        return Meeting(LogPlace(legacy_cursor, theirs))
    if place is None:
        # (a device's first log holds nothing it shared before: only its unshared writes, which go anyway)
        first = not places and legacy_cursor is None
        if theirs is not None and info.last_batch_id not in prepared:
            why = (
                f"the shared log holds batches of device {info.device_id} that this database never sent: "
                "it was copied from another device's database, or restored from a backup"
            )
            return Meeting(LogPlace(), new_log=not first, copied=why)
        return Meeting(LogPlace(), new_log=not first)
    if theirs is not None and (place.pushed is None or theirs > place.pushed) and info.last_batch_id not in prepared:
        why = (
            f"the shared log holds a newer batch of device {info.device_id} (number {theirs}) than this database "
            f"sent ({place.pushed or 'none'}): it was copied from another device's database, or restored from a backup"
        )
        return Meeting(place, new_log=log_id != current, copied=why)
    if place.pushed is not None and (theirs is None or theirs < place.pushed):
        holds = "none" if theirs is None else f"up to number {theirs}"
        why = (
            f"the shared log no longer holds batch number {place.pushed} that this database sent there (it holds "
            f"{holds} of device {info.device_id}): it was restored from a backup or rolled back"
        )
        return Meeting(LogPlace(0, theirs), new_log=True, restored=why)
    if place.marked is not None and info.last_pull_seq < place.marked:
        if info.last_pull_at is None and not info.last_pull_seq:  # registered afresh: forgotten there, or a log from before it
            why = (
                f"the shared log's registry had no record of device {info.device_id}, which had read up to batch "
                f"number {place.marked} there: it was forgotten in the log (devices --forget), or the log was "
                "restored from a backup taken before this device first synced"
            )
        else:
            why = (
                f"the shared log's registry says device {info.device_id} read up to batch number {info.last_pull_seq}, "
                f"but it had recorded {place.marked}: the log was restored from a backup or rolled back"
            )
        return Meeting(LogPlace(info.last_pull_seq, theirs), new_log=True, restored=why)
    if theirs is not None and (place.pushed is None or theirs > place.pushed):
        place = LogPlace(place.cursor, theirs, place.marked)  # pushed by this database; the sync that did so died before recording it
    return Meeting(place, new_log=log_id != current)


def _knew(info: DeviceInfo) -> bool:
    """Whether the log's registry knew the device before this sync (it had pulled or pushed)."""
    return info.last_pull_seq > 0 or info.last_push_seq is not None or info.last_push_at is not None
