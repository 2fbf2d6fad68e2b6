"""The wire format of the shared-log API: what the server and its HTTP client exchange.

Pure functions, no I/O, and no web framework or HTTP library: the server
(:mod:`syncengine.server._app`) and the client (:mod:`syncengine.remote._http`)
both encode and decode through here, and this is all the two packages share, so
the two sides cannot drift apart. The OpenAPI document
(:mod:`syncengine.server._openapi`) describes the same shapes.

A batch payload is opaque bytes. Pushes and pulls travel in one of two forms:

* **frames** (:data:`FRAME_TYPE`, what the client sends and asks for): a 4-byte
  big-endian length, a JSON object header of that length describing the batches
  (each with its ``payload_bytes``), then the payloads' raw bytes, back to back and
  in the header's order. No escaping and no base64, so encoding and decoding cost
  little more than a copy.
* **JSON** (``application/json``, the default for any other client): the payload
  is ``payload_text`` when it is valid UTF-8 (the engine's serializer writes JSON)
  and ``payload_base64`` otherwise; exactly one of the two is present.

Every decoder raises :class:`WireError` with a message naming the bad field, which
the server answers with 400 and the client turns into a ``RemoteError``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import struct
from collections.abc import Mapping
from typing import Any

import orjson

from .model import DeviceInfo, PublishedState, PullResult, PushResult, ReceivedBatch, StoredKeyring

API = "/v1"
TIME_HEADER = "x-server-time"
"""Response header: the server's wall clock, milliseconds since the Unix epoch."""

ID_PATTERN = r"^[A-Za-z0-9_:~-][A-Za-z0-9._:~-]{0,63}$"
"""Device and batch ids: what fits the shared log's columns and a URL path unescaped
(no leading dot, so that no id reads as a ``.`` or ``..`` path segment)."""
USER_PATTERN = r"^[A-Za-z0-9._@+-]{1,128}$"
NAME_MAX = 256
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
PULL_LIMIT_MAX = 1_000_000
FRAME_TYPE = "application/vnd.syncengine.frames"
"""Media type of a push body or pull answer in frames (see the module's docstring)."""

_HEADER_LENGTH = struct.Struct(">I")

_ID = re.compile(ID_PATTERN)
_USER = re.compile(USER_PATTERN)


class WireError(ValueError):
    """A message does not have the documented shape; the text says which field."""


def check_id(value: str, what: str) -> str:
    """Return ``value`` if it is a valid device or batch id, else raise WireError."""
    if not _ID.fullmatch(value):
        raise WireError(f"{what} must be 1 to 64 letters, digits or ._:~- characters, not starting with a dot")
    return value


def check_user(value: str) -> str:
    """Return ``value`` if it is a valid user name, else raise WireError."""
    if not _USER.fullmatch(value):
        raise WireError("a user name must be 1 to 128 letters, digits or ._@+- characters")
    return value


