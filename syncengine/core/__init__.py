"""The pure core around the reconciler: stamping local writes, settling conflicts, deciding them.

With :mod:`syncengine.reconcile` (received entries and row states in, a plan of
writes out) these functions hold every decision the engine makes. They take data
and return data: no SQL, no network, no clock or time reads (the caller passes
the hybrid clock, which it ticks at wall times the caller read). The store loads
what they need and writes what they return; ``syncengine.sync`` and
``syncengine.device`` put the two together.

* :func:`stamp`: captured local writes and their rows' registers → versioned
  entries (with the versions each was based on) and the registers after them.
* :func:`settlement`, :func:`with_decisions`, :func:`joined`, :func:`decided_before`,
  :func:`constraint_sides`, :func:`held_behind`: what received entries do to
  open conflicts (and to those decided automatically here).
* :func:`decide`: a conflict, its row and a person's choice → the change that
  shares the decision, and the row's writes and registers.
* :class:`TableDigest`, :func:`differing`: digests of the synced state, and
  where two devices' states differ.
* :func:`meet`: what the shared log says of this device, and where the device
  stands in the logs it knows → whether the log is new to it, and whether another
  database holds its device id.
"""

from ._decide import NO_VALUE, Choice, Decision, Row, Take, choose, decide
from ._digest import BUCKETS, TableDigest, bucket_of, differing, row_hash
from ._meet import LogPlace, Meeting, meet
from ._settle import (
    ConstraintSides,
    Settlement,
    constraint_sides,
    decided_before,
    held_behind,
    joined,
    last_writer,
    settlement,
    value_after,
    versions_of,
    with_decisions,
)
from ._stamp import Register, RowKey, Stamped, Write, base_of, created, stamp, writes_of

__all__ = [
    "BUCKETS",
    "NO_VALUE",
    "Choice",
    "ConstraintSides",
    "Decision",
    "LogPlace",
    "Meeting",
    "Register",
    "Row",
    "RowKey",
    "Settlement",
    "Stamped",
    "TableDigest",
    "Take",
    "Write",
    "base_of",
    "bucket_of",
    "choose",
    "constraint_sides",
    "decided_before",
    "created",
    "decide",
    "differing",
    "held_behind",
    "joined",
    "last_writer",
    "meet",
    "settlement",
    "row_hash",
    "stamp",
    "value_after",
    "versions_of",
    "with_decisions",
    "writes_of",
]
