"""Joining: the new device's side of a pairing (see :mod:`._transfer` for the conversation).

A database that does not exist yet arrives as one file when the sender can make
one (SQLite to SQLite, see :mod:`._file`), and takes its path only once it is a
whole device; any other, or one that exists already, receives pages and sends its
own rows the other way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .. import crypto
from .._db import create_engine
from ..clock import Timestamp
from ..core import LogPlace
from ..errors import ConfigurationError, RemoteError, SyncEngineError
from ..store import LogState
from . import _file
from . import _tables as tables
from ._channel import Channel, connect
from ._code import PairingCode
from ._transfer import (
    _CODEC,
    PAGE,
    VERSION,
    PairReport,
    Progress,
    _ack,
    _check_cancel,
    _Meter,
    _receive_batches,
)

if TYPE_CHECKING:
    from ..device import Device
    from ..store import Tx


def join(
    db: str,
    code: str,
    *,
    name: str | None = None,
    timeout: float = 60.0,
    on_progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> PairReport:
    """Join the device that showed ``code``: make ``db`` a full device with every row it holds, with versions.

    ``db`` is created when absent, with the sender's synced tables; an existing
    database's tables must fit (SchemaError names the difference otherwise), and
    rows it already holds are sent the other way. See the module docstring.
    """
    from ..device import Device

    parsed = PairingCode.parse(code)
    started = time.monotonic()
    path = _sqlite_path(db)
    new = path if path is not None and not path.exists() else None
    if new is not None and not new.parent.is_dir():
        raise ConfigurationError(f"folder {str(new.parent)!r} does not exist (for SQLite file {str(new)!r})")
    channel = connect(parsed.host, parsed.port, parsed.pin, timeout)
    try:
        resume = _resume_point(db, parsed) if new is None else None
        arrived = _file.arrived(new, parsed.pin) if new is not None else 0
        channel.send(
            {
                "v": VERSION,
                "secret": parsed.secret.hex(),
                "resume": resume,
                "file": {"offset": arrived} if new is not None else None,
            }
        )
        welcome, _ = channel.receive()
        if "error" in welcome:
            raise RemoteError(f"the other device refused: {welcome['error']}")
        if new is not None:
            _file.tidy(new, parsed.pin, keep=bool(welcome.get("file")))
            if welcome.get("file"):
                return _join_whole(channel, welcome, new, parsed.pin, name, on_progress, cancel, started)
        engine = create_engine(db)
        made: list[str] = []
        try:
            made = tables.check_or_create(engine, welcome["tables"])
            device = Device.init(engine, list(welcome["tables"]), name=name)
        except BaseException:
            tables.discard(engine, made)  # a join refused leaves the database as it was
            engine.dispose()
            raise
        try:
            sender_id = str(welcome["device_id"])
            with device.store.begin() as tx:
                tx.stamp(device.device_id)
                mine = tx.counts().get(LogState.UNSHARED, 0)  # this database's rows, as its own inserts
                _observe(tx, device.device_id, welcome)  # past every version to come
                earlier = tx.setting("joining")
                if resume is not None and isinstance(earlier, dict):
                    fresh = frozenset(earlier.get("fresh") or ())
                else:
                    fresh = frozenset(t for t in device.tables if tx.is_fresh(t))
                    tx.set_setting("joining", {"pin": parsed.pin.hex(), "fresh": sorted(fresh)})
            channel.send({"kind": "ready", "device_id": device.device_id, "name": device.name, "entries": mine})
            first = _order(channel)
            report = PairReport(device.device_id, device.name, resumed=resume is not None, tables_created=made)
            pin = parsed.pin.hex()

            def note(header: dict[str, Any]) -> Callable[[Any], None]:
                point = {"pin": pin, "fresh": sorted(fresh), "table": header.get("table"), "after": header.get("after")}
                return lambda tx: tx.set_setting("joining", point)

            for turn in (first, "sender" if first == "joiner" else "joiner"):
                if turn == "sender":
                    meter = _Meter("receiving", int(welcome.get("rows") or 0), channel, on_progress)
                    _receive_batches(channel, device, sender_id, meter, report, cancel, note, fresh)
                else:
                    _send_own(channel, device, mine, report, on_progress, cancel)
            _done(channel)
            with device.store.begin() as tx:
                _take_place(tx, welcome)
                tx.set_setting("joining", None)
            report.key_id = _adopt_keys(device, welcome)
            report.seconds = time.monotonic() - started
            report.bytes = channel.sent_bytes + channel.received_bytes
            return report
        finally:
            device.close()
    finally:
        channel.close()


def _join_whole(
    channel: Channel,
    welcome: dict[str, Any],
    path: Path,
    pin: bytes,
    name: str | None,
    on_progress: Progress | None,
    cancel: threading.Event | None,
    started: float,
) -> PairReport:
    """Receive the sender's snapshot file, make it a device, and move it to ``path``."""
    from ..device import Device

    offer, shapes = welcome["file"], welcome["tables"]
    size, start, total = int(offer["bytes"]), int(offer.get("from") or 0), int(welcome.get("rows") or 0)
    if start == 0:
        _file.discard(path, pin)  # what arrived before is not part of this file
    report = PairReport("", name or "", resumed=start > 0, tables_created=list(shapes))
    channel.send({"kind": "ready", "device_id": None, "name": name, "entries": 0})
    first = _order(channel)
    meter = _Meter(
        "receiving", _file.rows_at(total, size, size) - _file.rows_at(total, size, start), channel, on_progress
    )

    def chunk(begin: int, end: int) -> None:
        rows = _file.rows_at(total, size, end) - _file.rows_at(total, size, begin)
        report.received += rows
        meter.add(rows)

    whole = None
    for turn in (first, "sender" if first == "joiner" else "joiner"):
        if turn == "sender":
            whole = _file.receive(channel, path, pin, size, chunk, cancel)
        else:
            channel.send({"kind": "end"})  # no rows of its own
    if whole is None:
        raise RemoteError("the other device sent no file")
    _file.check(whole, shapes)
    device = Device.init(str(whole), list(shapes), name=name, snapshot=False)
    try:
        with device.store.begin() as tx:
            _observe(tx, device.device_id, welcome)
            _take_place(tx, welcome)
        report.device_id, report.name = device.device_id, device.name
    finally:
        device.close()
    channel.send({"kind": "done", "device_id": report.device_id, "name": report.name})
    _bye(channel)
    _file.place(whole, path)
    device = Device.open(str(path))
    try:
        report.key_id = _adopt_keys(device, welcome)
    finally:
        device.close()
    report.seconds = time.monotonic() - started
    report.bytes = channel.sent_bytes + channel.received_bytes
    return report