def loads(body: bytes) -> Any:
    """Parse a JSON body."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WireError(f"the body is not valid JSON: {exc}") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{what} must be a JSON object")
    return value


def _int(doc: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = doc.get(key)
    # bool is an int in Python but not in JSON
    if type(value) is not int or not low <= value <= high:
        raise WireError(f"{key!r} must be an integer from {low} to {high}")
    return value


def _no_extra_keys(doc: Mapping[str, Any], allowed: set[str], what: str) -> None:
    unknown = set(doc) - allowed
    if unknown:
        raise WireError(f"{what} has unknown fields: {', '.join(sorted(unknown))}")


def int_param(raw: str | None, name: str, low: int, high: int, default: int | None = None) -> int:
    """Parse a query parameter that must be an integer in [low, high]."""
    if raw is None:
        if default is None:
            raise WireError(f"query parameter {name!r} is required")
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise WireError(f"query parameter {name!r} must be an integer from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise WireError(f"query parameter {name!r} must be an integer from {low} to {high}")
    return value


# -- payloads -------------------------------------------------------------------


def payload_fields(payload: bytes) -> dict[str, str]:
    """Return the JSON fields carrying ``payload``: text when it is UTF-8, else base64."""
    try:
        return {"payload_text": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload_base64": base64.b64encode(payload).decode("ascii")}


def _payload(doc: Mapping[str, Any]) -> bytes:
    if ("payload_text" in doc) == ("payload_base64" in doc):
        raise WireError("exactly one of 'payload_text' and 'payload_base64' must be given")
    text, b64 = doc.get("payload_text"), doc.get("payload_base64")
    if "payload_text" in doc:
        if not isinstance(text, str):
            raise WireError("'payload_text' must be a string")
        return text.encode("utf-8")
    if not isinstance(b64, str):
        raise WireError("'payload_base64' must be a string")
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"'payload_base64' is not valid base64: {exc}") from exc


def _extra(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    extra = doc.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise WireError("'extra' must be a JSON object or null")
    return extra


# -- requests -------------------------------------------------------------------


def register_request(name: str) -> bytes:
    """Encode the body of ``PUT /v1/devices/{device_id}``."""
    return orjson.dumps({"name": name})


def parse_register_request(body: bytes) -> str:
    """Decode a registration body; return the device name."""
    doc = _object(loads(body), "the body")
    _no_extra_keys(doc, {"name"}, "the body")
    name = doc.get("name")
    if not isinstance(name, str) or len(name) > NAME_MAX or "\x00" in name:
        raise WireError(f"'name' must be a string of at most {NAME_MAX} characters without NUL")
    return name


def push_request(payload: bytes, count: int, extra: Mapping[str, Any] | None) -> bytes:
    """Encode the body of ``PUT /v1/devices/{device_id}/batches/{batch_id}``."""
    return orjson.dumps({"count": count, "extra": dict(extra) if extra else None, **payload_fields(payload)})


def parse_push_request(body: bytes) -> tuple[bytes, int, dict[str, Any] | None]:
    """Decode a push body; return (payload, count, extra)."""
    doc = _object(loads(body), "the body")
    _no_extra_keys(doc, {"count", "extra", "payload_text", "payload_base64"}, "the body")
    return _payload(doc), _int(doc, "count", 0, INT32_MAX), _extra(doc)


def cursor_request(seq: int) -> bytes:
    """Encode the body of ``PUT /v1/devices/{device_id}/cursor``."""
    return orjson.dumps({"seq": seq})


def parse_cursor_request(body: bytes) -> int:
    """Decode a cursor body; return the seq."""
    doc = _object(loads(body), "the body")
    _no_extra_keys(doc, {"seq"}, "the body")
    return _int(doc, "seq", 0, INT64_MAX)


def state_request(position: int, digest: Mapping[str, Any]) -> bytes:
    """Encode the body of ``PUT /v1/devices/{device_id}/state``."""
    return orjson.dumps({"position": position, "digest": dict(digest)})


def parse_state_request(body: bytes) -> tuple[int, dict[str, Any]]:
    """Decode a state body; return the position and the digest."""
    doc = _object(loads(body), "the body")
    _no_extra_keys(doc, {"position", "digest"}, "the body")
    return _int(doc, "position", 0, INT64_MAX), _object(doc.get("digest"), "'digest'")


def keyring_json(found: StoredKeyring | None) -> dict[str, Any]:
    """Return the answer of ``GET`` and ``PUT /v1/keyring``: the user's wrapped keys, or null."""
    if found is None:
        return {"keyring": None}
    return {"keyring": {"body": found.body, "revision": found.revision, "encrypted_from": found.encrypted_from}}


def parse_keyring(body: bytes) -> StoredKeyring | None:
    """Decode the answer of ``GET`` and ``PUT /v1/keyring``."""
    doc = _object(loads(body), "the answer")
    found = doc.get("keyring")
    if found is None:
        return None
    one = _object(found, "'keyring'")
    text = one.get("body")
    if not isinstance(text, str):
        raise WireError("'body' must be a string")
    return StoredKeyring(text, _int(one, "revision", 1, INT64_MAX), _int(one, "encrypted_from", 0, INT64_MAX))


def keyring_request(body: str, revision: int) -> bytes:
    """Encode the body of ``PUT /v1/keyring``."""
    return orjson.dumps({"body": body, "revision": revision})


def parse_keyring_request(body: bytes) -> tuple[str, int]:
    """Decode a keyring body; return the keyring's text and the revision it replaces (0: none)."""
    doc = _object(loads(body), "the body")
    _no_extra_keys(doc, {"body", "revision"}, "the body")
    text = doc.get("body")
    if not isinstance(text, str) or not text:
        raise WireError("'body' must be a non-empty string")
    return text, _int(doc, "revision", 0, INT64_MAX)


def states_json(found: list[PublishedState]) -> dict[str, Any]:
    """Return the answer of ``GET /v1/states``."""
    return {
        "states": [
            {"device_id": p.device_id, "position": p.position, "digest": dict(p.digest), "published_at": p.published_at}
            for p in found
        ]
    }


