"""One sync of a device database at a time, across processes.

Within a process :class:`~syncengine.device.Device` keeps a lock; this one is for
two programs (two ``syncengine sync`` commands, the Sync Manager and a script)
syncing the same database at once. Both would pull the same batches and report
them twice, and push what the other is pushing. A lock the operating system holds
for the process is released even when the process dies, so a crashed sync never
blocks the next:

* an SQLite file: an OS file lock on ``<file>-synclock`` beside it (``filelock``);
* PostgreSQL: a session advisory lock; MariaDB/MySQL: ``GET_LOCK``, both held by a
  connection of their own for the length of the sync.

A second sync waits for the first, saying so once (a notice on the ``syncengine``
logger), or with ``wait=False`` is refused with :class:`~syncengine.errors.DatabaseError`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

import sqlalchemy as sa

from ._db import NOTICE, where
from .errors import DatabaseError, SyncCancelled

log = logging.getLogger("syncengine")

_STEP = 0.1  # seconds between tries while waiting: a cancel is heard this soon
_PG_KEY = 0x53594E43  # "SYNC": the advisory lock key, per database
BUSY = "another sync of this database is running"


class _Held:
    """A lock: ``try_acquire`` once, ``release``."""

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class _FileLock(_Held):
    def __init__(self, path: str) -> None:
        from filelock import FileLock

        self._lock = FileLock(path + "-synclock", timeout=0)

    def try_acquire(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


class _ServerLock(_Held):
    """An advisory lock held by a connection of its own."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._conn: sa.Connection | None = None
        self._pg = engine.dialect.name == "postgresql"
        self._name = f"syncengine-sync:{engine.url.database}"[:64]

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        try:
            if self._pg:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_KEY}).scalar()
            else:
                got = conn.execute(sa.text("SELECT GET_LOCK(:n, 0)"), {"n": self._name}).scalar()
            conn.commit()  # the lock is the session's, not the transaction's
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_KEY})
            else:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": self._name})
            conn.commit()
        finally:
            conn.close()  # closing ends the session, which frees the lock anyway


def _lock_for(engine: sa.Engine) -> _Held | None:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or str(url.database).startswith("file:"):
            return None  # one process only (or a URI whose file we do not name): the device's own lock suffices
        return _FileLock(str(url.database))
    if engine.dialect.name in ("postgresql", "mysql", "mariadb"):
        return _ServerLock(engine)
    return None


@contextlib.contextmanager
def one_sync_at_a_time(
    engine: sa.Engine,
    *,
    wait: bool = True,
    cancel: threading.Event | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the database's sync lock for the block; wait for another process's sync first (or refuse).

    ``on_wait`` is told why, once, when the wait begins.
    """
    lock = _lock_for(engine)
    if lock is not None:
        try:
            got = lock.try_acquire()
        except OSError as exc:  # a folder we cannot write in: such a database cannot sync anyway, let it say so
            log.debug("no sync lock for %s: %s", where(engine.url), exc)
            lock, got = None, True
        except sa.exc.DBAPIError as exc:
            log.debug("no sync lock for %s: %s", where(engine.url), exc)
            lock, got = None, True
        if lock is not None and not got:
            if not wait:
                raise DatabaseError(f"{BUSY} ({where(engine.url)}): try again when it has finished", retryable=True)
            log.warning("%s (%s); waiting for it to finish", BUSY, where(engine.url), extra=NOTICE)
            if on_wait is not None:
                on_wait(f"{BUSY}; waiting for it to finish")
            stop = cancel or threading.Event()
            while not lock.try_acquire():
                if stop.wait(_STEP):
                    raise SyncCancelled(f"cancelled while waiting for {BUSY} to finish")
            log.info("the other sync of %s has finished", where(engine.url))
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
