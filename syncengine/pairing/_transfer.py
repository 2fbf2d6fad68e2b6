"""Pairing: one device sends a new device every row with its versions, over a channel the code pins.

The conversation, after the joiner checked the sender's certificate (``_channel``)::

    joiner → hello    {secret, resume: {table, after} | null, file: {offset} | null}
    sender → welcome  {tables, rows, device_id, name, clock, log: {log_id, cursor} | null, remote,
                       keys: {keyring, keys} | null, file: {bytes, from} | null}  (or {error})
    joiner → ready    {device_id, name, entries}      (its rows, stamped as its own inserts)
    sender → order    {first: "sender" | "joiner"}    (the smaller side sends first)
    each side in turn → batch {table?, after?, count} + payload … end   (or file {offset} + bytes … end {sha256})
                 the other ← ack after each batch (written; committed at the latest a second later)
    joiner → done {device_id?, name?};  sender → bye

The sender's rows travel as pages of registers and cells (see ``store/_snapshot``),
read a page per transaction (no long lock on the sender's database); the joiner's
own rows travel as the inserts it stamped. Each side merges what it receives by the
usual rules (conflicts are recorded where real: the sender meets the joiner's
inserts as inserts); a table the joiner knew nothing of takes its pages as they
come. The joiner records in the same transaction how far it got, so joining again
with the same code resumes there. Only when everything arrived does it take the
sender's place in the shared log (its cursor at the position the sender's state
reflects, so its first sync fetches only what came after) and the sender's remote
settings (never a token).

A joiner whose SQLite database does not exist yet asks for a file instead
(``file``): an SQLite sender answers with one snapshot file of its synced tables and
registers, made in one transaction (see ``_file``), which the joiner receives whole,
makes a device of its own, and only then moves to its database's path (its device id
goes in ``done``). Rows inserted one by one were most of a join's time.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from .. import _gc, crypto
from .._codec import codec_for
from .._integrate import integrate_entries, review_policy
from ..errors import ConfigurationError, DatabaseError, RemoteError, RemoteUnavailable, SyncCancelled
from ..model import Entry
from ..options import SyncOptions
from ..serializer import JsonSerializer
from ..store import read_page, reflect
from . import _file
from . import _tables as tables
from ._channel import Channel, server_context
from ._code import PairingCode

if TYPE_CHECKING:
    from ..device import Device

log = logging.getLogger("syncengine")

PAGE = 5000
"""Rows a batch carries, at most."""
PAGE_BYTES = 4 << 20
"""A snapshot page grows (doubling, from 8 rows up to :data:`PAGE`) while it stays under this many bytes
and halves when it passes them, so large rows travel a few at a time and memory stays bounded."""
COMMIT_SECONDS = 1.0
"""How long a joiner writes snapshot pages into one transaction, at most, while the next page is already
waiting; when it is not, the joiner commits before it waits. A commit costs a few fsyncs (a third of a
join's time when every page committed); a stop loses at most this much work, and joining again resumes
at the first page not committed."""
WINDOW = 3
"""Batches sent before the first is acknowledged: the sender reads the next pages while the joiner writes."""
FILES = True
"""Whether a sender sends a joiner whose SQLite database does not exist yet one whole file (see ``_file``), when it
can; otherwise, and to any other joiner, pages."""
VERSION = 2
MAX_WRONG = 5
"""Wrong secrets a pairing takes before it stops listening."""

Direction = Literal["sending", "receiving"]


@dataclass(frozen=True, slots=True)
class PairProgress:
    """How a transfer stands: sent to :attr:`Pairing.serve`'s and :func:`join`'s ``on_progress``."""

    direction: Direction
    rows: int
    total: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def left(self) -> float | None:
        """Seconds left at the current rate (None until known)."""
        rate = self.rate
        return (self.total - self.rows) / rate if rate > 0 and self.total >= self.rows else None


@dataclass(slots=True)
class PairReport:
    """What a pairing did, on either side."""

    device_id: str
    """The joiner's device id."""
    name: str
    sent: int = 0
    """Rows this side sent."""
    received: int = 0
    """Rows this side received."""
    conflicts: int = 0
    seconds: float = 0.0
    bytes: int = 0
    resumed: bool = False
    tables_created: list[str] = field(default_factory=list)
    key_id: str | None = None
    """The encryption key the joiner received with the rows (None: the sender does not encrypt)."""

    def as_json(self) -> dict[str, Any]:
        """Return the JSON form the command line prints."""
        return {
            "device_id": self.device_id,
            "name": self.name,
            "sent": self.sent,
            "received": self.received,
            "conflicts": self.conflicts,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "resumed": self.resumed,
            "tables_created": list(self.tables_created),
            "key_id": self.key_id,
        }


Progress = Callable[[PairProgress], None]
_CODEC = codec_for(JsonSerializer())


class _Meter:
    def __init__(self, direction: Direction, total: int, channel: Channel, on_progress: Progress | None) -> None:
        self.direction, self.total, self.channel, self.on_progress = direction, total, channel, on_progress
        self.rows = 0
        self.started = time.monotonic()

    def add(self, rows: int) -> None:
        self.rows += rows
        if self.on_progress is not None:
            moved = self.channel.sent_bytes if self.direction == "sending" else self.channel.received_bytes
            self.on_progress(
                PairProgress(self.direction, self.rows, self.total, moved, time.monotonic() - self.started)
            )


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise SyncCancelled("the transfer was cancelled; what arrived is kept (join again with the same code to go on)")


def _integrate(device: Device, entries: list[Entry], extra: Callable[[Any], None] | None = None) -> int:
    """Merge received entries into ``device`` in one transaction; return the conflicts found."""
    if not entries:
        return 0
    with device.store.begin() as tx, tx.applying():
        tx.stamp(device.device_id)  # local writes first, as a sync does
        clock = tx.clock(device.device_id)
        clock.observe(max(e.version for e in entries))
        review = review_policy(tx.settings("review"), tuple(device.store.catalog))
        result = integrate_entries(tx, device.device_id, entries, SyncOptions(), review)
        tx.save_clock(clock)
        if extra is not None:
            extra(tx)
    return result.found


def _receive_batches(
    channel: Channel,
    device: Device,
    sender_id: str,
    meter: _Meter,
    report: PairReport,
    cancel: threading.Event | None,
    note: Callable[[dict[str, Any]], Callable[[Any], None] | None] | None = None,
    fresh: frozenset[str] = frozenset(),
) -> None:
    """Take batches until the peer says end; each is written and committed before it is acknowledged.

    A snapshot page of a table in ``fresh`` (sync knew nothing of it here when the
    transfer began) is written as it comes, several to a transaction (``_FreshWriter``);
    any other is merged by the usual rules, a transaction each.
    """
    with _FreshWriter(device) as writer:
        while True:
            _check_cancel(cancel)
            with _gc.paused():  # a page's objects die with it (see syncengine._gc): a third of decoding's time
                header, payload = channel.receive()
                if header.get("kind") == "end":
                    return
                count = _take(header, payload, device, sender_id, report, writer, note, fresh)
            if writer.open and (time.monotonic() - writer.began >= COMMIT_SECONDS or not channel.waiting()):
                writer.commit()
            report.received += count
            meter.add(count)
            channel.send({"kind": "ack"})


def _take(
    header: dict[str, Any],
    payload: bytes,
    device: Device,
    sender_id: str,
    report: PairReport,
    writer: _FreshWriter,
    note: Callable[[dict[str, Any]], Callable[[Any], None] | None] | None,
    fresh: frozenset[str],
) -> int:
    """Write one received batch; return its rows."""
    kind = header.get("kind")
    extra = note(header) if note is not None else None
    if kind == "snapshot":
        try:
            document = read_page(payload)
        except ValueError as exc:
            raise RemoteError(f"the other device sent a malformed page: {exc}") from exc
        table = str(document.get("table"))
        if table not in device.store.catalog:
            raise RemoteError(f"the other device sent rows of {table!r}, which is not synced here")
        if table in fresh:
            return writer.write(table, document, extra)
        writer.commit()
        with device.store.read() as tx:
            entries = tx.snapshot_entries(table, sender_id, document)
        report.conflicts += _integrate(device, entries, extra)
        return len(entries)
    if kind == "batch":
        writer.commit()
        entries, bad = _CODEC.decode(payload, sender_id)
        if bad:
            raise RemoteError(f"the other device sent a malformed batch: {bad[0][0]}")
        report.conflicts += _integrate(device, entries, extra)
        return len(entries)
    raise RemoteError(f"the other device broke off: {header.get('error') or header}")


class _FreshWriter:
    """Writes snapshot pages into fresh tables, several to a transaction (capture off).

    The caller commits (see :data:`COMMIT_SECONDS`). A page is acknowledged once
    written, before its transaction commits: should the joiner stop, the uncommitted
    pages roll back with the resume point written beside them, so joining again asks
    for them again.
    """

    def __init__(self, device: Device) -> None:
        self.device = device
        self.stack: contextlib.ExitStack | None = None
        self.tx: Any = None
        self.began = 0.0

    @property
    def open(self) -> bool:
        """Whether pages wait in a transaction not committed yet."""
        return self.stack is not None

    def write(self, table: str, document: dict[str, Any], extra: Callable[[Any], None] | None) -> int:
        if self.stack is None:
            self.stack = contextlib.ExitStack()
            self.tx = self.stack.enter_context(self.device.store.begin())
            self.stack.enter_context(self.tx.applying())
            self.began = time.monotonic()
        count = int(self.tx.load_fresh(table, document))
        if extra is not None:
            extra(self.tx)
        return count

    def commit(self) -> None:
        if self.stack is not None:
            stack, self.stack, self.tx = self.stack, None, None
            stack.close()

    def __enter__(self) -> _FreshWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.stack is not None:
            stack, self.stack = self.stack, None
            stack.__exit__(exc_type, exc, tb)


def _ack(channel: Channel) -> None:
    header, _ = channel.receive()
    if header.get("kind") != "ack":
        raise RemoteError(f"the other device broke off: {header.get('error') or header}")


# -- the sender -----------------------------------------------------------------------


_FOLDER = ".syncengine-pairing-"


def _lock(folder: Path) -> Any:
    """Mark a pairing's folder as in use; the operating system lets go when the process ends, however it ends."""
    from filelock import FileLock

    lock = FileLock(str(folder / "in-use.lock"), timeout=0)
    lock.acquire()
    return lock


def _sweep(parent: Path) -> None:
    """Remove the snapshot folders of pairings whose process was killed (a million rows leave about 235 MB)."""
    from filelock import Timeout

    for folder in parent.glob(_FOLDER + "*"):
        marked = (folder / "in-use.lock").exists()  # a folder is marked as soon as it is made
        if not folder.is_dir() or (not marked and time.time() - folder.stat().st_mtime < 60):  # being made now
            continue
        try:
            lock = _lock(folder)
        except (Timeout, OSError):
            continue  # a pairing in another process still serves from it
        try:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("removed %s, left by a pairing that did not end", folder)
        finally:
            lock.release()


class Pairing:
    """A device waiting for one new device to join it: show :attr:`code`, then :meth:`serve`.

    The code works once (until a transfer succeeds), for ``timeout`` seconds, and
    stops working after :data:`MAX_WRONG` wrong secrets. A joiner that drops out may
    join again with the same code while it works; it resumes where it stopped.
    """

    def __init__(
        self, device: Device, *, host: str | None = None, port: int = 0, timeout: float = 600.0, idle: float = 60.0
    ) -> None:
        self.device = device
        self.idle = idle
        self.context, fingerprint = server_context()
        bind = host or "0.0.0.0"
        try:
            self.listener = socket.create_server((bind, port))
        except OSError as exc:
            raise ConfigurationError(f"cannot listen on {bind}:{port} ({exc.strerror or exc})") from exc
        self.listener.settimeout(0.2)
        shown = host if host not in (None, "0.0.0.0", "") else _lan_address()
        self.code = PairingCode.new(shown or "127.0.0.1", self.listener.getsockname()[1], fingerprint)
        self.deadline = time.monotonic() + timeout
        self.used = False
        self.wrong = 0
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.whole: tuple[dict[str, Any], _file.Snapshot] | None = None
        self.in_use: Any = None  # the lock that marks this pairing's folder as in use (see _sweep)
        _sweep(self._home())  # what a killed pairing left, whatever this one's joiner turns out to need

    def close(self) -> None:
        """Stop listening: the code no longer works (and a snapshot file made for it is removed)."""
        self.listener.close()
        if self.folder is not None:
            self.folder.cleanup()
            self.folder, self.whole = None, None
        if self.in_use is not None:
            self.in_use.release()
            self.in_use = None

    def serve(self, *, on_progress: Progress | None = None, cancel: threading.Event | None = None) -> PairReport:
        """Wait for the joiner and send it everything; return when a transfer succeeded.

        Raises RemoteUnavailable when the code expires (or takes too many wrong
        secrets) first, SyncCancelled when ``cancel`` is set.
        """
        try:
            while True:
                _check_cancel(cancel)
                if time.monotonic() > self.deadline:
                    raise RemoteUnavailable("the pairing code expired before a device joined; make a new one")
                try:
                    raw, peer = self.listener.accept()
                except TimeoutError:
                    continue
                try:
                    channel = Channel(self.context.wrap_socket(raw, server_side=True), self.idle)
                except (OSError, ssl.SSLError) as exc:
                    raw.close()
                    log.info("pairing: a connection from %s failed: %s", peer[0], exc)
                    continue
                try:
                    report = self._session(channel, on_progress, cancel)
                except _Refused:
                    if self.wrong >= MAX_WRONG:
                        raise RemoteError(
                            f"{self.wrong} tries with a wrong code: the pairing stopped; make a new one"
                        ) from None
                    continue
                except (RemoteError, OSError) as exc:
                    log.warning("pairing: the transfer to %s stopped: %s; the code still works", peer[0], exc)
                    continue
                finally:
                    channel.close()
                self.used = True
                return report
        finally:
            self.close()

    def _session(self, channel: Channel, on_progress: Progress | None, cancel: threading.Event | None) -> PairReport:
        device = self.device
        hello, _ = channel.receive()
        secret = bytes.fromhex(str(hello.get("secret", ""))) if _is_hex(hello.get("secret")) else b""
        if not hmac.compare_digest(secret, self.code.secret):
            self.wrong += 1
            channel.send({"error": "wrong pairing code: check it, or ask the other device for a new one"})
            raise _Refused
        if hello.get("v") != VERSION:
            channel.send({"error": "this device speaks another version of pairing; update syncengine on both"})
            raise _Refused
        started = time.monotonic()
        resume = hello.get("resume") or None
        with device.engine.connect() as conn:
            shapes = tables.describe_all(conn, reflect(conn, list(device.tables)))
        asked = hello.get("file")  # the joiner's database does not exist yet: it can take a whole file
        whole = None
        if isinstance(asked, dict) and FILES and _file.can_send(device):
            try:
                whole = self._snapshot(shapes)
            except (DatabaseError, OSError) as exc:  # (a full disk, say): pages need no room
                log.warning("pairing: cannot make a snapshot file (%s); sending pages", exc)
        if whole is not None:
            start = int(asked.get("offset") or 0) if isinstance(asked, dict) else 0
            start = start if 0 <= start <= whole.size else 0  # (not this file's part: from the start)
            totals, log_id, cursor, clock = whole.rows, whole.log, whole.cursor, whole.clock
        else:
            with device.store.begin() as tx:
                tx.stamp(device.device_id)  # the state sent must hold every captured write
            with device.store.read() as tx:
                totals = {t: tx.registers_count(t) for t in device.tables}
                log_id, cursor = tx.setting("log"), int(tx.setting("cursor", 0))
                now = tx.clock(device.device_id)
                clock = [now.wall_ms, now.counter]
        remote = device.setting("remote")
        held = crypto.held_keys(device.store)  # an encrypting sender hands its keys over: no passphrase to type
        channel.send(
            {
                "v": VERSION,
                "tables": shapes,
                "rows": sum(totals.values()),
                "device_id": device.device_id,
                "name": device.name,
                "clock": clock,  # past every version the rows carry
                "log": {"log_id": log_id, "cursor": cursor} if log_id is not None else None,
                "remote": _shareable(remote),
                "keys": {"keyring": held[0], "keys": {k: v.hex() for k, v in held[1].items()}} if held else None,
                "file": {"bytes": whole.size, "from": start} if whole is not None else None,
            }
        )
        ready, _ = channel.receive()
        if ready.get("kind") != "ready":
            raise RemoteError(f"the joiner broke off: {ready.get('error') or ready}")
        joiner_id, name = str(ready.get("device_id") or ""), str(ready.get("name") or "")
        report = PairReport(joiner_id, name, resumed=resume is not None or (whole is not None and start > 0))
        report.key_id = crypto.Keyring.loads(held[0]).current if held else None  # the key handed over, as the joiner says
        theirs = int(ready.get("entries") or 0)
        first = "joiner" if theirs < sum(totals.values()) else "sender"
        channel.send({"kind": "order", "first": first})
        for turn in (first, "sender" if first == "joiner" else "joiner"):
            if turn == "sender" and whole is not None:
                self._send_file(channel, whole, start, report, on_progress, cancel)
            elif turn == "sender":
                self._send_state(channel, totals, resume, report, on_progress, cancel)
            else:
                meter = _Meter("receiving", theirs, channel, on_progress)
                _receive_batches(channel, device, joiner_id, meter, report, cancel)
        done, _ = channel.receive()
        if done.get("kind") != "done":
            raise RemoteError(f"the joiner broke off: {done.get('error') or done}")
        if done.get("device_id"):  # a joiner that arrived as a file has its id only now
            report.device_id, report.name = str(done["device_id"]), str(done.get("name") or name)
            joiner_id, name = report.device_id, report.name
        channel.send({"kind": "bye"})
        report.seconds = time.monotonic() - started
        report.bytes = channel.sent_bytes + channel.received_bytes
        log.info("pairing: %s (%s) joined: %d rows sent, %d received", name, joiner_id, report.sent, report.received)
        return report

    def _home(self) -> Path:
        """Where this pairing's snapshot folder goes: beside the database (a copy of part of it), else the temp folder."""
        home = self.device.engine.url.database or ""
        beside = home not in ("", ":memory:") and not home.startswith("file:")
        return Path(home).expanduser().parent if beside else Path(tempfile.gettempdir())

    def _snapshot(self, shapes: dict[str, Any]) -> _file.Snapshot:
        """The snapshot file of this pairing, made at the first joiner that asks (kept for one that comes back)."""
        if self.whole is None or self.whole[0] != shapes:
            if self.folder is None:  # readable by its owner only
                parent = self._home()
                _sweep(parent)
                self.folder = tempfile.TemporaryDirectory(prefix=_FOLDER, dir=parent)
                self.in_use = _lock(Path(self.folder.name))
            self.whole = (shapes, _file.Snapshot(self.device, shapes, Path(self.folder.name)))
        return self.whole[1]

    def _send_file(
        self,
        channel: Channel,
        whole: _file.Snapshot,
        start: int,
        report: PairReport,
        on_progress: Progress | None,
        cancel: threading.Event | None,
    ) -> None:
        meter = _Meter("sending", whole.total - whole.rows_at(start), channel, on_progress)

        def acked(rows: int) -> None:
            report.sent += rows
            meter.add(rows)

        _file.send(channel, whole, start, WINDOW, acked, cancel)

    def _send_state(
        self,
        channel: Channel,
        totals: dict[str, int],
        resume: dict[str, Any] | None,
        report: PairReport,
        on_progress: Progress | None,
        cancel: threading.Event | None,
    ) -> None:
        device = self.device
        names = list(device.tables)
        start = names.index(resume["table"]) if resume and resume.get("table") in names else 0
        meter = _Meter("sending", sum(totals.values()), channel, on_progress)
        in_flight: list[int] = []  # rows of the pages sent and not yet acknowledged, oldest first
        limit = 8
        for index, name in enumerate(names[start:], start):
            after = str(resume.get("after") or "") if resume and index == start else ""
            while True:
                _check_cancel(cancel)
                with _gc.paused(), device.store.begin() as tx:  # a page a transaction: the sender works on
                    tx.stamp(device.device_id)
                    payload, last, count = tx.snapshot_page(name, after, limit)
                if payload is None or last is None:
                    break
                if len(payload) > PAGE_BYTES:
                    limit = max(1, limit // 2)
                elif len(payload) < PAGE_BYTES // 4:
                    limit = min(PAGE, limit * 2)
                channel.send({"kind": "snapshot", "table": name, "after": last, "count": count}, payload)
                in_flight.append(count)
                if len(in_flight) >= WINDOW:
                    self._acked(channel, in_flight, report, meter)
                after = last
        while in_flight:
            self._acked(channel, in_flight, report, meter)
        channel.send({"kind": "end"})

    @staticmethod
    def _acked(channel: Channel, in_flight: list[int], report: PairReport, meter: _Meter) -> None:
        _ack(channel)
        done = in_flight.pop(0)
        report.sent += done
        meter.add(done)


def _shareable(remote: Any) -> dict[str, Any] | None:
    """The remote settings a joiner takes: the URL without a password (a token never was among them) and the user."""
    if not isinstance(remote, dict) or not remote.get("url"):
        return None
    url = str(remote["url"])
    if "://" in url:
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            parsed = None
        if parsed is not None and parsed.password:
            bare = sa.engine.URL.create(
                parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query
            )
            url = bare.render_as_string(hide_password=False)
    return {"url": url, "user": remote.get("user")}


class _Refused(Exception):
    """A joiner with a wrong code (answered and dropped)."""


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and len(value) % 2 == 0 and all(c in "0123456789abcdef" for c in value)


def _lan_address() -> str | None:
    """This machine's address on the network it would use to reach others (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed; connect() only picks the interface
            return str(probe.getsockname()[0])
    except OSError:
        return None
