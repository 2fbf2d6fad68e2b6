"""The shared log on SQLAlchemy: an SQLite file for one household, PostgreSQL for many.

Sequence numbers come from one counter row that each append increments inside its
transaction. The row lock makes appends commit in ``seq`` order, so a reader that
saw ``seq = n`` can never later find a batch below ``n`` appear (which an
auto-increment column, whose values commit out of order, would allow). A pull
reads the counter first and only returns batches up to it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ..errors import RemoteError, RemoteUnavailable
from ..model import SEALED, DeviceInfo, PublishedState, PullResult, PushResult, ReceivedBatch, StoredKeyring, page_of

metadata = sa.MetaData()

_Payload = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

counter = sa.Table(
    "sharedlog_counter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

devices = sa.Table(
    "sharedlog_devices",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False, index=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_push_at", sa.Float, nullable=True),
    sa.Column("last_pull_at", sa.Float, nullable=True),
    sa.Column("last_pull_seq", sa.BigInteger, nullable=False, server_default="0"),
)

# One row per shared log: its id (made when the log is created, kept when the log is
# copied with ``copy_log``). A device keeps its cursor and what it has shared per log id.
meta = sa.Table(
    "sharedlog_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Each device's latest digest of its synced state, and the log position it reflects (see ``verify``).
states = sa.Table(
    "sharedlog_states",
    metadata,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False),
    sa.Column("published_at", sa.Float, nullable=False),
)

# Each user's wrapped encryption keys (see syncengine.crypto), opaque here; a user with a
# row is encrypted from ``encrypted_from`` on, and the log refuses that user's plain batches.
keyrings = sa.Table(
    "sharedlog_keyrings",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("body", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("encrypted_from", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

batches = sa.Table(
    "sharedlog_batches",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("batch_id", sa.String(64), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("payload", _Payload, nullable=False),
    sa.Column("extra", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("device_id", "batch_id", name="uq_sharedlog_batch"),
    sa.Index("ix_sharedlog_user_seq", "user_id", "seq"),
)
_DEVICE_SEQ = sa.Index("ix_sharedlog_device_seq", batches.c.device_id, batches.c.seq)


# Statements built once: building them per call cost more than running them.
_OWNER = sa.select(devices.c.user_id).where(devices.c.device_id == sa.bindparam("device"))
_TOP = sa.select(counter.c.seq).where(counter.c.id == 1)  # the last sequence number handed out
_LOG_ID = sa.select(meta.c.value).where(meta.c.key == "log_id")
# the tables that make a database a device database (see syncengine.store._schema)
_DEVICE_TABLES = ("syncengine_state", "syncengine_log")

# batches a device may pull: its user's, after its cursor, up to the counter, not its own
_MAY_PULL = (
    batches.c.user_id == sa.bindparam("user"),
    batches.c.seq > sa.bindparam("after"),
    batches.c.seq <= sa.bindparam("top"),
    batches.c.device_id != sa.bindparam("device"),
)
_PULL = sa.select(batches).where(*_MAY_PULL).order_by(batches.c.seq).limit(sa.bindparam("n"))
# The server's large pulls read their page's heads first (a blob's length needs none of
# its bytes), then the payloads a few at a time while the ones before are on their way.
_PULL_HEADS = (
    sa.select(
        batches.c.seq,
        batches.c.device_id,
        batches.c.batch_id,
        batches.c.count,
        batches.c.extra,
        batches.c.created_at,
        sa.func.length(batches.c.payload).label("size"),
    )
    .where(*_MAY_PULL)
    .order_by(batches.c.seq)
    .limit(sa.bindparam("n"))
)
_PULL_PAYLOADS = sa.select(batches.c.seq, batches.c.payload).where(*_MAY_PULL).order_by(batches.c.seq)


@functools.cache
def _driver_sql(statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, tuple[str, ...]]:
    """The statement's SQL for the driver, and the order of its (positional) parameters."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


def _payloads(conn: sa.Connection, bounds: dict[str, Any]) -> list[tuple[int, bytes]]:
    """The (seq, payload) of the batches within ``bounds`` (see _MAY_PULL), in order."""
    return [(int(seq), bytes(payload)) for seq, payload in conn.execute(_PULL_PAYLOADS, bounds)]


