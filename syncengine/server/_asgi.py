"""HTTP plumbing of the server: bounded (and gzip-aware) request bodies, the time header.

Kept apart from the endpoints so that they read as decode → shared log → encode.
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._wire import TIME_HEADER


class Problem(Exception):
    """An answer other than success: its status, a message, and extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


async def read_body(request: Request, limit: int) -> bytes:
    """Return the request body, gunzipped if it says so; 413 past ``limit`` bytes either way.

    An oversized body is still read (and dropped) up to a few times the limit, so
    the client receives the 413 instead of a connection reset in mid-upload.
    """
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise Problem(415, f"unsupported Content-Encoding {encoding!r}: send identity or gzip")
    too_big = Problem(413, f"the request body is over the limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > 4 * limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > 4 * limit:
            break
    if size > limit:
        raise too_big
    body = b"".join(chunks)
    if encoding == "gzip":
        body = _gunzip(body, limit)
    return body


def _gunzip(data: bytes, limit: int) -> bytes:
    # max_length bounds the output, so a small "gzip bomb" cannot fill the memory
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise Problem(413, f"the request body is over the limit of {limit} bytes once decompressed")
        if not inflater.eof:
            raise Problem(400, "the gzip body is truncated")
    except zlib.error as exc:
        raise Problem(400, f"the body is not valid gzip: {exc}") from exc
    return out


class ServerTime:
    """ASGI wrapper that adds the server's clock (ms since the epoch) to every response.

    It sits outside everything else, Starlette's error pages included, so no answer
    goes out without it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((TIME_HEADER.encode(), str(round(time.time() * 1000)).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)
