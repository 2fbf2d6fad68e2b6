"""How far a sync has come, against the backlog known when it started: a bar, counts, a rate and the time left.

The engine's progress events say how many entries a stage has done, not how many
there are. The app knows the rest before the sync starts: what waits to be sent
(``Status.unshared``) and how far behind the shared log this device is (its
``DeviceInfo.behind``, from the last look at the devices). :class:`SyncProgress`
puts the two together. It is pure: the caller passes the clock's reading in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import format as fmt

STAGE_VERBS = {"receive": "Receiving", "share": "Sending", "reconcile": "Applying"}
WAITING = "waiting"
"""The stage a sync is at while it waits for another program's sync of the same database (``events.Waiting``)."""
MIN_SECONDS_FOR_RATE = 0.5  # a rate measured over less than this jumps about: not shown


@dataclass(frozen=True, slots=True)
class Reading:
    """What the bar and its label show: ``maximum`` 0 means "busy, amount unknown"."""

    value: int
    maximum: int
    text: str


@dataclass(slots=True)
class SyncProgress:
    """One sync's progress; feed it :meth:`update` with each progress event."""

    to_receive: int | None  # None: not known (the devices were never read)
    to_send: int
    started_at: float
    done: dict[str, int] = field(default_factory=dict)  # by stage: entries done so far

    @property
    def total(self) -> int:
        """The entries the sync is known to move: to receive (or received so far, when that was unknown) plus to send."""
        receiving = self.to_receive if self.to_receive is not None else self.done.get("receive", 0)
        return receiving + self.to_send

    @property
    def moved(self) -> int:
        return self.done.get("receive", 0) + self.done.get("share", 0)

    def update(self, stage: str, done: int, now: float) -> Reading:
        """Take one progress event (``done`` counts the stage's entries so far) and return what to show."""
        if stage == WAITING:  # before it begins: another program is syncing this database
            return Reading(0, 0, "Waiting for another program's sync of this database to finish…")
        self.done[stage] = max(done, self.done.get(stage, 0))
        verb = STAGE_VERBS.get(stage, stage.capitalize() or "Syncing")
        if stage == "reconcile":  # entries received earlier are applied: not part of the backlog
            return Reading(0, 0, f"{verb}… {fmt.plural(done, 'entry')}" if done else f"{verb}…")
        total = max(self.total, self.moved)
        if self.to_receive is None and stage == "receive":
            return Reading(0, 0, f"{verb}… {fmt.plural(done, 'entry')}" if done else f"{verb}…")
        if total <= 0:
            return Reading(1, 1, f"{verb}… nothing waits")
        parts = [f"{verb}… {self.moved:,} of {fmt.plural(total, 'entry')}"]
        seconds = now - self.started_at
        if seconds >= MIN_SECONDS_FOR_RATE and self.moved > 0:
            rate = self.moved / seconds
            parts.append(f"{rate:,.0f}/s")
            left = (total - self.moved) / rate
            if left >= 1:
                parts.append(f"about {fmt.duration(left)} left")
        return Reading(self.moved, total, " · ".join(parts))
