"""The server's OpenAPI document, written out by hand to match :mod:`syncengine._wire`.

It is what schemathesis fuzzes the server against in the tests, so a field added
to the wire format without being added here fails CI.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .. import _wire as wire


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **headers: Any) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Server-Time": {"$ref": "#/components/headers/ServerTime"}, **headers},
        "content": {"application/json": {"schema": schema}},
    }


def _pull_answer() -> dict[str, Any]:
    answer = _json(_ref("Pull"), "The batches, in JSON or, when `Accept` asks for them, frames.")
    answer["content"][wire.FRAME_TYPE] = {"schema": {"type": "string", "format": "binary", "description": _PULL_FRAMES}}
    return answer


_ERROR_ANSWERS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "503": {"$ref": "#/components/responses/Unavailable"},
}
_BODY_ANSWERS = {
    "413": {"$ref": "#/components/responses/TooLarge"},
    "415": {"$ref": "#/components/responses/UnsupportedEncoding"},
}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}


def _device_id() -> dict[str, Any]:
    return {
        "name": "device_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": wire.ID_PATTERN},
    }


def _body(schema: str, *, frames: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ref(schema)}}
    if frames:
        content[wire.FRAME_TYPE] = {"schema": {"type": "string", "format": "binary", "description": frames}}
    return {
        "required": True,
        "description": (
            f"JSON{' or frames (by `Content-Type`)' if frames else ''}; "
            "may be sent gzip-compressed with `Content-Encoding: gzip`."
        ),
        "content": content,
    }


_FRAMES = (
    "Frames: a 4-byte big-endian length N, then N bytes of a JSON object (the header), then the "
    "payloads' raw bytes back to back, each as long as its `payload_bytes` in the header and in "
    "the header's order; nothing may follow them."
)
_PUSH_FRAMES = (
    f"{_FRAMES} The header has `count` and `extra` as in the JSON form and `payload_bytes` "
    "(no `payload_text` or `payload_base64`); the one payload follows it."
)
_PULL_FRAMES = (
    f"{_FRAMES} The header is the JSON form's `Pull` object whose batches carry `payload_bytes` "
    f"instead of `payload_text` or `payload_base64`. Sent when `Accept` names `{wire.FRAME_TYPE}`."
)


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What was wrong, in one sentence."}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "max_body_bytes"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "max_body_bytes": {"type": "integer", "description": "Request bodies over this size get 413."},
            "log_id": {
                "type": "string",
                "description": "The id of the server's log database, made when it was created and kept when it is "
                "copied. The default user's log has this id; another user's is `<log_id>/<user>`.",
            },
        },
    },
    "Device": {
        "type": "object",
        "required": ["device_id", "name", "user", "created_at", "last_pull_seq"],
        "properties": {
            "device_id": {"type": "string"},
            "name": {"type": "string"},
            "user": {"type": "string"},
            "created_at": {"type": "number"},
            "last_push_at": {"type": "number", "nullable": True},
            "last_pull_at": {"type": "number", "nullable": True},
            "last_pull_seq": {"type": "integer"},
            "behind": {"type": "integer", "nullable": True, "description": "Entries of other devices not yet pulled."},
            "log_id": {"type": "string", "nullable": True, "description": "The id of the user's log."},
            "last_push_seq": {
                "type": "integer",
                "nullable": True,
                "description": "The sequence number of the device's newest batch (null: none).",
            },
            "last_batch_id": {"type": "string", "nullable": True, "description": "That batch's id."},
        },
    },
    "DeviceList": {
        "type": "object",
        "required": ["devices"],
        "properties": {"devices": {"type": "array", "items": _ref("Device")}},
    },
    "Register": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "maxLength": wire.NAME_MAX, "pattern": "^[^\\x00]*$"}},
    },
    "Push": {
        "type": "object",
        "description": (
            "One batch. The payload is opaque bytes: `payload_text` when they are valid UTF-8, "
            "else `payload_base64` (standard alphabet, padded); exactly one of the two."
        ),
        "required": ["count"],
        "additionalProperties": False,
        "properties": {
            "count": {
                "type": "integer",
                "minimum": 0,
                "maximum": wire.INT32_MAX,
                "description": "Entries in the batch.",
            },
            "extra": {"type": "object", "nullable": True, "description": "Free-form batch information."},
            "payload_text": {"type": "string"},
            "payload_base64": {
                "type": "string",
                "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
            },
        },
        "oneOf": [{"required": ["payload_text"]}, {"required": ["payload_base64"]}],
    },
    "PushResult": {
        "type": "object",
        "required": ["seq", "duplicate"],
        "properties": {
            "seq": {"type": "integer", "description": "The batch's place in the user's log."},
            "duplicate": {"type": "boolean", "description": "True when this (device, batch id) was stored before."},
        },
    },
    "Batch": {
        "type": "object",
        "required": ["seq", "device_id", "batch_id", "count"],
        "properties": {
            "seq": {"type": "integer"},
            "device_id": {"type": "string"},
            "batch_id": {"type": "string"},
            "count": {"type": "integer"},
            "extra": {"type": "object", "nullable": True},
            "shared_at": {"type": "number", "nullable": True},
            "payload_text": {"type": "string"},
            "payload_base64": {"type": "string"},
        },
    },
    "Pull": {
        "type": "object",
        "required": ["batches", "cursor", "more"],
        "properties": {
            "batches": {"type": "array", "items": _ref("Batch")},
            "cursor": {"type": "integer", "description": "Pass as `after` next time."},
            "more": {"type": "boolean", "description": "True when more batches wait after `cursor`."},
            "next_count": {
                "type": "integer",
                "description": "With `more`: the entry count of the first batch left out, so a client can cut "
                "the answer into smaller pages exactly.",
            },
            "log_id": {
                "type": "string",
                "description": "The id of the user's log: a device that finds another id than it had synced with "
                "knows the log was replaced or moved.",
            },
        },
    },
    "Cursor": {
        "type": "object",
        "required": ["seq"],
        "additionalProperties": False,
        "properties": {"seq": {"type": "integer", "minimum": 0, "maximum": wire.INT64_MAX}},
    },
    "StateRequest": {
        "type": "object",
        "required": ["position", "digest"],
        "additionalProperties": False,
        "properties": {
            "position": {"type": "integer", "minimum": 0, "maximum": wire.INT64_MAX},
            "digest": {
                "type": "object",
                "description": "Per table `{rows, buckets, sums}`: the row count and the bucket sums (base64).",
            },
        },
    },
    "State": {
        "type": "object",
        "required": ["device_id", "position", "digest", "published_at"],
        "properties": {
            "device_id": {"type": "string"},
            "position": {"type": "integer"},
            "digest": {"type": "object"},
            "published_at": {"type": "number"},
        },
    },
    "KeyringRequest": {
        "type": "object",
        "required": ["body", "revision"],
        "additionalProperties": False,
        "properties": {
            "body": {"type": "string", "minLength": 1, "description": "The wrapped keys: JSON the server does not read."},
            "revision": {
                "type": "integer",
                "minimum": 0,
                "maximum": wire.INT64_MAX,
                "description": "The revision this replaces (0: there is none yet).",
            },
        },
    },
    "Keyring": {
        "type": "object",
        "required": ["keyring"],
        "properties": {
            "keyring": {
                "type": "object",
                "nullable": True,
                "required": ["body", "revision", "encrypted_from"],
                "properties": {
                    "body": {"type": "string"},
                    "revision": {"type": "integer"},
                    "encrypted_from": {
                        "type": "integer",
                        "description": "The log position when the first keys were stored; later batches are encrypted.",
                    },
                },
            }
        },
    },
    "StateList": {
        "type": "object",
        "required": ["states"],
        "properties": {"states": {"type": "array", "items": _ref("State")}},
    },
}


def openapi(max_body: int) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of the server, stating its body limit."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "syncengine shared log",
            "version": __version__,
            "description": (
                "The shared log of syncengine over HTTP. Every request but `/health` needs "
                "`Authorization: Bearer TOKEN` (from `syncengine token create`) and sees only its "
                "user's devices and batches. Every answer carries `X-Server-Time`. Bodies over "
                f"{max_body} bytes (before or after gunzipping) get 413. Answers are gzipped when "
                "the client accepts it. Pushes and pulls also come in frames "
                f"(`{wire.FRAME_TYPE}`: a JSON header, then the payloads' raw bytes), "
                "chosen by `Content-Type` and `Accept`."
            ),
        },
        "paths": {
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether the server can reach its database.",
                    "responses": {
                        "200": _json(_ref("Health"), "The database answers."),
                        "503": _json(
                            _ref("Health"),
                            "The database does not answer.",
                            **{"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                        ),
                    },
                }
            },
            f"{wire.API}/devices": {
                "get": {
                    "operationId": "listDevices",
                    "summary": "The user's devices, oldest first.",
                    "security": bearer,
                    "responses": {"200": _json(_ref("DeviceList"), "The devices."), **_ERROR_ANSWERS},
                }
            },
            f"{wire.API}/devices/{{device_id}}": {
                "put": {
                    "operationId": "registerDevice",
                    "summary": "Register a device for the user, or rename it.",
                    "security": bearer,
                    "parameters": [_device_id()],
                    "requestBody": _body("Register"),
                    "responses": {
                        "200": _json(_ref("Device"), "The device's record."),
                        "409": {"$ref": "#/components/responses/Conflict"},
                        **_ERROR_ANSWERS,
                        **_BODY_ANSWERS,
                        **_NOT_FOUND,
                    },
                },
                "delete": {
                    "operationId": "forgetDevice",
                    "summary": "Take a device that is gone out of the user's registry (its batches stay).",
                    "security": bearer,
                    "parameters": [_device_id()],
                    "responses": {
                        "204": {
                            "description": "Forgotten.",
                            "headers": {"X-Server-Time": {"$ref": "#/components/headers/ServerTime"}},
                        },
                        **_ERROR_ANSWERS,
                        **_NOT_FOUND,
                    },
                },
            },
            f"{wire.API}/devices/{{device_id}}/batches": {
                "get": {
                    "operationId": "pull",
                    "summary": "Other devices' batches after a cursor, about `limit` entries (at least one batch).",
                    "security": bearer,
                    "parameters": [
                        _device_id(),
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": wire.INT64_MAX, "default": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": wire.PULL_LIMIT_MAX,
                                "default": 1000,
                            },
                        },
                    ],
                    "responses": {"200": _pull_answer(), **_ERROR_ANSWERS, **_NOT_FOUND},
                }
            },
            f"{wire.API}/devices/{{device_id}}/batches/{{batch_id}}": {
                "put": {
                    "operationId": "push",
                    "summary": "Append a batch; the same (device, batch id) again stores nothing new.",
                    "security": bearer,
                    "parameters": [
                        _device_id(),
                        {
                            "name": "batch_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": wire.ID_PATTERN},
                        },
                    ],
                    "requestBody": _body("Push", frames=_PUSH_FRAMES),
                    "responses": {
                        "201": _json(_ref("PushResult"), "Stored."),
                        "403": _json(_ref("Error"), "The user's log is encrypted and the batch is not."),
                        "200": _json(_ref("PushResult"), "Stored before; nothing new was stored."),
                        **_ERROR_ANSWERS,
                        **_BODY_ANSWERS,
                        **_NOT_FOUND,
                    },
                }
            },
            f"{wire.API}/devices/{{device_id}}/cursor": {
                "put": {
                    "operationId": "markPulled",
                    "summary": "Record how far the device has pulled.",
                    "security": bearer,
                    "parameters": [_device_id()],
                    "requestBody": _body("Cursor"),
                    "responses": {
                        "204": {
                            "description": "Recorded.",
                            "headers": {"X-Server-Time": {"$ref": "#/components/headers/ServerTime"}},
                        },
                        **_ERROR_ANSWERS,
                        **_BODY_ANSWERS,
                        **_NOT_FOUND,
                    },
                }
            },
            f"{wire.API}/devices/{{device_id}}/state": {
                "put": {
                    "operationId": "publishState",
                    "summary": "Keep the device's digest of its synced state at a log position (for `verify`).",
                    "security": bearer,
                    "parameters": [_device_id()],
                    "requestBody": _body("StateRequest"),
                    "responses": {
                        "204": {
                            "description": "Kept, replacing the device's previous one.",
                            "headers": {"X-Server-Time": {"$ref": "#/components/headers/ServerTime"}},
                        },
                        **_ERROR_ANSWERS,
                        **_BODY_ANSWERS,
                        **_NOT_FOUND,
                    },
                }
            },
            f"{wire.API}/states": {
                "get": {
                    "operationId": "listStates",
                    "summary": "Every device's latest digest of its synced state.",
                    "security": bearer,
                    "responses": {"200": _json(_ref("StateList"), "The digests."), **_ERROR_ANSWERS},
                }
            },
            f"{wire.API}/keyring": {
                "get": {
                    "operationId": "getKeyring",
                    "summary": "The user's wrapped encryption keys (null: the user's log is not encrypted).",
                    "security": bearer,
                    "responses": {"200": _json(_ref("Keyring"), "The keyring."), **_ERROR_ANSWERS},
                },
                "put": {
                    "operationId": "putKeyring",
                    "summary": "Store the wrapped keys if their revision is still the one given; "
                    "from the first, the user's plain batches are refused.",
                    "security": bearer,
                    "requestBody": _body("KeyringRequest"),
                    "responses": {
                        "200": _json(_ref("Keyring"), "Stored."),
                        "409": _json(_ref("Error"), "Another device changed the keyring first; read it again."),
                        **_ERROR_ANSWERS,
                        **_BODY_ANSWERS,
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "headers": {
                "ServerTime": {
                    "description": "The server's clock: milliseconds since the Unix epoch.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
                "RetryAfter": {"description": "Seconds to wait before trying again.", "schema": {"type": "string"}},
            },
            "responses": {
                "BadRequest": _json(_ref("Error"), "The body, a parameter or an id is malformed."),
                "Unauthorized": _json(
                    _ref("Error"),
                    "No token, or an unknown or revoked one.",
                    **{"WWW-Authenticate": {"schema": {"type": "string"}}},
                ),
                "NotFound": _json(_ref("Error"), "The device is not registered for this user."),
                "Conflict": _json(_ref("Error"), "The device id belongs to another user."),
                "TooLarge": _json(_ref("Error"), f"The body is over {max_body} bytes."),
                "UnsupportedEncoding": _json(_ref("Error"), "A Content-Encoding other than identity or gzip."),
                "Unavailable": _json(
                    _ref("Error"),
                    "The database cannot be reached; retry later.",
                    **{"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                ),
            },
            "schemas": _SCHEMAS,
        },
    }
