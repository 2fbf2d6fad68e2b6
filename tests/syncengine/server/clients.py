"""The HTTP client through either runner: the sync one, or the async one behind a blocking face.

Tests written against the blocking :class:`~syncengine.remote.SharedLog` interface
run unchanged on :class:`AsyncHttpSharedLog` through :class:`BlockingAsyncLog`, so
everything they check is checked for both runners. Recording transports of either
kind keep every answer (with its request) that a client got.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx

from syncengine.model import DeviceInfo, PullResult, PushResult
from syncengine.remote import AsyncHttpSharedLog, HttpSharedLog

T = TypeVar("T")


class BlockingAsyncLog:
    """An :class:`AsyncHttpSharedLog` used like an :class:`HttpSharedLog`: each call runs on its own event loop."""

    def __init__(self, url: str, token: str | None, **options: Any) -> None:
        self._runner = asyncio.Runner()  # one loop for the client's lifetime: its connections belong to it
        self.log = AsyncHttpSharedLog(url, token, **options)

    def _wait(self, call: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(call)

    @property
    def clock_offset_ms(self) -> float | None:
        return self.log.clock_offset_ms

    def register_device(self, device_id: str, name: str) -> DeviceInfo:
        return self._wait(self.log.register_device(device_id, name))

    def devices(self) -> list[DeviceInfo]:
        return self._wait(self.log.devices())

    def push(
        self, device_id: str, batch_id: str, payload: bytes, count: int, extra: Mapping[str, Any] | None = None
    ) -> PushResult:
        return self._wait(self.log.push(device_id, batch_id, payload, count, extra))

    def pull(self, device_id: str, after: int, limit: int) -> PullResult:
        return self._wait(self.log.pull(device_id, after, limit))

    def mark_pulled(self, device_id: str, seq: int) -> None:
        self._wait(self.log.mark_pulled(device_id, seq))

    def close(self) -> None:
        self._wait(self.log.close())
        self._runner.close()

    def __enter__(self) -> BlockingAsyncLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Recording(httpx.HTTPTransport):
    """A real transport that keeps every answer it got (``answer.request`` is what was sent)."""

    def __init__(self, answers: list[httpx.Response]) -> None:
        super().__init__()
        self.answers = answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.answers.append(super().handle_request(request))
        return self.answers[-1]


class AsyncRecording(httpx.AsyncHTTPTransport):
    """:class:`Recording` for the async client."""

    def __init__(self, answers: list[httpx.Response]) -> None:
        super().__init__()
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.answers.append(await super().handle_async_request(request))
        return self.answers[-1]


def open_client(
    runner: str, url: str, token: str | None, *, record: list[httpx.Response] | None = None, **options: Any
) -> HttpSharedLog | BlockingAsyncLog:
    """Open a client on the ``"sync"`` or the ``"async"`` runner; ``record`` collects its answers."""
    if runner == "sync":
        transport = None if record is None else Recording(record)
        return HttpSharedLog(url, token, transport=transport, **options)
    async_transport = None if record is None else AsyncRecording(record)
    return BlockingAsyncLog(url, token, transport=async_transport, **options)


def pulls(answers: list[httpx.Response]) -> list[str]:
    """The queries of the pull requests among recorded answers."""
    return [
        str(a.request.url.query, "ascii")
        for a in answers
        if a.request.method == "GET" and a.request.url.path.endswith("/batches")
    ]
