"""The shared-log server's endpoints: authenticate, decode, call the SQL shared log, encode.

Each request runs against ``SqlSharedLog(engine, user=<the token's user>)``, so the
store's own user scoping is what keeps users apart; the server adds no state of
its own. Any number of processes can serve one database: the shared log orders
appends with its counter row, and tokens are read on every request.

Blocking database work runs in Starlette's thread pool, one trip there per
request where the order of checks allows it: a pull or a device list checks the
token and does its work in the same trip (a request with a body is authenticated
before its body is read, so it makes two). Reads (the token check, pulls, device
lists) run in deferred transactions, so on SQLite they do not take the write lock
and never wait for a push to finish its transaction. On an SQLite file the token
check and small reads are first tried right on the event loop, with a connection
whose busy timeout is 0: a trip to the thread pool costs more than such a read,
and when a writer is committing just then the read is done in the pool instead,
where waiting is fine. Nothing of this is state: every request still reads its
token and its data from the database.

Pushes and pulls speak JSON or frames (:data:`~syncengine._wire.FRAME_TYPE`, raw
payload bytes after a small JSON header), chosen by the request's ``Content-Type``
and ``Accept``. Errors become JSON ``{"error": message}`` answers; the status codes
are listed in the OpenAPI document (:mod:`syncengine.server._openapi`).
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import _wire as wire
from ..errors import DatabaseError, RemoteError, RemoteUnavailable
from ..model import PullResult, ReceivedBatch
from ..store import SqlSharedLog
from . import _accounts as accounts
from ._asgi import Problem, ServerTime, read_body
from ._openapi import openapi

T = TypeVar("T")

DEFAULT_MAX_BODY = 64 * 1024 * 1024
_UNAVAILABLE_RETRY_AFTER = "1"
# Pulls of up to this many entries are read at once, and may be read on the event loop
# (SQLite, when no writer commits); larger ones in frames are streamed.
_SMALL_PULL_LIMIT = 5000
_CHUNK_BYTES = 256 * 1024  # payload bytes a streamed pull reads at a time (or one batch, if larger)


class _Busy(Exception):
    """A read on the event loop could not be done at once; do it in the thread pool."""


class _Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _Pieces(Response):
    """An answer sent as several body messages (its length is known), so they are never joined."""

    def __init__(self, pieces: list[bytes], media_type: str) -> None:
        super().__init__(b"", media_type=media_type)
        size = sum(len(p) for p in pieces)
        # small answers go in one message (which gzip then leaves alone under its minimum size)
        self.pieces = pieces if size >= 32 * 1024 else [b"".join(pieces)]
        self.headers["content-length"] = str(size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        last = len(self.pieces) - 1
        for i, piece in enumerate(self.pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": i < last})


class _StreamedPull(Response):
    """A pull answer in frames: the header, then each payload as ``pieces`` yields it.

    ``pieces`` reads the payloads while the ones before are on their way. A failure
    after the header has gone out can only cut the answer short, which the client
    takes as a failed request and retries.
    """

    def __init__(self, head: bytes, size: int, pieces: AsyncIterator[bytes]) -> None:
        super().__init__(b"", media_type=wire.FRAME_TYPE)
        self.head = head
        self.pieces = pieces
        self.headers["content-length"] = str(len(head) + size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": self.head, "more_body": True})
        async for piece in self.pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _Json({"error": message}, status_code=status, headers=headers)


class _Server:
    """The endpoints, bound to one engine shared by all requests of this process."""

    def __init__(self, engine: sa.Engine, max_body: int, quick: sa.Engine | None = None) -> None:
        self.engine = engine
        self.quick = quick
        # the same pool, but SQLite starts its transactions deferred (no write lock) on it
        self.reader = engine.execution_options(syncengine_read=True)
        self.max_body = max_body
        # A SqlSharedLog holds no data of its own (only the engine and the user
        # name), so keeping one per user only saves its table checks per request;
        # it cannot make two processes disagree.
        self.log_for: Callable[[str], SqlSharedLog] = functools.lru_cache(maxsize=4096)(
            lambda user: SqlSharedLog(engine, user=user)
        )
        self.read_log_for: Callable[[str], SqlSharedLog] = functools.lru_cache(maxsize=4096)(
            lambda user: SqlSharedLog(self.reader, user=user)
        )
        if quick is not None:
            self.quick_reader = quick.execution_options(syncengine_read=True)
            self.quick_log_for: Callable[[str], SqlSharedLog] = functools.lru_cache(maxsize=4096)(
                lambda user: SqlSharedLog(self.quick_reader, user=user)
            )

    def startup(self) -> None:
        """Create the tables, retrying while another process does the same."""
        for attempt in range(5):
            try:
                accounts.install(self.engine)
                SqlSharedLog(self.engine)
                return
            except (DatabaseError, RemoteError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def token(request: Request) -> str:
        """Return the request's bearer token (401 if it has none); it is checked later."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "send the device token as 'Authorization: Bearer TOKEN'", {"WWW-Authenticate": "Bearer"})
        return token.strip()

    def user_for(self, token: str, quick: bool = False) -> str:
        """Return the token's user (blocking; 401 if the token is unknown or revoked)."""
        if quick:
            try:
                user = accounts.user_for_token_sqlite(self.quick_reader, token)
            except (sqlite3.Error, sa.exc.SQLAlchemyError) as exc:  # locked (SQLAlchemy wraps it on connecting)
                raise _Busy from exc
        else:
            user = accounts.user_for_token(self.reader, token)
        if user is None:
            raise Problem(401, "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        return user

    async def user(self, request: Request) -> str:
        token = self.token(request)
        if self.quick is not None:
            with contextlib.suppress(_Busy):
                return self.at_once(self.user_for, token, True)
        return await self.blocking(self.user_for, token)

    @staticmethod
    def at_once(fn: Callable[..., T], *args: Any) -> T:
        """Run a short SQLite read right here, on the event loop: no trip to the thread pool.

        The quick engine never waits for a lock (its busy timeout is 0); when a
        writer is committing just then, or anything else fails, this raises _Busy
        and the caller does the same work in the thread pool, where waiting is fine
        and failures are answered as usual.
        """
        try:
            return fn(*args)
        except (RemoteUnavailable, DatabaseError) as exc:
            raise _Busy from exc
        except RemoteError as exc:
            if isinstance(exc.__cause__, sa.exc.SQLAlchemyError):
                raise _Busy from exc
            raise

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run database work in the thread pool, turning its errors into answers."""
        try:
            return await run_in_threadpool(fn, *args)
        except (RemoteUnavailable, DatabaseError) as exc:
            raise Problem(
                503, f"the shared log is unavailable: {exc}", {"Retry-After": _UNAVAILABLE_RETRY_AFTER}
            ) from exc
        except RemoteError as exc:
            if isinstance(exc.__cause__, sa.exc.SQLAlchemyError):
                # a database failure, not a refusal: a retry may well succeed
                raise Problem(503, f"the shared log failed: {exc}", {"Retry-After": _UNAVAILABLE_RETRY_AFTER}) from exc
            raise

    @staticmethod
    def path_id(request: Request, key: str, what: str) -> str:
        try:
            return wire.check_id(request.path_params[key], what)
        except wire.WireError as exc:
            raise Problem(400, str(exc)) from None

    async def body(self, request: Request, parse: Callable[[bytes], T]) -> T:
        raw = await read_body(request, self.max_body)
        try:
            return parse(raw)
        except wire.WireError as exc:
            raise Problem(400, str(exc)) from None

    # -- endpoints ------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        def ping() -> str | None:
            with self.engine.connect() as conn:
                found = conn.execute(sa.text("SELECT value FROM sharedlog_meta WHERE key = 'log_id'")).scalar()
                return None if found is None else str(found)

        try:
            log_id = await run_in_threadpool(ping)
        except sa.exc.SQLAlchemyError:
            return _Json(
                {"status": "unavailable", "max_body_bytes": self.max_body},
                status_code=503,
                headers={"Retry-After": _UNAVAILABLE_RETRY_AFTER},
            )
        return _Json({"status": "ok", "max_body_bytes": self.max_body, "log_id": log_id})

    async def openapi(self, request: Request) -> Response:
        return _Json(openapi(self.max_body))

    async def call(self, user: str, method: str, *args: Any) -> Any:
        """Call a method of the user's shared log in the thread pool."""
        return await self.blocking(lambda: getattr(self.log_for(user), method)(*args))

    async def read(self, request: Request, method: str, *args: Any, quick: bool = True) -> Any:
        """Check the token and call a reading method of its user's log, in one trip to the thread pool."""
        return await self.read_as(request, lambda log: getattr(log, method)(*args), quick=quick)

    async def read_as(self, request: Request, read: Callable[[SqlSharedLog], T], *, quick: bool = True) -> T:
        """Check the token and run ``read`` on its user's log, in one trip to the thread pool."""
        token = self.token(request)
        return await self._read(lambda here: self.user_for(token, quick=here), read, quick)

    async def _read(self, user_of: Callable[[bool], str], read: Callable[[SqlSharedLog], T], quick: bool = True) -> T:
        """Run ``read`` on the log of ``user_of(on the event loop)``; with ``quick`` on SQLite, on the loop first."""
        if quick and self.quick is not None:
            with contextlib.suppress(_Busy):
                return self.at_once(lambda: read(self.quick_log_for(user_of(True))))
        return await self.blocking(lambda: read(self.read_log_for(user_of(False))))

    async def list_devices(self, request: Request) -> Response:
        found = await self.read(request, "devices")
        return _Json({"devices": [wire.device_json(d) for d in found]})

    async def register(self, request: Request) -> Response:
        user = await self.user(request)
        device_id = self.path_id(request, "device_id", "the device id")
        name = await self.body(request, wire.parse_register_request)
        try:
            info = await self.call(user, "register_device", device_id, name)
        except RemoteError as exc:
            raise Problem(409, f"device {device_id} belongs to another user") from exc
        return _Json(wire.device_json(info))

    async def device(self, request: Request) -> Response:
        """A device's record: PUT registers (or renames) it, DELETE forgets it (one route, so 405 lists both)."""
        return await (self.forget(request) if request.method == "DELETE" else self.register(request))

    async def forget(self, request: Request) -> Response:
        user = await self.user(request)
        device_id = self.path_id(request, "device_id", "the device id")
        if not await self.call(user, "forget_device", device_id):
            raise Problem(404, f"no device {device_id} in this shared log")
        return Response(status_code=204)

    async def push(self, request: Request) -> Response:
        user = await self.user(request)
        device_id = self.path_id(request, "device_id", "the device id")
        batch_id = self.path_id(request, "batch_id", "the batch id")
        framed = wire.media_type(request.headers.get("content-type")) == wire.FRAME_TYPE
        payload, count, extra = await self.body(request, wire.parse_push_frames if framed else wire.parse_push_request)
        try:
            result = await self.call(user, "push", device_id, batch_id, payload, count, extra)
        except RemoteError as exc:
            if exc.kind == "encrypted":
                raise Problem(403, str(exc)) from exc
            raise Problem(404, f"device {device_id} is not registered for this user") from exc
        return _Json(wire.push_json(result), status_code=200 if result.duplicate else 201)

    async def pull(self, request: Request) -> Response:
        self.token(request)  # 401 before 400
        device_id = self.path_id(request, "device_id", "the device id")
        try:
            after = wire.int_param(request.query_params.get("after"), "after", 0, wire.INT64_MAX, 0)
            limit = wire.int_param(request.query_params.get("limit"), "limit", 1, wire.PULL_LIMIT_MAX, 1000)
        except wire.WireError as exc:
            raise Problem(400, str(exc)) from None
        framed = wire.accepts_frames(request.headers.get("accept"))
        small = limit <= _SMALL_PULL_LIMIT
        try:
            if framed and not small:
                return await self.streamed_pull(request, device_id, after, limit)
            result = await self.read(request, "pull", device_id, after, limit, quick=small)
        except RemoteError as exc:
            raise Problem(404, f"device {device_id} is not registered for this user") from exc
        if framed:
            return _Pieces(wire.pull_frames(result), wire.FRAME_TYPE)
        return _Json(wire.pull_json(result))

    async def streamed_pull(self, request: Request, device_id: str, after: int, limit: int) -> Response:
        """Answer a large pull in frames, sending its payloads while the next ones are read.

        The header comes from the pull's first step (its batches and their sizes), so
        an error there (device not registered, database unavailable) is still a proper
        answer. The payloads are then read about :data:`_CHUNK_BYTES` at a time, each
        read on its own (batches never change once appended), so no lock is held while
        the device takes its time to receive them. The token check, the header and the
        first chunk take one trip to the database: a small answer costs what it did.
        """

        def chunk(log: SqlSharedLog, batches: list[ReceivedBatch]) -> list[bytes]:
            got = log.read_payloads(device_id, batches[0].seq, batches[-1].seq)
            if [seq for seq, _ in got] != [b.seq for b in batches]:
                raise RemoteError(f"batches {batches[0].seq} to {batches[-1].seq} changed while being pulled")
            return [payload for _, payload in got]

        def start(log: SqlSharedLog) -> tuple[str, PullResult, list[int], list[list[ReceivedBatch]], list[bytes]]:
            head, sizes = log.pull_head(device_id, after, limit)
            chunks = _chunks(head.batches, sizes)
            return log.user, head, sizes, chunks, chunk(log, chunks[0]) if chunks else []

        user, head, sizes, chunks, first = await self.read_as(request, start)

        async def pieces() -> AsyncIterator[bytes]:
            for payload in first:
                yield payload
            for batches in chunks[1:]:
                for payload in await self._read(lambda _: user, functools.partial(chunk, batches=batches)):
                    yield payload

        return _StreamedPull(wire.pull_frames_head(head, sizes), sum(sizes), pieces())

    async def publish_state(self, request: Request) -> Response:
        user = await self.user(request)
        device_id = self.path_id(request, "device_id", "the device id")
        position, digest = await self.body(request, wire.parse_state_request)
        try:
            await self.call(user, "publish_state", device_id, position, digest)
        except RemoteError as exc:
            raise Problem(404, f"device {device_id} is not registered for this user") from exc
        return Response(status_code=204)

    async def states(self, request: Request) -> Response:
        found = await self.read(request, "states")
        return _Json(wire.states_json(found))

    async def keyring(self, request: Request) -> Response:
        if request.method == "PUT":
            return await self.put_keyring(request)
        found = await self.read(request, "keyring")
        return _Json(wire.keyring_json(found))

    async def put_keyring(self, request: Request) -> Response:
        user = await self.user(request)
        body, revision = await self.body(request, wire.parse_keyring_request)
        try:
            stored = await self.call(user, "put_keyring", body, revision)
        except RemoteError as exc:
            if exc.kind == "changed":
                raise Problem(409, "the keyring was changed by another device meanwhile; read it again") from exc
            raise
        return _Json(wire.keyring_json(stored))

    async def mark_pulled(self, request: Request) -> Response:
        user = await self.user(request)
        device_id = self.path_id(request, "device_id", "the device id")
        seq = await self.body(request, wire.parse_cursor_request)
        # the store ignores devices of other users here, so there is nothing to refuse
        await self.call(user, "mark_pulled", device_id, seq)
        return Response(status_code=204)


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _error(exc.status, exc.message, exc.headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # the last resort; every known failure is answered before it gets here
    return _error(500, "internal server error")


def _is_file(url: sa.URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:") and "mode" not in url.query


def _quick_engine(url: sa.URL) -> sa.Engine:
    """An engine on the same SQLite file for reads on the event loop: one connection that never waits.

    Its busy timeout is 0 from its first statement on (even that one reads the
    schema, and may find a writer in the way): what cannot be read at once is read
    in the thread pool instead.
    """
    from .._db import SHARED_LOG_PAGE_CACHE_MIB, create_engine

    return create_engine(url, busy_timeout_ms=0, page_cache_mib=SHARED_LOG_PAGE_CACHE_MIB, pool_size=1, max_overflow=1)


def _chunks(batches: list[ReceivedBatch], sizes: list[int]) -> list[list[ReceivedBatch]]:
    """Group a pull's batches, in order, into reads of about :data:`_CHUNK_BYTES` of payload."""
    chunks: list[list[ReceivedBatch]] = []
    size = 0
    for batch, payload_size in zip(batches, sizes, strict=True):
        if not chunks or size + payload_size > _CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(batch)
        size += payload_size
    return chunks


def create_app(db: str | sa.URL | sa.Engine, *, max_body_bytes: int = DEFAULT_MAX_BODY) -> ASGIApp:
    """Return the ASGI application serving the shared log in ``db`` (a URL, path or engine).

    Request bodies over ``max_body_bytes`` (before or after gunzipping) get 413.
    """
    from .._db import SHARED_LOG_PAGE_CACHE_MIB, create_engine, to_url

    quick = None
    if isinstance(db, sa.Engine):
        engine = db
    else:
        url = to_url(db)
        sqlite = url.get_backend_name() == "sqlite"
        # The most recently used connection first: with requests one after another
        # that is always the same one, whose caches (SQLite's page cache) are warm.
        pooled: dict[str, Any] = {"pool_use_lifo": True} if not sqlite or _is_file(url) else {}
        if not sqlite:
            pooled.update(pool_size=10, max_overflow=30)  # enough for Starlette's thread pool (40 threads)
        engine = create_engine(db, page_cache_mib=SHARED_LOG_PAGE_CACHE_MIB, **pooled)
        if sqlite and _is_file(url):
            quick = _quick_engine(url)
    server = _Server(engine, max_body_bytes, quick)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(server.startup)
        yield
        engine.dispose()
        if quick is not None:
            quick.dispose()

    routes = [
        Route("/health", server.health, methods=["GET"]),
        Route("/openapi.json", server.openapi, methods=["GET"]),
        Route(f"{wire.API}/devices", server.list_devices, methods=["GET"]),
        Route(f"{wire.API}/devices/{{device_id}}", server.device, methods=["PUT", "DELETE"]),
        Route(f"{wire.API}/devices/{{device_id}}/batches", server.pull, methods=["GET"]),
        Route(f"{wire.API}/devices/{{device_id}}/batches/{{batch_id}}", server.push, methods=["PUT"]),
        Route(f"{wire.API}/devices/{{device_id}}/cursor", server.mark_pulled, methods=["PUT"]),
        Route(f"{wire.API}/devices/{{device_id}}/state", server.publish_state, methods=["PUT"]),
        Route(f"{wire.API}/states", server.states, methods=["GET"]),
        Route(f"{wire.API}/keyring", server.keyring, methods=["GET", "PUT"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=4096, compresslevel=1)],
        exception_handlers={Problem: _problem, HTTPException: _http_exception, Exception: _unexpected},
        lifespan=lifespan,
    )
    return ServerTime(app)