def _order(channel: Channel) -> str:
    order, _ = channel.receive()
    if order.get("kind") != "order":
        raise RemoteError(f"the other device broke off: {order.get('error') or order}")
    return str(order["first"])


def _done(channel: Channel) -> None:
    channel.send({"kind": "done"})
    _bye(channel)


def _bye(channel: Channel) -> None:
    bye, _ = channel.receive()
    if bye.get("kind") != "bye":
        raise RemoteError(f"the other device broke off: {bye.get('error') or bye}")


def _observe(tx: Tx, device_id: str, welcome: dict[str, Any]) -> None:
    """Move the device's clock past the sender's, so its next writes are newer than every version it received."""
    wall, counter = welcome.get("clock") or [0, 0]
    clock = tx.clock(device_id)
    clock.observe(Timestamp(int(wall), int(counter), str(welcome["device_id"])).encode())
    tx.save_clock(clock)


def _take_place(tx: Tx, welcome: dict[str, Any]) -> None:
    """Take the sender's place in the shared log (at the position its rows reflect) and its remote settings."""
    if welcome.get("log"):
        tx.enter_log(str(welcome["log"]["log_id"]), LogPlace(int(welcome["log"]["cursor"]), None))
    if welcome.get("remote"):
        tx.set_setting("remote", welcome["remote"])


def _adopt_keys(device: Device, welcome: dict[str, Any]) -> str | None:
    """Keep the encryption keys the sender handed over; return the current key's id (None: none came)."""
    handed = welcome.get("keys")
    if not handed:
        return None
    keys = {str(k): bytes.fromhex(str(v)) for k, v in handed["keys"].items()}
    return crypto.adopt(device.store, str(handed["keyring"]), keys).key_id


def _send_own(
    channel: Channel,
    device: Device,
    total: int,
    report: PairReport,
    on_progress: Progress | None,
    cancel: threading.Event | None,
) -> None:
    """Send this database's stamped, unshared entries (its rows, as its own inserts); they stay unshared here."""
    meter = _Meter("sending", total, channel, on_progress)
    after = 0
    while True:
        _check_cancel(cancel)
        with device.store.read() as tx:
            rows = tx.unshared(after, PAGE)
        if not rows:
            break
        channel.send({"kind": "batch", "count": len(rows)}, _CODEC.encode(rows))
        _ack(channel)
        report.sent += len(rows)
        meter.add(len(rows))
        after = rows[-1].id
    channel.send({"kind": "end"})


def _sqlite_path(db: str) -> Path | None:
    """The file of an SQLite database given as a path or URL (None for a server's database)."""
    if "://" not in db:
        return Path(db).expanduser() if db not in ("", ":memory:") else None
    url = sa.engine.make_url(db)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.database.startswith("file:"):
        return None
    return Path(url.database).expanduser()


def _resume_point(db: str, code: PairingCode) -> dict[str, Any] | None:
    """Where an earlier join of ``db`` with this code stopped, if it did."""
    from ..device import Device

    path = _sqlite_path(db)
    if path is not None and not path.exists():
        return None
    try:
        device = Device.open(db)
    except SyncEngineError:
        return None
    try:
        point = device.setting("joining")
    finally:
        device.close()
    if isinstance(point, dict) and point.get("pin") == code.pin.hex() and point.get("table"):
        return {"table": point["table"], "after": point.get("after")}
    return None
