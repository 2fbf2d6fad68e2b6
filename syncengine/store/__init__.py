"""Everything stored in SQL: the device database behind one interface, and the SQL shared log.

:class:`DeviceStore` opens transactions on a device database; each is a
:class:`Tx` whose methods are the engine's operations on it (registers, the log,
the outbox, conflicts, settings, history). No module outside this package
touches the engine's tables. :class:`SqlSharedLog` is the shared log in a SQL
database (an SQLite file, PostgreSQL or MariaDB).
"""

from ._apply import Executor, Failure, execute_plan
from ._catalog import SyncedTable, pk_key
from ._client import entry_of
from ._device import (
    Assign,
    DeviceStore,
    LoadedRow,
    LogState,
    Outgoing,
    Tx,
    install,
    load_catalog,
    missing_message,
    reflect,
)
from ._shared import SqlSharedLog, copy_log
from ._snapshot import read_page
from ._snapshot_file import can_write_file, registers_fit, write_file

__all__ = [
    "Assign",
    "DeviceStore",
    "Executor",
    "Failure",
    "LoadedRow",
    "LogState",
    "Outgoing",
    "SqlSharedLog",
    "SyncedTable",
    "Tx",
    "can_write_file",
    "copy_log",
    "entry_of",
    "execute_plan",
    "install",
    "load_catalog",
    "missing_message",
    "pk_key",
    "read_page",
    "reflect",
    "registers_fit",
    "write_file",
]
