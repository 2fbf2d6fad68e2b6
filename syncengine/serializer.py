"""How entry payloads (their values) are written into a batch.

The engine serializes each entry's payload — ``{"data": ..., "old": ...}`` with
Python values — through a :class:`Serializer`, and everything else of the entry
(version, table, key, operation, base versions) in the clear, so the shared log
can order and route entries it cannot read. Swap the serializer to encrypt or
compress payloads; every device of a user must use the same one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from . import values


@runtime_checkable
class Serializer(Protocol):
    """Turns an entry payload into text and back; ``loads(dumps(p)) == p``."""

    def dumps(self, payload: Mapping[str, Any]) -> str:
        """Return the text form of ``payload``."""
        ...

    def loads(self, text: str) -> dict[str, Any]:
        """Return the payload; raise ``ValueError`` when ``text`` is not one."""
        ...


class JsonSerializer:
    """The default: tagged JSON (see :mod:`syncengine.values`)."""

    def dumps(self, payload: Mapping[str, Any]) -> str:
        """Return compact JSON text."""
        return orjson.dumps(values.encode(dict(payload))).decode()

    def loads(self, text: str) -> dict[str, Any]:
        """Parse JSON text made by :meth:`dumps`."""
        try:
            payload = values.decode(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"payload is not JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise ValueError("payload is not a JSON object")
        return payload
