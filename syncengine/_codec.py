"""The batch format: how the entries of one batch are written into its payload and read back.

A payload is ``{"format": 1, "entries": [...]}``; each entry is
``[version, table, key, op, base, body]``, where ``body`` is the serializer's text
of ``{"data": ..., "old": ...}``. Everything but the body travels in the clear, so a
shared log can order and route entries it cannot read.

Entries are written from their stored form (:class:`Stored`: the JSON texts the
client log keeps), so a batch of stamped entries goes out without being built as
Python objects. The serializer decides the body: :func:`codec_for` picks, once per
sync, a codec that copies the stored JSON (the default :class:`JsonSerializer`,
whose text it is) or one that hands the values to a custom serializer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from . import values
from .clock import well_formed
from .model import ROW, Entry, Op
from .serializer import JsonSerializer, Serializer

FORMAT = 1
CODES = {Op.INSERT: "I", Op.UPDATE: "U", Op.DELETE: "D", Op.STATE: "S", Op.TOMBSTONE: "T"}
_NAMES = {code: op.value for op, code in CODES.items()}
_OPS = {op.value: op for op in Op}

Bad = tuple[str, Any]
"""A malformed entry: the reason, and the entry as it came."""


class StoredEntry(Protocol):
    """Anything with an entry's stored columns (the client log's rows have them)."""

    @property
    def version(self) -> str: ...
    @property
    def tbl(self) -> str: ...
    @property
    def pk(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def data(self) -> str: ...
    @property
    def old(self) -> str | None: ...
    @property
    def base(self) -> str: ...


class Stored(NamedTuple):
    """An entry in its stored form: the client log's columns (JSON texts in the portable form of :mod:`.values`)."""

    version: str
    tbl: str
    pk: str
    op: str  # "I", "U", "D", "S" or "T" (see CODES)
    data: str
    old: str | None
    base: str


def dumps(value: Any) -> str:
    """The portable JSON text of a Python value (see :mod:`syncengine.values`)."""
    return orjson.dumps(values.encode(value)).decode()


def loads(text: str | None) -> Any:
    """Invert :func:`dumps`."""
    return None if text is None else values.decode(orjson.loads(text))


def stored(entry: Entry) -> Stored:
    """The stored form of an entry."""
    return Stored(
        entry.version,
        entry.table,
        dumps(list(entry.pk)),
        CODES[entry.op],
        dumps(dict(entry.data)),
        dumps(dict(entry.old)) if entry.old is not None else None,
        orjson.dumps(dict(entry.base)).decode(),
    )


class Codec:
    """Writes and reads batch payloads with one serializer; see :func:`codec_for`."""

    def __init__(self, serializer: Serializer) -> None:
        self.serializer = serializer

    def body(self, data: str, old: str | None) -> str:
        """An entry's body from its stored data and old values."""
        return self.serializer.dumps({"data": loads(data), "old": loads(old)})

    def readers(self, payload: bytes) -> tuple[Callable[[str], Any], Callable[[Any], Any]]:
        """How to read the bodies and the keys of this payload's entries."""
        return self.serializer.loads, values.decode

    def encode(self, entries: Sequence[StoredEntry]) -> bytes:
        """The payload of a batch of entries, in order."""
        body = self.body
        items = [
            [
                e.version,
                e.tbl,
                orjson.Fragment(e.pk),
                _NAMES[e.op],
                orjson.Fragment(e.base or "{}"),
                body(e.data or "{}", e.old),
            ]
            for e in entries
        ]
        return orjson.dumps({"format": FORMAT, "entries": items})

    def decode(self, payload: bytes, device_id: str) -> tuple[list[Entry], list[Bad]]:
        """The entries of a payload written by ``device_id``, and the malformed ones with the reason.

        Raises ValueError when the payload as a whole is not a batch.
        """
        try:
            document = orjson.loads(payload)
            items = document["entries"]
            if document.get("format") != FORMAT or not isinstance(items, list):
                raise ValueError(f"unknown batch format {document.get('format')!r}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(str(exc)) from exc
        entries: list[Entry] = []
        bad: list[Bad] = []
        suffix = "-" + device_id
        read_body, read_key = self.readers(payload)
        add, ops = entries.append, _OPS  # locals: these run once per entry
        for item in items:
            try:
                version, table, pk, op, base, text = item
                restated = op == "state" or op == "tombstone"  # registers shared again: any device's versions
                if type(version) is not str or not (restated or version.endswith(suffix)):
                    raise ValueError("its version names another device than the batch")
                if not well_formed(version):
                    raise ValueError(f"not a version: {version!r} (13 and 6 lower-case hex digits, then the device id)")
                body = read_body(text)
                key = read_key(pk)
                if type(body) is not dict:
                    raise ValueError("payload is not a JSON object")
                if type(table) is not str or type(key) is not list or type(base) is not dict:
                    raise ValueError("table, key or base has the wrong shape")
                if restated:
                    _check_registers(version, base, body.get("data") or {})
                add(
                    Entry(version, device_id, table, tuple(key), ops[op], body.get("data") or {}, body.get("old"), base)
                )
            except (ValueError, TypeError, KeyError) as exc:
                bad.append((f"malformed entry from device {device_id}: {exc}", item))
        return entries, bad


def _check_registers(version: str, base: Any, data: Any) -> None:
    """Refuse a state or tombstone entry whose registers are not versions, or whose version is not their newest."""
    versions = (
        [*([base[ROW]] if ROW in base else []), *(base.get(column) for column in data)] if type(data) is dict else []
    )
    if not versions or not all(type(v) is str and well_formed(v) for v in versions):
        raise ValueError("a state entry needs a version for each of its columns")
    if max(versions) != version:
        raise ValueError("a state entry's version must be the newest of its registers")


class JsonCodec(Codec):
    """The default serializer's codec: a body is the stored JSON, copied; read back without a walk when untagged."""

    def encode(self, entries: Sequence[StoredEntry]) -> bytes:
        # Codec.encode with the body (the stored JSON, copied) written in place: this runs once per entry sent
        fragment, names = orjson.Fragment, _NAMES
        items = [
            [
                e.version,
                e.tbl,
                fragment(e.pk),
                names[e.op],
                fragment(e.base or "{}"),
                '{"data":' + (e.data or "{}") + ',"old":' + (e.old or "null") + "}",
            ]
            for e in entries
        ]
        return orjson.dumps({"format": FORMAT, "entries": items})

    def readers(self, payload: bytes) -> tuple[Callable[[str], Any], Callable[[Any], Any]]:
        # No quote followed by "$" anywhere (a tag's key; escaped \"$ inside bodies too): no
        # value is tagged, so decoding the values would change nothing.
        if b'"$' not in payload:
            return orjson.loads, _same
        return self.serializer.loads, values.decode


def _same(value: Any) -> Any:
    return value


def codec_for(serializer: Serializer) -> Codec:
    """The codec of a serializer: the default JSON one copies stored JSON; any other gets the values."""
    return JsonCodec(serializer) if type(serializer) is JsonSerializer else Codec(serializer)