def _insert_once(engine: sa.Engine, probe: sa.Select[Any], insert: sa.Insert) -> None:
    """Run ``insert`` unless ``probe`` finds a row; another process doing it first is fine."""
    try:
        with engine.begin() as conn:
            if conn.execute(probe).first() is None:
                conn.execute(insert)
    except sa.exc.IntegrityError:
        pass


_PERMANENT = ("not a database", "malformed", "corrupt", "readonly", "read-only", "disk is full", "i/o error")


def _failure(
    exc: BaseException, engine: sa.Engine, doing: str | None = None, *, role: str = "shared log"
) -> RemoteError:
    """The RemoteError for a driver error of the shared log: what is wrong, in our words (see ``_db.explain``).

    A damaged, foreign or read-only file will not get better by itself, so only the
    rest (a server down, a lock held too long) is :class:`RemoteUnavailable`.
    """
    from .._db import explain, where

    if getattr(getattr(exc, "orig", exc), "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY_DBMOVED:
        # SQLite says "read-only" for a file moved or deleted under an open connection: it may come back
        return RemoteUnavailable(_moved_away(where(engine.url)))
    message = explain(exc, where(engine.url), role=role)
    if doing:
        message = f"cannot {doing}: {message}"
    low = str(getattr(exc, "orig", exc)).lower()
    if isinstance(exc, sa.exc.OperationalError | sqlite3.OperationalError) and not any(p in low for p in _PERMANENT):
        return RemoteUnavailable(message)
    return RemoteError(message)


def _moved_away(where: str) -> str:
    return f"the shared log file {where} was moved or deleted while in use: put it back at that path, or point the device's remote at its new place"


def _identity(path: str) -> tuple[int, int]:
    """Which file stands at ``path`` (its device and inode): a file put in its place is another."""
    found = os.stat(path)
    return found.st_dev, found.st_ino


def _engine(url: str | sa.URL) -> sa.Engine:
    from .._db import SHARED_LOG_PAGE_CACHE_MIB, create_engine

    return create_engine(url, page_cache_mib=SHARED_LOG_PAGE_CACHE_MIB)


class SqlSharedLog:
    """A :class:`~syncengine.remote.SharedLog` stored in an SQL database.

    ``user`` scopes everything: devices, batches and pulls of one user never see
    another's.
    """

    def __init__(
        self,
        url: str | sa.URL | sa.Engine,
        *,
        user: str = "default",
        clock: Any = time.time,
        create: bool = True,
    ) -> None:
        self.engine = url if isinstance(url, sa.Engine) else _engine(url)
        self.user = user
        self._clock = clock
        self._known_encrypted = False
        self.created = False
        """Whether opening created the log (it did not exist); a sync that reports it sets it back to False."""
        from .._db import where as name_of

        where = name_of(self.engine.url)
        path = self.engine.url.database if self.engine.url.get_backend_name() == "sqlite" else None
        if not create and path not in (None, "", ":memory:") and not os.path.exists(str(path)):
            raise RemoteError(f"there is no shared log at {path} (a sync creates one)", kind="no_log")
        try:
            with self.engine.connect() as conn:
                names = set(sa.inspect(conn).get_table_names())
            if names & set(_DEVICE_TABLES) and counter.name not in names:
                raise RemoteError(
                    f"{where} is a device database, not a shared log: "
                    "give the shared log's path or URL as the remote (a file of its own, or a server)",
                    kind="not_a_log",
                )
            if counter.name not in names:
                if not create:
                    raise RemoteError(f"there is no shared log at {where} (a sync creates one)", kind="no_log")
                others = sorted(n for n in names if not n.startswith("sharedlog_"))
                if path is not None and others:
                    # an SQLite file is a shared log of its own: one holding an application's tables is a
                    # mistyped path (a server's database may hold other tables beside the log: that is allowed)
                    raise RemoteError(
                        f"{where} is another program's database (it holds {', '.join(others[:3])}"
                        f"{', …' if len(others) > 3 else ''}), not a shared log: give a new file's path for "
                        "the shared log, or the existing log's",
                        kind="not_a_log",
                    )
                self.created = True
            metadata.create_all(self.engine, checkfirst=True)
            with self.engine.begin() as conn:
                _DEVICE_SEQ.create(conn, checkfirst=True)  # a log made before the index existed
            _insert_once(self.engine, _TOP, counter.insert().values(id=1, seq=0))
            _insert_once(self.engine, _LOG_ID, meta.insert().values(key="log_id", value=uuid.uuid4().hex))
        except sa.exc.DBAPIError as exc:
            raise _failure(exc, self.engine) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise RemoteError(f"cannot open the shared log at {where!r}: {exc}") from exc
        self._file = str(path) if path not in (None, "", ":memory:") and not str(path).startswith("file:") else None
        self._identity = _identity(self._file) if self._file else None

    @property
    def log_id(self) -> str:
        """This log's id: the database's, with the user's name unless it is the default user.

        Each user's batches are a log of their own, so a device that syncs as another
        user of the same database meets a log it has not shared with.
        """
        with self._begin() as conn:
            return self._log_id_in(conn)

    def _log_id_in(self, conn: sa.Connection) -> str:
        found = conn.execute(_LOG_ID).scalar()
        if found is None:
            raise RemoteError("the shared log has lost its id: it was emptied or replaced while in use", kind="no_log")
        return str(found) if self.user == "default" else f"{found}/{self.user}"

    @property
    def url(self) -> str:
        """Where this log is, for people and the history: an SQLite file's absolute path, else the URL without its password."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            database = str(url.database)
            return database if database.startswith("file:") else os.path.abspath(database)
        return url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlSharedLog({self.engine.url.render_as_string(hide_password=True)!r}, user={self.user!r})"

    def _begin(self) -> _translated:
        self._follow_file()
        return _translated(self.engine)

    def _follow_file(self) -> None:
        """Open an SQLite log anew when another file now stands at its path; say so when none does.

        Connections left open on a file renamed away or deleted would go on reading it
        (and refuse to write), while a person restored a backup or put a copy in its
        place: every later sync of a long-running program would fail, or read the old
        file. Connecting to a path with no file would create an empty log there.
        """
        if self._file is None:
            return
        try:
            now = _identity(self._file)
        except OSError as exc:
            raise RemoteUnavailable(_moved_away(self._file), kind="no_log") from exc
        if now != self._identity:
            self.engine.dispose()  # connections still in use close when they are given back
            self._identity = now

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Add the device (or rename it); a device id of another user is refused."""
        with self._begin() as conn:
            row = conn.execute(sa.select(devices).where(devices.c.device_id == device_id)).mappings().first()
            if row is None:
                conn.execute(
                    devices.insert().values(device_id=device_id, user_id=self.user, name=name, created_at=self._clock())
                )
            elif row["user_id"] != self.user:
                raise RemoteError(f"device {device_id} is registered to another user", kind="not_owned")
            elif row["name"] != name:
                conn.execute(devices.update().where(devices.c.device_id == device_id).values(name=name))
        return next(d for d in self.devices() if d.device_id == device_id)

    def devices(self) -> list[DeviceInfo]:
        """Return the user's devices, with how many entries each has yet to pull."""
        with self._begin() as conn:
            rows = (
                conn.execute(
                    sa.select(devices)
                    .where(devices.c.user_id == self.user)
                    .order_by(devices.c.created_at, devices.c.device_id)
                )
                .mappings()
                .all()
            )
            out = []
            for row in rows:
                behind = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(batches.c.count), 0)).where(
                        batches.c.user_id == self.user,
                        batches.c.seq > row["last_pull_seq"],
                        batches.c.device_id != row["device_id"],
                    )
                ).scalar_one()
                last = conn.execute(
                    sa.select(batches.c.seq, batches.c.batch_id)
                    .where(batches.c.device_id == row["device_id"], batches.c.user_id == self.user)
                    .order_by(batches.c.seq.desc())
                    .limit(1)
                ).first()
                out.append(
                    DeviceInfo(
                        device_id=row["device_id"],
                        name=row["name"],
                        user=row["user_id"],
                        created_at=row["created_at"],
                        last_push_at=row["last_push_at"],
                        last_pull_at=row["last_pull_at"],
                        last_pull_seq=int(row["last_pull_seq"]),
                        behind=int(behind),
                        log_id=self._log_id_in(conn),
                        last_push_seq=int(last.seq) if last is not None else None,
                        last_batch_id=last.batch_id if last is not None else None,
                    )
                )
            return out

    def push(
        self,
        device_id: str,
        batch_id: str,
        payload: bytes,
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> PushResult:
        """Append a batch once; a repeat of (device, batch id) returns the first seq."""
        with self._begin() as conn:
            self._check_device(conn, device_id)
            # Take the counter's row lock first: appends (and the duplicate check) run one at a time.
            conn.execute(counter.update().where(counter.c.id == 1).values(seq=counter.c.seq + 1))
            existing = conn.execute(
                sa.select(batches.c.seq).where(batches.c.device_id == device_id, batches.c.batch_id == batch_id)
            ).scalar()
            if existing is not None:
                return PushResult(int(existing), duplicate=True)
            if payload[: len(SEALED)] != SEALED and self._encrypted(conn):
                raise RemoteError(
                    f"the shared log refuses batch {batch_id}: it is not encrypted, and this user's log is "
                    "(on that device, run 'syncengine key join' with its database)",
                    kind="encrypted",
                )
            seq = int(conn.execute(_TOP).scalar_one())
            now = self._clock()
            conn.execute(
                batches.insert().values(
                    seq=seq,
                    user_id=self.user,
                    device_id=device_id,
                    batch_id=batch_id,
                    count=count,
                    payload=payload,
                    extra=orjson.dumps(dict(extra)).decode() if extra else None,
                    created_at=now,
                )
            )
            conn.execute(devices.update().where(devices.c.device_id == device_id).values(last_push_at=now))
            return PushResult(seq)

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``, about ``limit`` entries."""
        with self._begin() as conn:
            if conn.dialect.name == "sqlite":
                # rows come one at a time: a page stops reading at the first batch that does not fit
                return self._page(conn, device_id, after, limit, _PULL)[0]
            # Other drivers fetch a whole result at once, so reading payloads with the heads
            # would fetch every batch up to the limit: read the heads, then the page's payloads.
            head, _ = self._page(conn, device_id, after, limit, _PULL_HEADS)
            if not head.batches:
                return head
            bounds = {"user": self.user, "device": device_id, "after": after, "top": head.batches[-1].seq}
            payloads = dict(_payloads(conn, bounds))
            return dataclasses.replace(
                head, batches=[dataclasses.replace(b, payload=payloads[b.seq]) for b in head.batches]
            )

    def pull_head(self, device_id: str, after: int, limit: int) -> tuple[PullResult, list[int]]:
        """The same pull without its payloads (each ``b""``), and their sizes.

        The server answers large pulls so: the head first, then the payloads read a
        few at a time with :meth:`read_payloads` while the ones before are sent.
        Batches never change once appended, so those reads need no common transaction.
        """
        with self._begin() as conn:
            return self._page(conn, device_id, after, limit, _PULL_HEADS)

    def read_payloads(self, device_id: str, first: int, last: int) -> list[tuple[int, bytes]]:
        """The (seq, payload) of the batches from ``first`` to ``last`` the device may pull, in order."""
        bounds = {"user": self.user, "device": device_id, "after": first - 1, "top": last}
        if self.engine.dialect.name == "sqlite":
            return self._read_payloads_sqlite(bounds)
        with self._begin() as conn:
            return _payloads(conn, bounds)

    def _read_payloads_sqlite(self, bounds: dict[str, Any]) -> list[tuple[int, bytes]]:
        """:meth:`read_payloads` straight through the driver: one statement, consistent on its own.

        SQLite connections are left in autocommit mode (see ``create_engine``), so no
        transaction is needed; this is several times less CPU than going through a
        Core transaction, which counts when a large pull reads its payloads a few at a time.
        """
        self._follow_file()
        sql, names = _driver_sql(_PULL_PAYLOADS, self.engine.dialect)
        try:
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(sql, tuple(bounds[name] for name in names))
                return [(int(seq), bytes(payload)) for seq, payload in cursor.fetchall()]
            finally:
                raw.close()
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise _failure(exc, self.engine) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise RemoteError(f"the shared log failed: {exc}") from exc

    def _page(
        self, conn: sa.Connection, device_id: str, after: int, limit: int, query: sa.Select[Any]
    ) -> tuple[PullResult, list[int]]:
        """Read one pull's page with ``query`` (_PULL, or _PULL_HEADS without payloads) and its payloads' sizes."""
        self._check_device(conn, device_id)
        top = int(conn.execute(_TOP).scalar_one())
        window = {"user": self.user, "device": device_id, "after": after, "top": top}
        with_payloads = query is _PULL
        sizes: list[int] = []

        def found() -> Iterator[ReceivedBatch]:  # lazily: a page stops at the first batch that does not fit
            for row in conn.execute(query, {**window, "n": max(1, limit) + 1}).mappings():
                payload = bytes(row["payload"]) if with_payloads else b""
                sizes.append(len(payload) if with_payloads else int(row["size"]))
                yield ReceivedBatch(
                    seq=int(row["seq"]),
                    device_id=row["device_id"],
                    batch_id=row["batch_id"],
                    payload=payload,
                    count=int(row["count"]),
                    extra=orjson.loads(row["extra"]) if row["extra"] else None,
                    shared_at=row["created_at"],
                )

        page, left = page_of(found(), limit)
        if left is not None or len(page) > limit:  # (every row fitted when they are empty batches)
            left_count = None if left is None else left.count
            return PullResult(page, page[-1].seq, True, left_count, self._log_id_in(conn)), sizes[: len(page)]
        return PullResult(page, max(top, after), False, log_id=self._log_id_in(conn)), sizes[: len(page)]

    def publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> None:
        """Keep the device's digest at ``position``, replacing its previous one."""
        with self._begin() as conn:
            self._check_device(conn, device_id)
            conn.execute(states.delete().where(states.c.device_id == device_id))
            conn.execute(
                states.insert().values(
                    device_id=device_id,
                    user_id=self.user,
                    position=position,
                    digest=orjson.dumps(dict(digest)).decode(),
                    published_at=self._clock(),
                )
            )

    def states(self) -> list[PublishedState]:
        """Every device's latest published digest (of this user's devices)."""
        with self._begin() as conn:
            rows = conn.execute(sa.select(states).where(states.c.user_id == self.user).order_by(states.c.device_id))
            return [
                PublishedState(r.device_id, int(r.position), orjson.loads(r.digest), float(r.published_at))
                for r in rows
            ]

    def _encrypted(self, conn: sa.Connection) -> bool:
        """Whether this user's log is encrypted (once it is, it stays: the answer is kept)."""
        if not self._known_encrypted:
            found = conn.execute(sa.select(keyrings.c.revision).where(keyrings.c.user_id == self.user)).scalar()
            self._known_encrypted = found is not None
        return self._known_encrypted

    def keyring(self) -> StoredKeyring | None:
        """This user's wrapped keys, or None when the log is not encrypted."""
        with self._begin() as conn:
            row = conn.execute(sa.select(keyrings).where(keyrings.c.user_id == self.user)).first()
        if row is None:
            return None
        return StoredKeyring(row.body, int(row.revision), int(row.encrypted_from))

    def put_keyring(self, body: str, revision: int) -> StoredKeyring:
        """Replace the keyring if it is still at ``revision`` (0: there is none yet); RemoteError ``changed`` if not."""
        with self._begin() as conn:
            # the counter's row lock: a push and the first keyring do not cross
            conn.execute(counter.update().where(counter.c.id == 1).values(seq=counter.c.seq))
            row = conn.execute(sa.select(keyrings).where(keyrings.c.user_id == self.user)).first()
            now = self._clock()
            if (row.revision if row is not None else 0) != revision:
                raise RemoteError(
                    "the keyring was changed by another device meanwhile; read it again", kind="changed"
                )
            if row is None:  # encrypted after this user's newest batch (not the log's: users share its numbering)
                newest = sa.select(sa.func.coalesce(sa.func.max(batches.c.seq), 0)).where(batches.c.user_id == self.user)
                top = int(conn.execute(newest).scalar_one())
                conn.execute(
                    keyrings.insert().values(
                        user_id=self.user, body=body, revision=1, encrypted_from=top, updated_at=now
                    )
                )
                return StoredKeyring(body, 1, top)
            conn.execute(
                keyrings.update()
                .where(keyrings.c.user_id == self.user)
                .values(body=body, revision=revision + 1, updated_at=now)
            )
            return StoredKeyring(body, revision + 1, int(row.encrypted_from))

    def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record the device's pull cursor in the registry."""
        with self._begin() as conn:
            conn.execute(
                devices.update()
                .where(devices.c.device_id == device_id, devices.c.user_id == self.user)
                .values(last_pull_seq=seq, last_pull_at=self._clock())
            )

    def forget_device(self, device_id: str) -> bool:
        """Take this user's device out of the registry, with its published state; return whether it was there."""
        with self._begin() as conn:
            gone = conn.execute(devices.delete().where(devices.c.device_id == device_id, devices.c.user_id == self.user))
            conn.execute(states.delete().where(states.c.device_id == device_id, states.c.user_id == self.user))
            return bool(gone.rowcount)

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()

    def _check_device(self, conn: sa.Connection, device_id: str) -> None:
        owner = conn.execute(_OWNER, {"device": device_id}).scalar()
        if owner != self.user:
            raise RemoteError(f"device {device_id} is not registered for user {self.user!r}", kind="not_owned")


class _translated:
    """``engine.begin()`` whose SQLAlchemy errors come out as RemoteError."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._cm: Any = None

    def __enter__(self) -> sa.Connection:
        try:
            self._cm = self._engine.begin()
            return self._cm.__enter__()  # type: ignore[no-any-return]
        except sa.exc.DBAPIError as exc:
            raise _failure(exc, self._engine) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise RemoteError(f"the shared log failed: {exc}") from exc

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        try:
            self._cm.__exit__(exc_type, exc, tb)
        except sa.exc.DBAPIError as error:
            raise _failure(error, self._engine) from error
        except sa.exc.SQLAlchemyError as error:
            raise RemoteError(f"the shared log failed: {error}") from error
        if isinstance(exc, sa.exc.DBAPIError):
            raise _failure(exc, self._engine) from exc
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise RemoteError(f"the shared log failed: {exc}") from exc
        return False


def copy_log(source: str | sa.URL, target: str | sa.URL) -> tuple[str, int]:
    """Copy the shared log at ``source`` into ``target`` whole: its id, devices, batches and sequence numbers.

    For moving a team from one shared log to another (a file to PostgreSQL or to a
    server's database) without anyone sending anything again: devices that meet the
    copy see the log they know. ``target`` may be new or hold an empty shared log;
    one in use (batches, registered devices or server tokens) is refused. Returns the
    log's id and how many batches were copied. One transaction: a copy that fails leaves the target as it was.
    """
    from .._db import where as name_of

    src = SqlSharedLog(source, create=False)
    dst = _engine(target)
    where = name_of(dst.url)
    try:
        with dst.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
        if set(_DEVICE_TABLES) & present:
            raise RemoteError(f"{where} is a device database, not a place for a shared log", kind="not_a_log")
        with src.engine.connect() as read, dst.begin() as write:
            # Only a target nobody uses yet: a log with devices or tokens but no batch is in use
            # too, and replacing its id would cut off the devices that know it. Checked before
            # anything is created (DDL commits at once on MariaDB).
            used = []
            for one, many, name in (
                ("batch", "batches", batches.name),
                ("registered device", "registered devices", devices.name),
                ("token", "tokens", "sharedlog_tokens"),  # the server's accounts (syncengine.server._accounts)
            ):
                if name not in present:
                    continue
                n = write.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
                if n:
                    used.append(f"{n} {one if n == 1 else many}")
            if used:
                held = ", ".join(used)
                then = "; create the server's tokens after the copy" if "token" in held else ""
                raise RemoteError(
                    f"{where} already holds a shared log in use ({held}): copy into a new or empty database{then}"
                )
            metadata.create_all(write, checkfirst=True)
            for table in (meta, counter, devices, states, keyrings):
                write.execute(table.delete())
                rows = [dict(r) for r in read.execute(sa.select(table)).mappings()]
                if rows:
                    write.execute(table.insert(), rows)
            copied = 0
            after = -1
            while True:
                page = [
                    dict(r)
                    for r in read.execute(
                        sa.select(batches).where(batches.c.seq > after).order_by(batches.c.seq).limit(500)
                    ).mappings()
                ]
                if not page:
                    break
                write.execute(batches.insert(), page)
                copied += len(page)
                after = page[-1]["seq"]
            log_id = str(write.execute(_LOG_ID).scalar_one())
        return log_id, copied
    except sa.exc.DBAPIError as exc:
        raise _failure(exc, dst, "copy the shared log there", role="database") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise RemoteError(f"cannot copy the shared log to {where}: {exc}") from exc
    finally:
        src.close()
        dst.dispose()
