"""The shared log over HTTP: a client of ``syncengine serve``, sync and async, on httpx.

Each operation of the shared log is written once, as a *flow* without I/O (in the
manner of httpx's ``Auth.auth_flow``): a generator that yields the
:class:`httpx.Request` to send, is sent back the :class:`httpx.Response`, and
returns the operation's result. Requests and answers are encoded and decoded by
:mod:`syncengine._wire`, the module the server uses too. :class:`HttpSharedLog`
drives flows with an :class:`httpx.Client` and :class:`AsyncHttpSharedLog` with an
:class:`httpx.AsyncClient`; each runner only sends requests, inside a stamina
retry loop, and both keep their state (pages read ahead, clock samples) in the
base class they share.

Retrying is safe because every call is idempotent: a push names its batch, and the
server stores a (device, batch id) once. Connection errors, timeouts, 5xx and 429
are retried with exponential backoff and jitter (a ``Retry-After`` wait is
honoured); when the retries run out the call raises :class:`RemoteUnavailable`,
and since the sync marks entries shared only after a push succeeds, nothing local
is lost. Other refusals raise :class:`RemoteError` at once. No httpx exception
leaves this module.

Pushes go up and pulls come down in frames (raw payload bytes after a small JSON
header, :data:`~syncengine._wire.FRAME_TYPE`); an answer in JSON is read too.
Bodies are gzipped over a network, not to a server on this machine (a loopback
address), where compressing costs time and saves nothing.

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
import contextlib
import email.utils
import gzip
import ipaddress
import itertools
import logging
import socket
import ssl
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

import httpx
import stamina

from .. import _wire as wire
from ..errors import ConfigurationError, RemoteError, RemoteUnavailable
from ..model import DeviceInfo, PublishedState, PullResult, PushResult, ReceivedBatch, StoredKeyring, page_of

log = logging.getLogger("syncengine.remote")
logging.getLogger("stamina").addHandler(logging.NullHandler())  # its retry lines: ours say more (never printed bare)

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_MAX_RETRY_AFTER = 60.0
_SAMPLES = 8
_HELD_SECONDS = 5.0  # how long pages read ahead may wait for the pull that wants them
_AHEAD_ENTRIES = 8000  # read-ahead asks for at most this many entries (or one page, if larger)

_T = TypeVar("_T")
_Transport = TypeVar("_Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
_PullKey = tuple[str, int, int]  # device id, after, limit

Flow = Generator[httpx.Request, httpx.Response, _T]
"""An operation without I/O: yields the requests to send, is sent their answers, returns its result."""


_PUT_KEYRING = "store the keyring"


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


_FAILURES = (_Retryable, httpx.HTTPError)  # what a runner hands to the flow once it stops retrying


def _retry_hook(exc: Exception) -> bool | float:
    """Whether stamina should try again after ``exc``, or how many seconds to wait first."""
    if isinstance(exc, _Retryable):
        return exc.retry_after if exc.retry_after is not None else True
    return isinstance(exc, _TRANSIENT) and _lasting(exc) is None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _lasting(exc: BaseException) -> str | None:
    """What is wrong when trying again cannot help (a name no DNS knows, TLS that cannot work), else None."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "not trusted"
            return (
                f"its certificate was refused ({reason}): check the URL, "
                "or give the server a certificate this machine trusts"
            )
        if isinstance(cause, ssl.SSLError):
            if "WRONG_VERSION_NUMBER" in str(cause) or "record layer" in str(cause).lower():
                return (
                    "it does not speak https (is it an http:// server?): use an http:// URL, "
                    "or start the server with --certfile and --keyfile"
                )
            return f"the TLS handshake failed ({cause.reason or cause}): check the URL and the server's certificate"
        if isinstance(cause, socket.gaierror):
            return "its host name is not known (the name lookup failed): check the URL"
    text = str(exc)
    if isinstance(exc, httpx.ConnectError) and ("Name or service not known" in text or "nodename nor servname" in text):
        return "its host name is not known (the name lookup failed): check the URL"
    return None


def _passing(exc: BaseException) -> str:
    """Why a request that may work later failed, in words."""
    text = " ".join(str(exc).split())
    if isinstance(exc, httpx.ConnectTimeout):
        return "it did not accept a connection in time"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if any(isinstance(c, ConnectionRefusedError) for c in _causes(exc)) or "Connection refused" in text:
        return "nothing answers there (connection refused; is the server running?)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection broke off ({text or type(exc).__name__})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


