"""The hybrid logical clock that orders every entry.

A version is ``(wall_ms, counter, device_id)``. It is encoded as a fixed-width
string that sorts exactly like the tuple, so versions compare as plain strings in
Python and in SQL, and ties between devices break on the device id.

The clock never reads the wall clock itself: callers pass the wall time in (the
time a trigger recorded a write, or ``time.time()`` at the edge), which keeps the
reconciler and these functions pure and testable.

Rules (Kulkarni et al., "Logical Physical Clocks"):

* a local event gets ``max(last.wall, wall)``; the counter goes up when the wall
  part did not move;
* receiving a version ``r`` moves ``last`` to ``max(last, r)``, so whatever this
  device writes next orders after everything it has received, however slow its
  own wall clock is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WALL_DIGITS = 13  # hex digits for milliseconds: good until the year 10889
_COUNTER_DIGITS = 6

ZERO = ""
"""The version older than every real version (nothing seen yet)."""


@dataclass(frozen=True, slots=True, order=True)
class Timestamp:
    """One point of the hybrid logical clock."""

    wall_ms: int
    counter: int
    device_id: str

    def encode(self) -> str:
        """Return the sortable string form, e.g. ``018f2b3c4d5e6-000000-<device>``."""
        return _encode(self.wall_ms, self.counter, self.device_id)

    @classmethod
    def decode(cls, text: str) -> Timestamp:
        """Parse the string form; raise ``ValueError`` when it is not one."""
        wall, counter, device = text.split("-", 2)
        if len(wall) != _WALL_DIGITS or len(counter) != _COUNTER_DIGITS or not device:
            raise ValueError(f"not a version: {text!r}")
        return cls(int(wall, 16), int(counter, 16), device)


def _encode(wall_ms: int, counter: int, device_id: str) -> str:
    return f"{wall_ms:0{_WALL_DIGITS}x}-{counter:0{_COUNTER_DIGITS}x}-{device_id}"


_WELL_FORMED = re.compile(f"[0-9a-f]{{{_WALL_DIGITS}}}-[0-9a-f]{{{_COUNTER_DIGITS}}}-.")


def well_formed(version: str) -> bool:
    """Whether ``version`` is an encoded version (lower-case hex, so that versions sort as text)."""
    return _WELL_FORMED.match(version) is not None


def wall_of(version: str) -> int:
    """Return the wall-clock milliseconds stored in an encoded version."""
    return int(version[:_WALL_DIGITS], 16) if version else 0


@dataclass(slots=True)
class HybridClock:
    """The per-device clock state: the last wall time and counter handed out."""

    device_id: str
    wall_ms: int = 0
    counter: int = 0
    _prefix_wall: int = field(default=-1, repr=False, compare=False)
    _prefix: str = field(default="", repr=False, compare=False)

    def tick(self, wall_ms: int) -> str:
        """Return a new version for a local event seen at ``wall_ms``."""
        if wall_ms > self.wall_ms:
            self.wall_ms, self.counter = wall_ms, 0
        else:
            self.counter += 1
            if self.counter >= 16**_COUNTER_DIGITS:  # pragma: no cover - 16M events in one ms
                self.wall_ms, self.counter = self.wall_ms + 1, 0
        # no Timestamp object, and the wall part formatted once per millisecond: this is hot
        if self._prefix_wall != self.wall_ms:
            self._prefix_wall, self._prefix = self.wall_ms, f"{self.wall_ms:0{_WALL_DIGITS}x}-"
        return f"{self._prefix}{self.counter:0{_COUNTER_DIGITS}x}-{self.device_id}"

    def observe(self, version: str) -> None:
        """Move the clock past a version received from another device."""
        if not version:
            return
        seen = Timestamp.decode(version)
        if (seen.wall_ms, seen.counter) > (self.wall_ms, self.counter):
            self.wall_ms, self.counter = seen.wall_ms, seen.counter
