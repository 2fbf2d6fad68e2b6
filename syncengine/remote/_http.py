"""The shared log over HTTP: a client of ``syncengine serve``, sync and async, on httpx.

Both clients share everything but the I/O: :class:`_Wire` builds requests and
reads answers (through :mod:`syncengine._wire`, the same codec the server
uses); :class:`HttpSharedLog` and :class:`AsyncHttpSharedLog` only send them,
inside a stamina retry loop.

Retrying is safe because every call is idempotent: a push names its batch, and the
server stores a (device, batch id) once. Connection errors, timeouts, 5xx and 429
are retried with exponential backoff and jitter (a ``Retry-After`` wait is
honoured); when the retries run out the call raises :class:`RemoteUnavailable`,
and since the sync marks entries shared only after a push succeeds, nothing local
is lost. Other refusals raise :class:`RemoteError` at once. No httpx exception
leaves this module.

Pushes go up and pulls come down in frames (raw payload bytes after a small JSON
header, :data:`~syncengine._wire.FRAME_TYPE`); an answer in JSON is read
too. Bodies are gzipped over a network, not to a server on this machine (a
loopback address), where compressing costs time and saves nothing.

Every answer carries the server's clock (``X-Server-Time``); each client keeps an
estimate of how far the local clock is off in :attr:`clock_offset_ms`.

Pulls read ahead (``read_ahead`` pages, 8 by default): one request asks for that
many pages' worth of entries (at most 8,000 unless one page is larger), and the
answer is cut into the pages that pulls of ``limit`` would have returned, so a
request's fixed cost is paid once for several pages. A page held back is handed
only to a pull after exactly its cursor, within a few seconds; otherwise it is
dropped and the pull asks the server again.
"""

from __future__ import annotations

import collections
import email.utils
import gzip
import ipaddress
import itertools
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import stamina

from .. import _wire as wire
from ..errors import ConfigurationError, RemoteError, RemoteUnavailable
from ..model import DeviceInfo, PullResult, PushResult, ReceivedBatch, page_of

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_MAX_RETRY_AFTER = 60.0
_SAMPLES = 8
_HELD_SECONDS = 5.0  # how long pages read ahead may wait for the pull that wants them
_AHEAD_ENTRIES = 8000  # read-ahead asks for at most this many entries (or one page, if larger)

_PullKey = tuple[str, int, int]  # device id, after, limit


def set_testing(testing: bool = True, *, attempts: int = 3) -> None:
    """Switch retry waits off (for tests) or back on; retries still happen, up to ``attempts``.

    This is stamina's global test mode, so it affects every stamina user in the process.
    """
    stamina.set_testing(testing, attempts=attempts, cap=True)


class _Retryable(Exception):
    """An answer that a later attempt may not get (5xx, 429)."""

    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _retry_hook(exc: Exception) -> bool | float:
    if isinstance(exc, _Retryable):
        return exc.retry_after if exc.retry_after is not None else True
    return isinstance(exc, _TRANSIENT)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _pages(answer: PullResult, after: int, limit: int) -> list[tuple[int, PullResult]]:
    """Cut one answer into the pages that pulls of ``limit`` entries would return, each with the cursor it follows.

    The cut is the server's (:func:`~syncengine.model.page_of`). When the answer
    stopped short of the log's end, its last page is only kept if the batch after it
    is known (``next_count``) not to fit in it; otherwise a pull of ``limit`` might
    have brought more, so that page is left for the next request (the first page is
    always whole: the answer holds at least ``limit`` entries' worth).
    """
    pages: list[tuple[int, PullResult]] = []
    rest = iter(answer.batches)
    page, left = page_of(rest, limit)
    while left is not None:
        pages.append((after, PullResult(page, page[-1].seq, True, left.count)))
        after = page[-1].seq
        page, left = page_of(itertools.chain([left], rest), limit)
    last = PullResult(page, answer.cursor, answer.more, answer.next_count)
    if pages and answer.more and not _ends_page(page, answer.next_count, limit):
        return pages
    pages.append((after, last))
    return pages


def _ends_page(page: list[ReceivedBatch], next_count: int | None, limit: int) -> bool:
    """Whether a batch of ``next_count`` entries would be left out of ``page`` (:func:`page_of`'s rule)."""
    if next_count is None:
        return False
    return sum(b.count for b in page) + next_count > limit or len(page) > limit


