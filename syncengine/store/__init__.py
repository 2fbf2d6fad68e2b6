"""Everything stored in SQL: the client log inside a device database, and the SQL shared log."""

from ._shared import SqlSharedLog

__all__ = ["SqlSharedLog"]
