"""Users and device tokens of the shared-log server, in the shared log's own database.

A token is ``secrets.token_urlsafe(32)``: 256 random bits, so a plain SHA-256 of
it is enough to store (no salt or slow hash is needed against guessing, and a
lookup by hash stays one indexed query). The token itself is shown once, when it
is created. Revoking keeps the row, so ``token list`` still shows who had access.

Nothing here is cached: every request reads the token row, so a revocation holds
at once in every server process on the database.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .._wire import WireError, check_user
from ..errors import ConfigurationError, DatabaseError

metadata = sa.MetaData()

users = sa.Table(
    "sharedlog_users",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

tokens = sa.Table(
    "sharedlog_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_name", sa.String(128), sa.ForeignKey("sharedlog_users.name"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """One token as ``token list`` shows it (never the token itself)."""

    id: int
    user: str
    created_at: float
    revoked_at: float | None

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {"id": self.id, "user": self.user, "created_at": self.created_at, "revoked_at": self.revoked_at}


def hash_token(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def install(engine: sa.Engine, *, create: bool = True) -> bool:
    """Create the account tables if they are missing; a device database is refused.

    With ``create`` false (reading, revoking) nothing is created: return whether the
    tables are there.
    """
    with _translated(engine, "prepare the accounts of"):
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
        if "syncengine_state" in present:
            from .._db import where as name_of

            where = name_of(engine.url)
            raise ConfigurationError(
                f"{where} is a device database, not a shared log: "
                "give the shared log the server serves (--remote of 'syncengine serve')"
            )
        if not create:
            return tokens.name in present
        metadata.create_all(engine, checkfirst=True)
        return True


def create_token(engine: sa.Engine, user: str, *, clock: Any = time.time) -> tuple[TokenInfo, str]:
    """Create ``user`` if needed and a new token for it; return its record and the token."""
    try:
        check_user(user)
    except WireError as exc:
        raise ConfigurationError(str(exc)) from None
    install(engine)
    token = secrets.token_urlsafe(32)
    now = clock()
    with _translated(engine, "create a token in"), engine.begin() as conn:
        if conn.execute(sa.select(users.c.name).where(users.c.name == user)).first() is None:
            conn.execute(users.insert().values(name=user, created_at=now))
        inserted = conn.execute(tokens.insert().values(user_name=user, token_hash=hash_token(token), created_at=now))
        new_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
    return TokenInfo(new_id, user, now, None), token


def list_tokens(engine: sa.Engine) -> list[TokenInfo]:
    """Return every token record, oldest first (none, and nothing created, where there are no accounts yet)."""
    if not install(engine, create=False):
        return []
    with _translated(engine, "list the tokens of"), engine.connect() as conn:
        rows = conn.execute(sa.select(tokens).order_by(tokens.c.id)).mappings().all()
    return [TokenInfo(int(r["id"]), r["user_name"], r["created_at"], r["revoked_at"]) for r in rows]


def revoke_token(engine: sa.Engine, token_id: int, *, clock: Any = time.time) -> TokenInfo:
    """Revoke a token by id (a revoked token stays revoked); ConfigurationError if unknown."""
    if not install(engine, create=False):
        raise ConfigurationError(f"there is no token with id {token_id} (this shared log has no tokens)")
    with _translated(engine, "revoke a token in"), engine.begin() as conn:
        row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise ConfigurationError(f"there is no token with id {token_id}")
        info = TokenInfo(int(row["id"]), row["user_name"], row["created_at"], row["revoked_at"])
        if info.revoked_at is None:
            info = TokenInfo(info.id, info.user, info.created_at, clock())
            conn.execute(tokens.update().where(tokens.c.id == token_id).values(revoked_at=info.revoked_at))
    return info


_LIVE = sa.select(tokens.c.user_name).where(tokens.c.token_hash == sa.bindparam("hash"), tokens.c.revoked_at.is_(None))


def user_for_token_sqlite(engine: sa.Engine, token: str) -> str | None:
    """:func:`user_for_token` on an SQLite engine straight through the driver (about 5x less CPU).

    One statement on a connection in autocommit mode (as ``create_engine`` leaves
    SQLite connections), so it reads a consistent state without a transaction.
    The driver's errors come out as they are (``sqlite3.Error``).
    """
    sql = _LIVE_SQLITE.get(engine.dialect.name)
    if sql is None:
        sql = _LIVE_SQLITE[engine.dialect.name] = str(_LIVE.compile(dialect=engine.dialect))
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute(sql, (hash_token(token),))
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        conn.close()
    return None if row is None else str(row[0])


_LIVE_SQLITE: dict[str, str] = {}


def user_for_token(engine: sa.Engine, token: str) -> str | None:
    """Return the user a live token belongs to, or None: one indexed query."""
    with _translated(engine, "check a token in"), engine.connect() as conn:
        user = conn.execute(_LIVE, {"hash": hash_token(token)}).scalar()
    return None if user is None else str(user)


class _translated:
    """Turn SQLAlchemy errors into DatabaseError, naming the database."""

    def __init__(self, engine: sa.Engine, doing: str) -> None:
        self._engine = engine
        self._doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        from .._db import explain
        from .._db import where as name_of

        where = name_of(self._engine.url)
        if isinstance(exc, sa.exc.DBAPIError):
            message = explain(exc, where, role="shared log")
            raise DatabaseError(message, retryable=isinstance(exc, sa.exc.OperationalError)) from exc
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise DatabaseError(f"cannot {self._doing} {where}: {exc}") from exc