def parse_states(body: bytes) -> list[PublishedState]:
    """Decode the answer of ``GET /v1/states``."""
    doc = _object(loads(body), "the answer")
    items = doc.get("states")
    if not isinstance(items, list):
        raise WireError("'states' must be a list")
    out = []
    for item in items:
        one = _object(item, "a state")
        try:
            out.append(
                PublishedState(
                    check_id(str(one["device_id"]), "a device id"),
                    _int(one, "position", 0, INT64_MAX),
                    _object(one.get("digest"), "'digest'"),
                    float(one["published_at"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"a state is malformed: {exc!r}") from exc
    return out


# -- responses ------------------------------------------------------------------


def device_json(device: DeviceInfo) -> dict[str, Any]:
    """Return a device record as the server sends it."""
    return {**device.as_json(), "last_batch_id": device.last_batch_id}


def parse_device(value: Any) -> DeviceInfo:
    """Decode a device record."""
    doc = _object(value, "a device")
    try:
        return DeviceInfo(
            device_id=str(doc["device_id"]),
            name=str(doc["name"]),
            user=str(doc["user"]),
            created_at=float(doc["created_at"]),
            last_push_at=None if doc.get("last_push_at") is None else float(doc["last_push_at"]),
            last_pull_at=None if doc.get("last_pull_at") is None else float(doc["last_pull_at"]),
            last_pull_seq=int(doc.get("last_pull_seq") or 0),
            behind=None if doc.get("behind") is None else int(doc["behind"]),
            log_id=_optional_text(doc, "log_id"),
            last_push_seq=None if doc.get("last_push_seq") is None else int(doc["last_push_seq"]),
            last_batch_id=_optional_text(doc, "last_batch_id"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"a device record is malformed: {exc!r}") from exc


def _optional_text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise WireError(f"{key!r} must be a string")
    return value


def parse_devices(body: bytes) -> list[DeviceInfo]:
    """Decode the answer of ``GET /v1/devices``."""
    doc = _object(loads(body), "the answer")
    items = doc.get("devices")
    if not isinstance(items, list):
        raise WireError("'devices' must be a list")
    return [parse_device(item) for item in items]


def push_json(result: PushResult) -> dict[str, Any]:
    """Return a push receipt as the server sends it."""
    return {"seq": result.seq, "duplicate": result.duplicate}


def parse_push(body: bytes) -> PushResult:
    """Decode a push receipt."""
    doc = _object(loads(body), "the answer")
    duplicate = doc.get("duplicate")
    if not isinstance(duplicate, bool):
        raise WireError("'duplicate' must be a boolean")
    return PushResult(_int(doc, "seq", 0, INT64_MAX), duplicate=duplicate)


def pull_json(result: PullResult) -> dict[str, Any]:
    """Return a pull result as the server sends it (JSON)."""
    return {
        "batches": [{**_batch_header(b), **payload_fields(b.payload)} for b in result.batches],
        **_pull_tail(result),
    }


def _pull_tail(result: PullResult) -> dict[str, Any]:
    tail: dict[str, Any] = {"cursor": result.cursor, "more": result.more}
    if result.next_count is not None:
        tail["next_count"] = result.next_count
    if result.log_id is not None:
        tail["log_id"] = result.log_id
    return tail


def _batch_header(b: ReceivedBatch) -> dict[str, Any]:
    return {
        "seq": b.seq,
        "device_id": b.device_id,
        "batch_id": b.batch_id,
        "count": b.count,
        "extra": dict(b.extra) if b.extra else None,
        "shared_at": b.shared_at,
    }


def _received(item: Any, payload: bytes | None) -> ReceivedBatch:
    """Decode one batch of a pull answer; its payload is given (frames) or in it (JSON)."""
    b = _object(item, "a batch")
    shared_at = b.get("shared_at")
    if shared_at is not None and (type(shared_at) is bool or not isinstance(shared_at, int | float)):
        raise WireError("'shared_at' must be a number or null")
    device_id, batch_id = b.get("device_id"), b.get("batch_id")
    if not isinstance(device_id, str) or not isinstance(batch_id, str):
        raise WireError("'device_id' and 'batch_id' must be strings")
    return ReceivedBatch(
        seq=_int(b, "seq", 0, INT64_MAX),
        device_id=device_id,
        batch_id=batch_id,
        payload=_payload(b) if payload is None else payload,
        count=_int(b, "count", 0, INT32_MAX),
        extra=_extra(b),
        shared_at=None if shared_at is None else float(shared_at),
    )


def _pull_header(doc: dict[str, Any]) -> tuple[list[Any], PullResult]:
    """The batch items of a pull answer, and the answer without its batches."""
    items = doc.get("batches")
    more = doc.get("more")
    if not isinstance(items, list) or not isinstance(more, bool):
        raise WireError("'batches' must be a list and 'more' a boolean")
    next_count = _int(doc, "next_count", 0, INT32_MAX) if doc.get("next_count") is not None else None
    cursor = _int(doc, "cursor", 0, INT64_MAX)
    return items, PullResult([], cursor, more, next_count, _optional_text(doc, "log_id"))


def parse_pull(body: bytes) -> PullResult:
    """Decode a pull result (JSON)."""
    items, tail = _pull_header(_object(loads(body), "the answer"))
    return dataclasses.replace(tail, batches=[_received(item, None) for item in items])


# -- frames -----------------------------------------------------------------------


def media_type(header: str | None) -> str:
    """Return the bare media type of a Content-Type header, lower case ('' if none)."""
    return (header or "").partition(";")[0].strip().lower()


def accepts_frames(accept: str | None) -> bool:
    """Whether an Accept header asks for :data:`FRAME_TYPE` (with a q above 0)."""
    for part in (accept or "").split(","):
        kind, *params = part.split(";")
        if kind.strip().lower() != FRAME_TYPE:
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q" and value.strip() in ("0", "0.", "0.0", "0.00", "0.000"):
                return False
        return True
    return False


def _unframe(body: bytes) -> tuple[dict[str, Any], memoryview]:
    """Split a frames body into its JSON header and the payload bytes after it."""
    if len(body) < _HEADER_LENGTH.size:
        raise WireError("a frames body must start with its header's length (4 bytes, big-endian)")
    (size,) = _HEADER_LENGTH.unpack_from(body)
    view = memoryview(body)[_HEADER_LENGTH.size :]
    if size > len(view):
        raise WireError(f"the frames header is said to be {size} bytes but only {len(view)} follow")
    try:
        header = orjson.loads(view[:size])
    except orjson.JSONDecodeError as exc:
        raise WireError(f"the frames header is not valid JSON: {exc}") from exc
    return _object(header, "the frames header"), view[size:]


def _split(rest: memoryview, sizes: list[int]) -> list[bytes]:
    """Cut the bytes after a frames header into payloads of the given sizes."""
    if sum(sizes) != len(rest):
        raise WireError(f"the frames header announces {sum(sizes)} payload bytes but {len(rest)} follow it")
    out = []
    at = 0
    for size in sizes:
        out.append(bytes(rest[at : at + size]))
        at += size
    return out


def push_frames(payload: bytes, count: int, extra: Mapping[str, Any] | None) -> bytes:
    """Encode a push body in frames."""
    head = orjson.dumps({"count": count, "extra": dict(extra) if extra else None, "payload_bytes": len(payload)})
    return b"".join([_HEADER_LENGTH.pack(len(head)), head, payload])


def parse_push_frames(body: bytes) -> tuple[bytes, int, dict[str, Any] | None]:
    """Decode a push body in frames; return (payload, count, extra)."""
    header, rest = _unframe(body)
    _no_extra_keys(header, {"count", "extra", "payload_bytes"}, "the frames header")
    count, extra = _int(header, "count", 0, INT32_MAX), _extra(header)
    (payload,) = _split(rest, [_int(header, "payload_bytes", 0, INT64_MAX)])
    return payload, count, extra


def pull_frames(result: PullResult) -> list[bytes]:
    """Encode a pull result in frames, as the pieces to send one after another (no joined copy)."""
    head = pull_frames_head(result, [len(b.payload) for b in result.batches])
    return [head, *(b.payload for b in result.batches if b.payload)]


def pull_frames_head(result: PullResult, sizes: list[int]) -> bytes:
    """The first piece of a pull answer in frames: the header, for payloads of these sizes sent after it."""
    batches = []
    for b, size in zip(result.batches, sizes, strict=True):
        item = _batch_header(b)
        item["payload_bytes"] = size
        batches.append(item)
    head = orjson.dumps({"batches": batches, **_pull_tail(result)})
    return _HEADER_LENGTH.pack(len(head)) + head


def parse_pull_frames(body: bytes) -> PullResult:
    """Decode a pull result in frames."""
    header, rest = _unframe(body)
    items, tail = _pull_header(header)
    sizes = [_int(_object(item, "a batch"), "payload_bytes", 0, INT64_MAX) for item in items]
    payloads = _split(rest, sizes)
    return dataclasses.replace(tail, batches=[_received(item, p) for item, p in zip(items, payloads, strict=True)])


def error_message(body: bytes) -> str | None:
    """Return the ``error`` text of an error answer, if it has one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    message = doc.get("error") if isinstance(doc, dict) else None
    return message if isinstance(message, str) else None
