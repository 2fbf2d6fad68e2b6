"""A new SQLite database joins whole: it arrives as one file, made a device before it takes its place.

When the joiner's database does not exist yet and both devices are SQLite, the
sender copies its synced tables and their registers into a snapshot file
(``store.write_file``: SQLite copies the records as they are, with no row
inserted one by one on either side) and sends it in chunks. The joiner appends
them to a partial file beside the database, named after the code, so joining
again with the same code goes on from its size. Once the file is whole and its
SHA-256 is the sender's (both sides compute it on the way), the joiner checks that it holds the described tables
and nothing else, makes it a device of its own (a new device id), and moves it to
the database's path last: until then nothing exists there, and a stop or a crash
leaves at most a partial file that the next join resumes or removes.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import sqlalchemy as sa

from ..errors import ConfigurationError, DatabaseError, RemoteError, SyncCancelled
from ..store import can_write_file, registers_fit, write_file
from . import _tables as tables
from ._channel import Channel

CHUNK = 1 << 20
"""Bytes of the file a message carries."""

if TYPE_CHECKING:
    from ..device import Device


class Snapshot:
    """A snapshot file a sender made for one pairing, kept until the pairing ends (a joiner may come back)."""

    def __init__(self, device: Device, shapes: Mapping[str, Mapping[str, Any]], folder: Path) -> None:
        self.path = folder / "snapshot.sqlite"
        metadata = sa.MetaData(schema="snap")
        made = [tables.build(name, doc, metadata) for name, doc in shapes.items()]
        try:
            with device.store.translated():
                found = write_file(device.engine, device.store.catalog, device.device_id, self.path, made)
        except BaseException:
            self.path.unlink(missing_ok=True)
            raise
        self.rows: dict[str, int] = found["rows"]
        self.log: str | None = found["log"]
        self.cursor: int = found["cursor"]
        self.clock: list[int] = found["clock"]
        self.size = self.path.stat().st_size

    @property
    def total(self) -> int:
        """Rows (registers) the file holds."""
        return sum(self.rows.values())

    def rows_at(self, offset: int) -> int:
        """Rows that ``offset`` bytes of the file stand for (see :func:`rows_at`)."""
        return rows_at(self.total, self.size, offset)


def rows_at(total: int, size: int, offset: int) -> int:
    """Rows that ``offset`` of the ``size`` bytes of a file of ``total`` rows stand for, for progress."""
    return total * offset // size if size else 0


def can_send(device: Device) -> bool:
    """Whether this device can send a snapshot file."""
    return can_write_file(device.engine, device.store.catalog)


def send(
    channel: Channel,
    snapshot: Snapshot,
    offset: int,
    window: int,
    on_acked: Callable[[int], None],
    cancel: threading.Event | None,
) -> None:
    """Send the file from ``offset``, ``window`` chunks ahead of the acknowledgements; ``on_acked(rows)`` after each.

    The end message carries the whole file's SHA-256, computed on the way (the joiner
    computes its own as it writes, from the start of its partial file).
    """
    in_flight: list[int] = []
    digest = hashlib.sha256()
    with snapshot.path.open("rb") as source:
        _digest_of(source, offset, digest)
        while True:
            if cancel is not None and cancel.is_set():
                raise SyncCancelled("the transfer was cancelled")
            data = source.read(CHUNK)
            if not data:
                break
            digest.update(data)
            channel.send({"kind": "file", "offset": offset}, data)
            end = offset + len(data)
            in_flight.append(snapshot.rows_at(end) - snapshot.rows_at(offset))
            offset = end
            if len(in_flight) >= window:
                _ack(channel)
                on_acked(in_flight.pop(0))
    while in_flight:
        _ack(channel)
        on_acked(in_flight.pop(0))
    channel.send({"kind": "end", "sha256": digest.hexdigest()})


def _ack(channel: Channel) -> None:
    header, _ = channel.receive()
    if header.get("kind") != "ack":
        raise RemoteError(f"the other device broke off: {header.get('error') or header}")


# -- the joiner ------------------------------------------------------------------------


def partial(path: Path, pin: bytes) -> Path:
    """Where the file for ``path`` arrives when joining with the code of ``pin``."""
    return path.with_name(f"{path.name}.joining-{pin.hex()[:12]}")


def arrived(path: Path, pin: bytes) -> int:
    """How much of the file an earlier join of ``path`` with this code received."""
    mine = partial(path, pin)
    return mine.stat().st_size if mine.exists() else 0


def tidy(path: Path, pin: bytes, *, keep: bool) -> None:
    """Remove what earlier joins of ``path`` with other codes left, and this code's partial file unless ``keep``."""
    mine = partial(path, pin)
    for leftover in path.parent.glob(f"{glob.escape(path.name)}.joining-*"):
        if leftover != mine or not keep:
            leftover.unlink(missing_ok=True)
    for leftover in path.parent.glob(f"{glob.escape(path.name)}.joined-*"):
        leftover.unlink(missing_ok=True)  # made whole but not placed (a crash at its very end): made again