def _message(response: httpx.Response) -> str:
    """The server's explanation of a refusal: its ``error`` text, else the reason phrase."""
    return wire.error_message(response.content) or response.reason_phrase


def _raise_if_transient(response: httpx.Response) -> None:
    """Raise :class:`_Retryable` for an answer a later attempt may not get (5xx, 429)."""
    status = response.status_code
    if status in _RETRY_STATUSES:
        raise _Retryable(status, f"{status} {_message(response)}", _retry_after(response.headers.get("retry-after")))


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
        pages.append((after, PullResult(page, page[-1].seq, True, left.count, answer.log_id)))
        after = page[-1].seq
        page, left = page_of(itertools.chain([left], rest), limit)
    last = PullResult(page, answer.cursor, answer.more, answer.next_count, answer.log_id)
    if pages and answer.more and not _ends_page(page, answer.next_count, limit):
        return pages
    pages.append((after, last))
    return pages


def _ends_page(page: list[ReceivedBatch], next_count: int | None, limit: int) -> bool:
    """Whether a batch of ``next_count`` entries would be left out of ``page`` (:func:`page_of`'s rule)."""
    if next_count is None:
        return False
    return sum(b.count for b in page) + next_count > limit or len(page) > limit


def _is_loopback(host: str) -> bool:
    """Whether the host is this machine (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Flows(Generic[_Transport]):
    """The shared-log API as flows without I/O, and the state they share; a runner subclasses it.

    A subclass opens its httpx client in :meth:`_open` and drives flows with a
    ``_run`` method; the operations themselves are the generators below.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        attempts: int = 6,
        retry_timeout: float = 120.0,
        compress_min_bytes: int | None = 64 * 1024,
        compress_loopback: bool = False,
        verify: Any = True,
        transport: _Transport | None = None,
        read_ahead: int = 8,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"not an http(s) URL: {url!r}")
        try:
            host = httpx.URL(url).host
        except httpx.InvalidURL as exc:
            raise ConfigurationError(f"not a valid URL: {url!r} ({exc})") from exc
        if not token:
            raise ConfigurationError(
                f"the shared log at {url} needs a device token: pass --token or set SYNCENGINE_TOKEN "
                "(create one with 'syncengine token create --remote SHARED_LOG --user NAME' on the server)"
            )
        if read_ahead < 1:
            raise ConfigurationError("read_ahead must be at least 1 (1: no read-ahead)")
        self.url = url.rstrip("/")
        self.read_ahead = read_ahead
        self._held: dict[_PullKey, PullResult] = {}  # pages read ahead, by the pull that wants each
        self._held_at = 0.0
        if not compress_loopback and _is_loopback(host):
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
        self._open(verify, transport)

    def _open(self, verify: Any, transport: _Transport | None) -> None:
        """Open the runner's httpx client."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- the operations ---------------------------------------------------------------

    def _register_device(self, device_id: str, name: str) -> Flow[DeviceInfo]:
        """Register the device for the token's user, or rename it."""
        what = "start the sync"
        request = self._request("PUT", self._device_path(device_id), body=wire.register_request(name))
        response = yield from self._exchange(what, request)
        return self._parse(lambda body: wire.parse_device(wire.loads(body)), response, what)

    def _devices(self) -> Flow[list[DeviceInfo]]:
        """Return the token's user's devices, oldest first."""
        response = yield from self._exchange("list devices", self._request("GET", f"{wire.API}/devices"))
        return self._parse(wire.parse_devices, response, "list devices")

    def _push(
        self, device_id: str, batch_id: str, payload: bytes, count: int, extra: Mapping[str, Any] | None
    ) -> Flow[PushResult]:
        """Append one batch; pushing it again (a retry) stores nothing new."""
        path = self._device_path(device_id, "batches", batch_id)
        body = wire.push_frames(payload, count, extra)
        response = yield from self._exchange("push a batch", self._request("PUT", path, body=body, frames=True))
        return self._parse(wire.parse_push, response, "push a batch")

    def _pull(self, device_id: str, after: int, limit: int) -> Flow[PullResult]:
        """Return other devices' batches after ``after``, about ``limit`` entries: a page read ahead, or a request."""
        key = (device_id, after, limit)
        page = self._take_held(key)
        if page is None:
            path, params = self._pull_request(key)
            response = yield from self._exchange("pull", self._request("GET", path, params))
            framed = wire.media_type(response.headers.get("content-type")) == wire.FRAME_TYPE
            parse = wire.parse_pull_frames if framed else wire.parse_pull
            page = self._hold(key, self._parse(parse, response, "pull"))
        return page

    def _forget_device(self, device_id: str) -> Flow[bool]:
        """Take the device out of the token's user's registry; whether it was there."""
        request = self._request("DELETE", self._device_path(device_id))
        try:
            yield from self._exchange("forget a device", request)
        except RemoteError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _mark_pulled(self, device_id: str, seq: int) -> Flow[None]:
        """Record how far the device has pulled."""
        request = self._request("PUT", self._device_path(device_id, "cursor"), body=wire.cursor_request(seq))
        yield from self._exchange("record the pull cursor", request)

    def _publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> Flow[None]:
        """Keep the device's digest of its synced state."""
        request = self._request("PUT", self._device_path(device_id, "state"), body=wire.state_request(position, digest))
        yield from self._exchange("publish the device's state", request)

    def _states(self) -> Flow[list[PublishedState]]:
        """Every device's latest digest."""
        response = yield from self._exchange("read the devices' states", self._request("GET", f"{wire.API}/states"))
        return self._parse(wire.parse_states, response, "read the devices' states")

    def _keyring(self) -> Flow[StoredKeyring | None]:
        """The user's wrapped keys, if the log is encrypted."""
        response = yield from self._exchange("read the keyring", self._request("GET", f"{wire.API}/keyring"))
        return self._parse(wire.parse_keyring, response, "read the keyring")

    def _put_keyring(self, body: str, revision: int) -> Flow[StoredKeyring]:
        """Store the wrapped keys if their revision is still ``revision``."""
        request = self._request("PUT", f"{wire.API}/keyring", body=wire.keyring_request(body, revision))
        response = yield from self._exchange(_PUT_KEYRING, request)
        stored = self._parse(wire.parse_keyring, response, _PUT_KEYRING)
        if stored is None:
            raise RemoteError(f"the shared log at {self.url} answered a keyring request without one")
        return stored

    # -- one request and its answer ---------------------------------------------------

    def _exchange(self, what: str, request: httpx.Request) -> Flow[httpx.Response]:
        """Have the runner send ``request``; return the successful answer, or raise what a failure means."""
        try:
            response = yield request
        except _FAILURES as exc:
            # the runner gave up and threw its last failure in here, where ``what`` is known
            raise self._unavailable(exc, what) from exc
        return self._check(response, what)

    def _request(
        self,
        method: str,
        path: str,
        params: dict[str, int] | None = None,
        *,
        body: bytes | None = None,
        frames: bool = False,
    ) -> httpx.Request:
        """Build a request to the server, with the client's headers and timeouts; a large body is gzipped."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = wire.FRAME_TYPE if frames else "application/json"
            if self.compress_min_bytes is not None and len(body) >= self.compress_min_bytes:
                # level 1: on a fast network a higher level costs more time than it saves
                body = gzip.compress(body, compresslevel=1, mtime=0)
                headers["Content-Encoding"] = "gzip"
        # a whole URL: httpx parses it once instead of merging a path, a base and parameters
        url = f"{self.url}{path}?{urlencode(params)}" if params else f"{self.url}{path}"
        return httpx.Request(method, url, headers=headers, content=body, extensions={"timeout": self.timeout.as_dict()})

    def _device_path(self, device_id: str, *rest: str) -> str:
        """The path of a device's resource, each segment escaped."""
        return "/".join([f"{wire.API}/devices", quote(device_id, safe=""), *(quote(r, safe="") for r in rest)])

    def _check(self, response: httpx.Response, what: str) -> httpx.Response:
        """Return a successful answer; raise RemoteError for a refusal (the runner has retried the others)."""
        status = response.status_code
        if status < 300:
            return response
        message = _message(response)
        if status == 401:
            raise RemoteError(
                f"the shared log at {self.url} refused the token ({message}); check --token or SYNCENGINE_TOKEN, "
                "or the token 'syncengine config' kept for this remote (replace it with config --token)",
                status=status,
                kind="auth",
            )
        if status == 413:
            raise RemoteError(
                f"the shared log at {self.url} refused to {what}: {message}; use smaller batches",
                status=status,
                kind="too_large",
            )
        if status == 403:  # a plain batch to an encrypted log
            raise RemoteError(f"the shared log at {self.url} refused to {what}: {message}", status=status, kind="encrypted")
        if status == 409 and what == _PUT_KEYRING:
            raise RemoteError(f"the shared log at {self.url} refused to {what}: {message}", status=status, kind="changed")
        if status == 404 and message == response.reason_phrase:  # no route: the server names what it lacks
            raise RemoteError(
                f"no shared-log server answers at {self.url} ({response.request.url.path}: {status} {message}): "
                "give the server's own address, http(s)://HOST[:PORT], with no path after it",
                status=status,
            )
        kind = "not_owned" if status == 409 else "error"
        raise RemoteError(
            f"the shared log at {self.url} refused to {what}: {status} {message}", status=status, kind=kind
        )

    def _unavailable(self, exc: Exception, what: str) -> RemoteError:
        """The error to raise for a request the runner could not get through."""
        if isinstance(exc, _Retryable):
            return RemoteUnavailable(
                f"the shared log at {self.url} could not {what}: it answered {exc} "
                "(gave up after retrying; nothing local was lost)"
            )
        lasting = _lasting(exc)
        if lasting is not None:
            return RemoteError(f"cannot reach the shared log at {self.url} to {what}: {lasting}")
        if isinstance(exc, _TRANSIENT):
            return RemoteUnavailable(
                f"cannot reach the shared log at {self.url} to {what}: {_passing(exc)} "
                "(gave up after retrying; nothing local was lost)"
            )
        return RemoteError(f"cannot {what} at {self.url}: {_passing(exc)}")

    @staticmethod
    def _parse(parse: Callable[[bytes], _T], response: httpx.Response, what: str) -> _T:
        """Decode an answer's body; a malformed one is a RemoteError."""
        try:
            return parse(response.content)
        except wire.WireError as exc:
            raise RemoteError(f"the shared log's answer to {what} is malformed: {exc}") from exc

    # -- for the runners: retries and the clock ---------------------------------------

    @contextlib.contextmanager
    def _telling(self, request: httpx.Request, attempt: Any) -> Iterator[None]:
        """Log a failed attempt that will be tried again: what failed, why, and when it is tried again (``-v``)."""
        try:
            yield
        except _FAILURES as exc:
            if _retry_hook(exc) and attempt.num < self.attempts:
                why = str(exc) if isinstance(exc, _Retryable) else _passing(exc)
                log.info(
                    "the shared log at %s did not answer %s %s (%s): trying again in %.1f s (attempt %d)",
                    self.url, request.method, request.url.path, why, attempt.next_wait, attempt.num + 1,
                )  # fmt: skip
            raise

    def _retries(self) -> Any:
        """A stamina retry loop for one request, sync or async (``for`` or ``async for``)."""
        return stamina.retry_context(
            on=_retry_hook,
            attempts=self.attempts,
            timeout=self.retry_timeout,
            wait_initial=0.2,
            wait_max=10.0,
            wait_jitter=0.5,
        )

    def _observe(self, response: httpx.Response, sent: float, received: float) -> None:
        """Take a clock sample from an answer's time stamp and update :attr:`clock_offset_ms`."""
        stamp = response.headers.get(wire.TIME_HEADER)
        if stamp is None or not stamp.isdigit():
            return
        offset = (sent + received) / 2 * 1000 - int(stamp)
        self._samples.append((received - sent, offset))
        self.clock_offset_ms = min(self._samples)[1]

    # -- read-ahead -------------------------------------------------------------------

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


