"""Opening databases: URLs, plain paths, and the SQLite settings the engine relies on.

Also where driver errors become sentences (:func:`explain`): what a person reads
when a database is not a database, is damaged, read-only, busy or unreachable. And
how SQLite waits for a lock another program holds: it says so at once (a notice on
the ``syncengine`` logger, which the command line prints), waits in short steps so
that Ctrl-C is heard, and gives up after the busy timeout. A front end that wants a
thread's statements stopped at once (Ctrl-C) calls :func:`interrupt_others`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shlex
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from .errors import ConfigurationError

log = logging.getLogger("syncengine")

NOTICE = {"syncengine_notice": True}
"""``extra`` of log records a person should see even without ``-v`` (the command line prints them)."""

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_BACKENDS = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")  # the databases the engine runs on

# A sync touches a device's log, row registers and tables at random keys: with SQLite's
# default 2 MiB page cache each batch rereads them from the file. 16 MiB holds a 100,000-row
# device's working set; more only grows a large sync's memory (the page cache is most of
# it: 64 MiB made a 200,000-entry sync peak at 204 MB). A shared-log file is read and
# appended in order: SQLite's default serves it (SHARED_LOG_PAGE_CACHE_MIB).
DEVICE_PAGE_CACHE_MIB = 16
SHARED_LOG_PAGE_CACHE_MIB = 2
_wait_ms = 30000  # how long a write waits for a lock another program holds (set_lock_wait)
_FIRST_TRY_MS = 500  # a lock held longer than this is another program's business: say so, then wait
_STEP_MS = 100  # waiting in steps this long keeps Ctrl-C heard


def set_lock_wait(seconds: float) -> None:
    """Set how long SQLite databases opened from now on wait for a write lock another program holds."""
    global _wait_ms
    _wait_ms = max(0, int(seconds * 1000))


def to_url(target: str | sa.URL) -> sa.URL:
    """Return the SQLAlchemy URL for ``target``; a plain path means an SQLite file."""
    if isinstance(target, sa.URL):
        return target
    if "://" not in target:
        return sa.URL.create("sqlite+pysqlite", database=str(Path(target).expanduser()))
    scheme = target.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        raise ConfigurationError(
            f"{target} is a server's URL, not a database: give a path to an SQLite file or a database URL here"
        )
    try:
        url = sa.make_url(target)
    except sa.exc.ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in _BACKENDS:
        shown = target if url is None else url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"{shown} is neither a path nor a database URL syncengine knows ({scheme}:// is not one): "
            "give a path to an SQLite file, or a URL that starts with sqlite:///, postgresql://, mysql:// or mariadb://"
        )
    if url.drivername in _DRIVERS:
        url = url.set(drivername=_DRIVERS[url.drivername])
    return url


def create_engine(
    target: str | sa.URL,
    *,
    busy_timeout_ms: int | None = None,
    page_cache_mib: int = DEVICE_PAGE_CACHE_MIB,
    **kwargs: Any,
) -> sa.Engine:
    """Create an engine; SQLite gets a busy timeout and ``BEGIN IMMEDIATE`` transactions.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock when a transaction starts, so two
    processes wait for each other (up to the timeout, default :func:`set_lock_wait`'s)
    instead of failing with "database is locked" when a read turns into a write.
    Each SQLite connection keeps up to ``page_cache_mib`` of pages in memory.
    """
    url = to_url(target)
    try:
        engine = sa.create_engine(url, **kwargs)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigurationError(
            f"cannot use database URL {url.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    except ImportError as exc:
        raise ConfigurationError(
            f"the driver for {url.drivername} is not installed ({exc.name}); "
            "install syncengine[postgres] or syncengine[mysql]"
        ) from exc
    if url.get_backend_name() == "sqlite":
        wait_ms = _wait_ms if busy_timeout_ms is None else int(busy_timeout_ms)
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            parent = Path(url.database).expanduser().parent
            if not parent.is_dir():
                raise ConfigurationError(f"folder {str(parent)!r} does not exist (for SQLite file {url.database!r})")

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute(f"PRAGMA busy_timeout = {wait_ms}")  # first: the next may wait
            dbapi_conn.execute(f"PRAGMA cache_size = -{page_cache_mib * 1024}")
            if _interrupts[0]:
                # asked for by a front end that stops work on Ctrl-C (the command line); the handler takes
                # the GIL now and then, which a process with a busy UI thread or a thread pool must not pay
                dbapi_conn.set_progress_handler(_stop_asked, 10000)

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # reads (connections marked "syncengine_read") need no write lock: they never wait for a sync
            if conn.get_execution_options().get("syncengine_read", False):
                conn.exec_driver_sql("BEGIN")
                return
            raw = conn.connection.dbapi_connection
            assert raw is not None
            try:
                _begin_immediate(raw, where(engine.url), 0 if _nowait.depth else wait_ms)
            except sqlite3.Error as exc:  # as SQLAlchemy would have raised it
                raise sa.exc.DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc

    if url.get_backend_name() in ("mysql", "mariadb"):

        @event.listens_for(engine, "connect")
        def _utc(dbapi_conn: Any, _record: Any) -> None:
            # MariaDB reads and writes a TIMESTAMP column in the session's time zone: the
            # engine's are UTC wall times (see syncengine.values), whatever the server's zone
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET time_zone = '+00:00'")

    if url.get_backend_name() != "sqlite" and _interrupts[0]:
        # PostgreSQL and MariaDB statements cannot be stopped from inside like SQLite's: keep
        # which thread holds which connection, so interrupt_others can cancel their statements
        @event.listens_for(engine, "checkout")
        def _out(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            with _running_lock:
                _running[id(dbapi_conn)] = (threading.get_ident(), dbapi_conn, engine)

        @event.listens_for(engine, "checkin")
        def _in(dbapi_conn: Any, _record: Any) -> None:
            with _running_lock:
                _running.pop(id(dbapi_conn), None)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(*_args: Any) -> None:
            # after interrupt_others, no new statement starts either (as SQLite's progress handler does)
            if _stop_asked():
                raise StatementInterrupted("interrupted")

    return engine


def _begin_immediate(raw: Any, name: str, wait_ms: int) -> None:
    """``BEGIN IMMEDIATE``; a lock held by another program is said at once and waited for in steps."""
    first = min(wait_ms, _FIRST_TRY_MS)
    raw.execute(f"PRAGMA busy_timeout = {first}")
    try:
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or wait_ms <= first:
                raise
        log.warning(
            "%s is busy: another program (or another sync of it) is writing to it; waiting for it (up to %g s)",
            name,
            wait_ms / 1000,
            extra=NOTICE,
        )
        deadline = time.monotonic() + (wait_ms - first) / 1000
        raw.execute(f"PRAGMA busy_timeout = {_STEP_MS}")
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                log.info("%s is free again", name)
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(f"database is locked (waited {wait_ms / 1000:g} s)") from exc
    finally:
        raw.execute(f"PRAGMA busy_timeout = {wait_ms}")


def _is_locked(exc: BaseException) -> bool:
    text = str(exc)
    return "database is locked" in text or "database is busy" in text


def where(url: sa.URL) -> str:
    """How messages name a database: an SQLite file by its path, anything else by its URL without a password."""
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(url.database)
    return url.render_as_string(hide_password=True)


def as_argument(url: sa.URL) -> str:
    """A database as a command names it, ready to paste: :func:`where`, in double quotes when the shell needs them.

    Double quotes, because messages put a whole command in single quotes.
    """
    text = where(url)
    if shlex.quote(text) == text:
        return text
    return '"' + "".join("\\" + c if c in '"\\$`' else c for c in text) + '"'


def describe(engine: sa.Engine) -> str:
    """Return the engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


# -- stopping work at once (Ctrl-C) ------------------------------------------------------

_stop = threading.Event()
_stop_keeper: list[int] = [0]  # the thread whose statements go on (the one that asked)
_interrupts = [False]  # whether SQLite connections opened from now on can be interrupted


def allow_interrupts() -> None:
    """Make SQLite connections opened from now on stoppable by :func:`interrupt_others` (call it first)."""
    _interrupts[0] = True


class StatementInterrupted(Exception):
    """A statement on PostgreSQL or MariaDB refused to start after :func:`interrupt_others`."""


class _Depth(threading.local):
    depth = 0


_shielded = _Depth()
_nowait = _Depth()
_shielded_threads: dict[int, int] = {}  # the same as _shielded, seen from other threads (server databases)
_running: dict[int, tuple[int, Any, sa.Engine]] = {}  # server connections checked out: thread, connection, engine
_running_lock = threading.Lock()


def _stop_asked() -> int:
    """SQLite's progress handler: non-zero aborts the running statement ("interrupted")."""
    if _stop.is_set() and threading.get_ident() != _stop_keeper[0] and not _shielded.depth:
        return 1
    return 0


def interrupt_others() -> None:
    """Abort, from now on, every SQLite statement of this process run by another thread than the caller.

    Only connections opened after :func:`allow_interrupts` can be stopped. For a
    front end stopping work at once (Ctrl-C): the statement fails with
    "interrupted", its transaction rolls back, nothing is half-written. Statements
    inside :func:`uninterruptible` go on.
    """
    _stop_keeper[0] = threading.get_ident()
    _stop.set()
    with _running_lock:
        running = [r for r in _running.values() if r[0] != _stop_keeper[0] and not _shielded_threads.get(r[0])]
    for _thread, dbapi_conn, engine in running:
        with contextlib.suppress(Exception):  # a statement that just ended, a connection already closed
            _cancel_statement(dbapi_conn, engine)


def _cancel_statement(dbapi_conn: Any, engine: sa.Engine) -> None:
    """Cancel the statement running on a PostgreSQL or MariaDB connection (its transaction then rolls back)."""
    if engine.dialect.name == "postgresql":
        cancel = getattr(dbapi_conn, "cancel_safe", None) or dbapi_conn.cancel
        cancel()
        return
    thread_id = dbapi_conn.thread_id()  # MariaDB: KILL QUERY from a connection of its own
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    other = engine.dialect.dbapi.connect(*cargs, **cparams)  # type: ignore[union-attr]
    try:
        with other.cursor() as cursor:
            cursor.execute(f"KILL QUERY {int(thread_id)}")
    finally:
        other.close()


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Keep this thread's statements going through :func:`interrupt_others` (short bookkeeping that must land)."""
    me = threading.get_ident()
    _shielded.depth += 1
    _shielded_threads[me] = _shielded.depth
    try:
        yield
    finally:
        _shielded.depth -= 1
        _shielded_threads[me] = _shielded.depth


@contextlib.contextmanager
def nowait() -> Iterator[None]:
    """Write transactions begun by this thread inside the block fail at once when another holds the lock."""
    _nowait.depth += 1
    try:
        yield
    finally:
        _nowait.depth -= 1


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what caused it, the driver's error first (at most ten deep)."""
    for _ in range(10):
        if exc is None:
            return
        yield exc
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__


def is_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is a statement stopped by :func:`interrupt_others`, or Ctrl-C."""
    return any(_interrupted(cause) for cause in _causes(exc))


def _interrupted(exc: BaseException) -> bool:
    if isinstance(exc, (KeyboardInterrupt, StatementInterrupted)):
        return True
    if isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted":
        return True
    if getattr(exc, "sqlstate", None) == "57014":  # PostgreSQL: the statement was cancelled
        return True
    return type(exc).__module__.startswith("pymysql") and bool(exc.args) and exc.args[0] == 1317  # MariaDB: KILL QUERY


def is_lock_wait(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is an SQLite database that stayed locked for the whole wait."""
    return any(isinstance(cause, sqlite3.OperationalError) and _is_locked(cause) for cause in _causes(exc))


# -- driver errors in our words ----------------------------------------------------------


def driver_message(exc: BaseException) -> str:
    """The driver's own message, on one line, without SQLAlchemy's SQL, parameters and link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    code_and_text: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(code_and_text) == 2 and isinstance(code_and_text[0], int) and isinstance(code_and_text[1], str):
        text = code_and_text[1]  # PyMySQL's (1091, "Can't DROP …"): the message without the tuple around it
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if first.startswith("(") and ") " in first:  # "(sqlite3.OperationalError) database is locked"
        first = first.split(") ", 1)[1]
    return first.rstrip(".")


def explain(exc: BaseException, name: str, *, role: str = "database") -> str:
    """One sentence saying what is wrong with the database ``name`` and what to do, from a driver error.

    ``role`` is what the database is to the engine: ``"device database"``,
    ``"shared log"`` or plain ``"database"``; it chooses the advice.
    """
    message = driver_message(exc)
    low = message.lower()
    the = f"the {role} {name}" if role != "database" else name
    if "file is not a database" in low or "not a database" in low:
        if role == "shared log":
            return (
                f"the shared log {name} is not an SQLite database, or it is damaged (truncated or overwritten): "
                "restore it from a backup; if it is lost, point every device at a new shared log "
                "(each shares its whole state there)"
            )
        if role == "device database":
            return (
                f"{name} is not an SQLite database, or it is damaged: give the path of a device database "
                "(one that 'syncengine init' prepared), or restore it from a backup"
            )
        return f"{name} is not an SQLite database, or it is damaged: check the path, or restore it from a backup"
    if "malformed" in low or "corrupt" in low:
        return f"{the} is damaged (SQLite: {message}): restore it from a backup"
    if "readonly" in low or "read-only" in low:
        return (
            f"{the} is read-only, and this needs to write to it: check the permissions of the file "
            "and of its folder (SQLite writes a journal beside it)"
        )
    if _is_locked(exc) or "database is locked" in low:
        return (
            f"{the} stayed busy: another program holds its write lock, most likely an open transaction "
            "(a sqlite3 shell, a database browser or a script that has not committed); end it and try again"
        )
    if "unable to open database file" in low:
        return f"cannot open {the}: check that the file and its folder exist and can be written"
    if "disk i/o error" in low:
        return f"reading or writing {the} failed (disk I/O error): check the disk"
    if "database or disk is full" in low:
        return f"{the} cannot grow: the disk is full"
    if low == "interrupted":
        return "interrupted"
    missing = _missing_database(message)
    if missing is not None:
        return f"the database {missing} does not exist on {_server_of(name)}: create it, or check the URL"
    if "connection refused" in low or "could not connect" in low or "can't connect" in low:
        return f"cannot reach {the}: nothing answers at {_server_of(name)} (is the database server running?)"
    user = _refused_user(message)
    if user is not None:
        return f"{_server_of(name)} refused the user {user} (no such user, or a wrong password): check the URL"
    if "does not exist" in low and ("database" in low or "role" in low):
        return f"cannot use {the}: {message}"
    return f"{the} failed: {message}"


def _refused_user(message: str) -> str | None:
    """The user a server would not let in (PostgreSQL's missing role or failed password, MariaDB's 1045)."""
    found = (
        re.search(r'role "([^"]+)" does not exist', message)
        or re.search(r'password authentication failed for user "([^"]+)"', message)
        or re.search(r"Access denied for user '([^']+)'", message)
    )
    return found.group(1) if found else None


def _missing_database(message: str) -> str | None:
    """The database a server says it does not have (PostgreSQL, MariaDB/MySQL error 1049), from its message."""
    found = re.search(r'database "([^"]+)" does not exist', message) or re.search(
        r"Unknown database '([^']+)'", message
    )
    return found.group(1) if found else None


def _server_of(name: str) -> str:
    """``host:port`` of the database URL ``name`` (as :func:`where` renders it), or the URL itself."""
    try:
        url = sa.make_url(name)
    except sa.exc.ArgumentError:
        return name
    if not url.host:
        return name
    default = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}.get(url.get_backend_name())
    port = url.port or default
    return f"{url.host}:{port}" if port else url.host