def _is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Wire:
    """Requests and answers of the shared-log API, without I/O; the clients' common part."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float,
        connect_timeout: float,
        attempts: int,
        retry_timeout: float,
        compress_min_bytes: int | None,
        compress_loopback: bool,
        read_ahead: int,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"not an http(s) URL: {url!r}")
        if not token:
            raise ConfigurationError(
                f"the shared log at {url} needs a device token: pass --token or set SYNCENGINE_TOKEN "
                "(create one with 'syncengine token create --db DB --user NAME' on the server)"
            )
        if read_ahead < 1:
            raise ConfigurationError("read_ahead must be at least 1 (1: no read-ahead)")
        self.url = url.rstrip("/")
        self.read_ahead = read_ahead
        self._held: dict[_PullKey, PullResult] = {}  # pages read ahead, by the pull that wants each
        self._held_at = 0.0
        if not compress_loopback and _is_loopback(url):
            # on this machine, compressing costs CPU time on both sides and saves nothing
            compress_min_bytes = None
        self.attempts = attempts
        self.retry_timeout = retry_timeout
        self.compress_min_bytes = compress_min_bytes
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": f"{wire.FRAME_TYPE}, application/json;q=0.5",
            "Accept-Encoding": "gzip" if compress_min_bytes is not None else "identity",
        }
        self.clock_offset_ms: float | None = None
        """How far this machine's clock is ahead of the server's (negative: behind), in ms.

        None until the first answer. The estimate comes from the quickest of the
        last few round trips (the midpoint of the request's send and receive times
        against the server's stamp), so it is good to about half a round trip.
        """
        self._samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=_SAMPLES)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- building requests ------------------------------------------------------

    def _device_path(self, device_id: str, *rest: str) -> str:
        return "/".join([f"{wire.API}/devices", quote(device_id, safe=""), *(quote(r, safe="") for r in rest)])

    def _url(self, path: str, params: dict[str, int] | None) -> str:
        # a whole URL: httpx parses it once instead of merging a path, a base and parameters
        return f"{self.url}{path}?{urlencode(params)}" if params else f"{self.url}{path}"

    def _body(self, body: bytes, content_type: str = "application/json") -> tuple[bytes, dict[str, str]]:
        headers = {"Content-Type": content_type}
        if self.compress_min_bytes is not None and len(body) >= self.compress_min_bytes:
            # level 1: on a fast network a higher level costs more time than it saves
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return body, headers

    # -- reading answers ----------------------------------------------------------

    def _observe(self, response: httpx.Response, sent: float, received: float) -> None:
        stamp = response.headers.get(wire.TIME_HEADER)
        if stamp is None or not stamp.isdigit():
            return
        offset = (sent + received) / 2 * 1000 - int(stamp)
        self._samples.append((received - sent, offset))
        self.clock_offset_ms = min(self._samples)[1]

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        """Return a successful answer; raise _Retryable or RemoteError for the others."""
        status = response.status_code
        if status < 300:
            return response
        message = wire.error_message(response.content) or response.reason_phrase
        if status in _RETRY_STATUSES:
            raise _Retryable(status, f"{status} {message}", _retry_after(response.headers.get("retry-after")))
        if status == 401:
            raise RemoteError(
                f"the shared log at {self.url} refused the token ({message}); check --token or SYNCENGINE_TOKEN",
                status=status,
                kind="auth",
            )
        if status == 413:
            raise RemoteError(
                f"the shared log at {self.url} refused to {what}: {message}; use smaller batches",
                status=status,
                kind="too_large",
            )
        kind = "not_owned" if status == 409 else "error"
        raise RemoteError(
            f"the shared log at {self.url} refused to {what}: {status} {message}", status=status, kind=kind
        )

    def _unavailable(self, exc: Exception, what: str) -> RemoteError:
        if isinstance(exc, _Retryable):
            return RemoteUnavailable(
                f"the shared log at {self.url} could not {what}: it answered {exc} (gave up after retrying)"
            )
        if isinstance(exc, _TRANSIENT):
            return RemoteUnavailable(
                f"cannot reach the shared log at {self.url} to {what}: "
                f"{type(exc).__name__}: {exc} (gave up after retrying)"
            )
        return RemoteError(f"cannot {what} at {self.url}: {type(exc).__name__}: {exc}")

    def _retries(self) -> Any:
        return stamina.retry_context(
            on=_retry_hook,
            attempts=self.attempts,
            timeout=self.retry_timeout,
            wait_initial=0.2,
            wait_max=10.0,
            wait_jitter=0.5,
        )

    @staticmethod
    def _parse(parse: Any, response: httpx.Response, what: str) -> Any:
        try:
            return parse(response.content)
        except wire.WireError as exc:
            raise RemoteError(f"the shared log's answer to {what} is malformed: {exc}") from exc

    def _pull_request(self, key: _PullKey) -> tuple[str, dict[str, int]]:
        """The path and query of the request behind a pull: ``read_ahead`` pages' worth of entries."""
        device_id, after, limit = key
        asked = max(1, min(limit * self.read_ahead, max(limit, _AHEAD_ENTRIES), wire.PULL_LIMIT_MAX))
        return self._device_path(device_id, "batches"), {"after": after, "limit": asked}

    def _take_held(self, key: _PullKey) -> PullResult | None:
        """The page read ahead for this pull, if fresh; any other held page is dropped."""
        page = self._held.pop(key, None)
        if page is None or time.monotonic() - self._held_at > _HELD_SECONDS:
            self._held.clear()
            return None
        return page

    def _hold(self, key: _PullKey, answer: PullResult) -> PullResult:
        """Keep all but the first page of an answer; return that page."""
        device_id, after, limit = key
        (_, first), *rest = _pages(answer, after, limit)
        self._held = {(device_id, start, limit): page for start, page in rest}
        self._held_at = time.monotonic()
        return first

    @classmethod
    def _parse_pull(cls, response: httpx.Response) -> PullResult:
        framed = wire.media_type(response.headers.get("content-type")) == wire.FRAME_TYPE
        return cls._parse(wire.parse_pull_frames if framed else wire.parse_pull, response, "pull")  # type: ignore[no-any-return]


_DEFAULTS: dict[str, Any] = {
    "timeout": 60.0,
    "connect_timeout": 5.0,
    "attempts": 6,
    "retry_timeout": 120.0,
    "compress_min_bytes": 64 * 1024,
    "compress_loopback": False,
    "read_ahead": 8,
}


class HttpSharedLog(_Wire):
    """A :class:`~syncengine.remote.SharedLog` on a ``syncengine serve`` server (blocking httpx).

    ``timeout`` bounds each read or write and ``connect_timeout`` each connection
    attempt, in seconds; a call makes up to ``attempts`` tries within
    ``retry_timeout`` seconds. Request bodies of ``compress_min_bytes`` or more are
    gzipped, and answers may come gzipped (None: never, either way); not with a server
    on a loopback address (``localhost``, ``127.0.0.1``, ``::1``), where compressing
    costs time and saves nothing, unless ``compress_loopback`` is true. ``transport`` and
    ``verify`` go to :class:`httpx.Client`. A request behind a pull asks for
    ``read_ahead`` pages at once (see the module docstring; 1 turns read-ahead off).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = _DEFAULTS["timeout"],
        connect_timeout: float = _DEFAULTS["connect_timeout"],
        attempts: int = _DEFAULTS["attempts"],
        retry_timeout: float = _DEFAULTS["retry_timeout"],
        compress_min_bytes: int | None = _DEFAULTS["compress_min_bytes"],
        compress_loopback: bool = _DEFAULTS["compress_loopback"],
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
        read_ahead: int = _DEFAULTS["read_ahead"],
    ) -> None:
        super().__init__(
            url,
            token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            attempts=attempts,
            retry_timeout=retry_timeout,
            compress_min_bytes=compress_min_bytes,
            compress_loopback=compress_loopback,
            read_ahead=read_ahead,
        )
        self._client = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=self.timeout, verify=verify, transport=transport
        )

    def _call(
        self,
        what: str,
        method: str,
        path: str,
        body: bytes | None = None,
        params: dict[str, int] | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        content, headers = self._body(body, content_type) if body is not None else (None, {})
        url = self._url(path, params)
        try:
            for attempt in self._retries():
                with attempt:
                    sent = time.time()
                    response = self._client.request(method, url, content=content, headers=headers)
                    self._observe(response, sent, time.time())
                    return self._check(response, what)
        except (_Retryable, httpx.HTTPError) as exc:
            raise self._unavailable(exc, what) from exc
        raise AssertionError("unreachable: the retry loop returns or raises")

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Register the device for the token's user, or rename it."""
        what = "register the device"
        response = self._call(what, "PUT", self._device_path(device_id), wire.register_request(name))
        return self._parse(lambda body: wire.parse_device(wire.loads(body)), response, what)  # type: ignore[no-any-return]

    def devices(self) -> list[DeviceInfo]:
        """Return the token's user's devices, oldest first."""
        return self._parse(wire.parse_devices, self._call("list devices", "GET", f"{wire.API}/devices"), "list devices")  # type: ignore[no-any-return]

    def push(
        self,
        device_id: str,
        batch_id: str,
        payload: bytes,
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> PushResult:
        """Append one batch; pushing it again (a retry) stores nothing new."""
        body = wire.push_frames(payload, count, extra)
        path = self._device_path(device_id, "batches", batch_id)
        response = self._call("push a batch", "PUT", path, body, content_type=wire.FRAME_TYPE)
        return self._parse(wire.parse_push, response, "push a batch")  # type: ignore[no-any-return]

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``, about ``limit`` entries."""
        key = (device_id, after, limit)
        page = self._take_held(key)
        if page is None:
            path, params = self._pull_request(key)
            page = self._hold(key, self._parse_pull(self._call("pull", "GET", path, params=params)))
        return page

    def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record how far the device has pulled."""
        self._call("record the pull cursor", "PUT", self._device_path(device_id, "cursor"), wire.cursor_request(seq))

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> HttpSharedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHttpSharedLog(_Wire):
    """The same client on :class:`httpx.AsyncClient`: every method is a coroutine.

    Takes the arguments of :class:`HttpSharedLog` (``transport`` being an async one).
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = _DEFAULTS["timeout"],
        connect_timeout: float = _DEFAULTS["connect_timeout"],
        attempts: int = _DEFAULTS["attempts"],
        retry_timeout: float = _DEFAULTS["retry_timeout"],
        compress_min_bytes: int | None = _DEFAULTS["compress_min_bytes"],
        compress_loopback: bool = _DEFAULTS["compress_loopback"],
        verify: Any = True,
        transport: httpx.AsyncBaseTransport | None = None,
        read_ahead: int = _DEFAULTS["read_ahead"],
    ) -> None:
        super().__init__(
            url,
            token,
            timeout=timeout,
            connect_timeout=connect_timeout,
            attempts=attempts,
            retry_timeout=retry_timeout,
            compress_min_bytes=compress_min_bytes,
            compress_loopback=compress_loopback,
            read_ahead=read_ahead,
        )
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=self.timeout, verify=verify, transport=transport
        )

    async def _call(
        self,
        what: str,
        method: str,
        path: str,
        body: bytes | None = None,
        params: dict[str, int] | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        content, headers = self._body(body, content_type) if body is not None else (None, {})
        url = self._url(path, params)
        try:
            async for attempt in self._retries():
                with attempt:
                    sent = time.time()
                    response = await self._client.request(method, url, content=content, headers=headers)
                    self._observe(response, sent, time.time())
                    return self._check(response, what)
        except (_Retryable, httpx.HTTPError) as exc:
            raise self._unavailable(exc, what) from exc
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Register the device for the token's user, or rename it."""
        what = "register the device"
        response = await self._call(what, "PUT", self._device_path(device_id), wire.register_request(name))
        return self._parse(lambda body: wire.parse_device(wire.loads(body)), response, what)  # type: ignore[no-any-return]

    async def devices(self) -> list[DeviceInfo]:
        """Return the token's user's devices, oldest first."""
        response = await self._call("list devices", "GET", f"{wire.API}/devices")
        return self._parse(wire.parse_devices, response, "list devices")  # type: ignore[no-any-return]

    async def push(
        self,
        device_id: str,
        batch_id: str,
        payload: bytes,
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> PushResult:
        """Append one batch; pushing it again (a retry) stores nothing new."""
        body = wire.push_frames(payload, count, extra)
        path = self._device_path(device_id, "batches", batch_id)
        response = await self._call("push a batch", "PUT", path, body, content_type=wire.FRAME_TYPE)
        return self._parse(wire.parse_push, response, "push a batch")  # type: ignore[no-any-return]

    async def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``, about ``limit`` entries."""
        key = (device_id, after, limit)
        page = self._take_held(key)
        if page is None:
            path, params = self._pull_request(key)
            page = self._hold(key, self._parse_pull(await self._call("pull", "GET", path, params=params)))
        return page

    async def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record how far the device has pulled."""
        await self._call(
            "record the pull cursor", "PUT", self._device_path(device_id, "cursor"), wire.cursor_request(seq)
        )

    async def close(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpSharedLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