class HttpSharedLog(_Flows[httpx.BaseTransport]):
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

    _client: httpx.Client

    def _open(self, verify: Any, transport: httpx.BaseTransport | None) -> None:
        self._client = httpx.Client(verify=verify, transport=transport)

    def _run(self, flow: Flow[_T]) -> _T:
        """Drive a flow to its result: send each request it yields, and give it the answer or the failure."""
        try:
            request = next(flow)
            while True:
                try:
                    response = self._send(request)
                except _FAILURES as exc:
                    request = flow.throw(exc)  # the flow knows what it was doing: it says what failed
                else:
                    request = flow.send(response)
        except StopIteration as done:
            result: _T = done.value
            return result

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send one request, and again while it fails in a way a later attempt may not (see :func:`_retry_hook`)."""
        for attempt in self._retries():
            with attempt, self._telling(request, attempt):
                sent = time.time()
                response = self._client.send(request)
                self._observe(response, sent, time.time())
                _raise_if_transient(response)
                return response
        raise AssertionError("unreachable: the retry loop returns or raises")

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Register the device for the token's user, or rename it."""
        return self._run(self._register_device(device_id, name))

    def devices(self) -> list[DeviceInfo]:
        """Return the token's user's devices, oldest first."""
        return self._run(self._devices())

    def push(
        self, device_id: str, batch_id: str, payload: bytes, count: int, extra: Mapping[str, Any] | None = None
    ) -> PushResult:
        """Append one batch; pushing it again (a retry) stores nothing new."""
        return self._run(self._push(device_id, batch_id, payload, count, extra))

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``, about ``limit`` entries."""
        return self._run(self._pull(device_id, after, limit))

    def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record how far the device has pulled."""
        self._run(self._mark_pulled(device_id, seq))

    def forget_device(self, device_id: str) -> bool:
        """Take the device out of the token's user's registry; whether it was there."""
        return self._run(self._forget_device(device_id))

    def publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> None:
        """Keep the device's digest of its synced state."""
        self._run(self._publish_state(device_id, position, digest))

    def states(self) -> list[PublishedState]:
        """Every device's latest digest."""
        return self._run(self._states())

    def keyring(self) -> StoredKeyring | None:
        """The user's wrapped keys, if the log is encrypted."""
        return self._run(self._keyring())

    def put_keyring(self, body: str, revision: int) -> StoredKeyring:
        """Store the wrapped keys if their revision is still ``revision`` (RemoteError ``changed`` if not)."""
        return self._run(self._put_keyring(body, revision))

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def __enter__(self) -> HttpSharedLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHttpSharedLog(_Flows[httpx.AsyncBaseTransport]):
    """The same client on :class:`httpx.AsyncClient`: every method is a coroutine.

    Takes the arguments of :class:`HttpSharedLog` (``transport`` being an async one).
    """

    _client: httpx.AsyncClient

    def _open(self, verify: Any, transport: httpx.AsyncBaseTransport | None) -> None:
        self._client = httpx.AsyncClient(verify=verify, transport=transport)

    async def _run(self, flow: Flow[_T]) -> _T:
        """Drive a flow to its result: send each request it yields, and give it the answer or the failure."""
        try:
            request = next(flow)
            while True:
                try:
                    response = await self._send(request)
                except _FAILURES as exc:
                    request = flow.throw(exc)  # the flow knows what it was doing: it says what failed
                else:
                    request = flow.send(response)
        except StopIteration as done:
            result: _T = done.value
            return result

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send one request, and again while it fails in a way a later attempt may not (see :func:`_retry_hook`)."""
        async for attempt in self._retries():
            with attempt, self._telling(request, attempt):
                sent = time.time()
                response = await self._client.send(request)
                self._observe(response, sent, time.time())
                _raise_if_transient(response)
                return response
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def register_device(self, device_id: str, name: str) -> DeviceInfo:
        """Register the device for the token's user, or rename it."""
        return await self._run(self._register_device(device_id, name))

    async def devices(self) -> list[DeviceInfo]:
        """Return the token's user's devices, oldest first."""
        return await self._run(self._devices())

    async def push(
        self, device_id: str, batch_id: str, payload: bytes, count: int, extra: Mapping[str, Any] | None = None
    ) -> PushResult:
        """Append one batch; pushing it again (a retry) stores nothing new."""
        return await self._run(self._push(device_id, batch_id, payload, count, extra))

    async def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        """Return other devices' batches after ``after``, about ``limit`` entries."""
        return await self._run(self._pull(device_id, after, limit))

    async def mark_pulled(self, device_id: str, seq: int) -> None:
        """Record how far the device has pulled."""
        await self._run(self._mark_pulled(device_id, seq))

    async def forget_device(self, device_id: str) -> bool:
        """Take the device out of the token's user's registry; whether it was there."""
        return await self._run(self._forget_device(device_id))

    async def publish_state(self, device_id: str, position: int, digest: Mapping[str, Any]) -> None:
        """Keep the device's digest of its synced state."""
        await self._run(self._publish_state(device_id, position, digest))

    async def states(self) -> list[PublishedState]:
        """Every device's latest digest."""
        return await self._run(self._states())

    async def keyring(self) -> StoredKeyring | None:
        """The user's wrapped keys, if the log is encrypted."""
        return await self._run(self._keyring())

    async def put_keyring(self, body: str, revision: int) -> StoredKeyring:
        """Store the wrapped keys if their revision is still ``revision``."""
        return await self._run(self._put_keyring(body, revision))

    async def close(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpSharedLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