def discard(path: Path, pin: bytes) -> None:
    """Remove this code's partial file (the file it was part of is not the one coming)."""
    partial(path, pin).unlink(missing_ok=True)


def receive(
    channel: Channel,
    path: Path,
    pin: bytes,
    size: int,
    on_chunk: Callable[[int, int], None],
    cancel: threading.Event | None,
) -> Path:
    """Append the file's chunks to the partial file until the sender says end; ``on_chunk(start, end)`` after each.

    Each chunk is written before it is acknowledged; a stop keeps what arrived. At
    the end, the partial file (what an earlier join left, and what came now) must be
    the whole file with the sender's SHA-256: it is then renamed as made whole and
    returned; otherwise it is removed and RemoteError says so.
    """
    target = partial(path, pin)
    digest = hashlib.sha256()
    with _said(target):
        with target.open("a+b") as out:
            _digest_of(out, out.seek(0, os.SEEK_END), digest)
            while True:
                if cancel is not None and cancel.is_set():
                    raise SyncCancelled(
                        "the transfer was cancelled; what arrived is kept (join again with the same code to go on)"
                    )
                header, payload = channel.receive()
                kind = header.get("kind")
                if kind == "end":
                    break
                start = out.tell()
                if kind != "file" or header.get("offset") != start or start + len(payload) > size:
                    raise RemoteError(f"the other device sent a part of the file out of place: {header}")
                out.write(payload)
                out.flush()
                digest.update(payload)
                on_chunk(start, start + len(payload))
                channel.send({"kind": "ack"})
            intact = out.tell() == size and hmac.compare_digest(digest.hexdigest(), str(header.get("sha256")))
        if not intact:
            target.unlink(missing_ok=True)
            raise RemoteError("the copy of the database arrived damaged; join again with the same code to start over")
        made = path.with_name(f"{path.name}.joined-{pin.hex()[:12]}")
        os.replace(target, made)
    return made


def check(whole: Path, shapes: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a file that holds anything but the described tables, their keys' and described indexes, and the registers."""
    expected = {*shapes, "syncengine_rows"}
    indexes = {(tables.index_name(name, cols), name) for name, doc in shapes.items() for cols in doc.get("indexes", [])}
    connection = sqlite3.connect(whole)
    try:
        objects = connection.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise RemoteError(f"the other device sent a file that is not a database ({exc})") from exc
    finally:
        connection.close()
    for kind, name, table in objects:
        if not (
            (kind == "table" and name in expected)
            or (kind == "index" and table in expected and name.startswith("sqlite_autoindex_"))
            or (kind == "index" and (name, table) in indexes)
        ):
            raise RemoteError(f"the other device sent a database holding {kind} {name!r}, which pairing never sends")
    missing = expected - {name for kind, name, _ in objects if kind == "table"}
    if missing:
        raise RemoteError(f"the other device sent a database without {', '.join(sorted(missing))}")
    engine = sa.create_engine(sa.URL.create("sqlite", database=str(whole)))
    try:
        with engine.connect() as conn:
            if not registers_fit(conn):
                raise RemoteError("the other device sent a database whose registers are not as this version keeps them")
            for name, doc in shapes.items():
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                described = [c["name"] for c in doc["columns"]]
                if [c.name for c in table.columns] != described or tables.misfit(name, doc, table) is not None:
                    raise RemoteError(f"the other device sent table {name!r} in another shape than it described")
    finally:
        engine.dispose()


def place(whole: Path, path: Path) -> None:
    """Move the finished device to the database's path, where nothing may have appeared meanwhile."""
    appeared = f"{path} appeared while this device joined; it was left as it is (join to another path)"
    try:
        os.link(whole, path)  # fails if something is there now: never overwritten
    except FileExistsError:
        whole.unlink(missing_ok=True)
        raise ConfigurationError(appeared) from None
    except OSError:  # a file system without hard links
        if path.exists():
            whole.unlink(missing_ok=True)
            raise ConfigurationError(appeared) from None
        os.replace(whole, path)
    else:
        whole.unlink()
    with contextlib.suppress(OSError):  # the new name survives a crash
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@contextlib.contextmanager
def _said(path: Path) -> Iterator[None]:
    """Turn a file system's refusal (a full disk, no permission) into a sentence naming the file."""
    try:
        yield
    except OSError as exc:
        raise DatabaseError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _digest_of(source: BinaryIO, size: int, digest: Any) -> None:
    """Feed the first ``size`` bytes of ``source`` to ``digest``; leave ``source`` just after them."""
    source.seek(0)
    left = size
    while left > 0 and (chunk := source.read(min(CHUNK, left))):
        digest.update(chunk)
        left -= len(chunk)
    source.seek(size)
