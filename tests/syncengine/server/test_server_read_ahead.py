"""Read-ahead of the HTTP client: one request serves several pulls, and never hands out a wrong page."""

from __future__ import annotations

import httpx
import pytest

from syncengine.errors import ConfigurationError
from syncengine.model import PullResult
from syncengine.remote import HttpSharedLog
from syncengine.store import SqlSharedLog

from .servers import new_token


class _Counting(httpx.HTTPTransport):
    """A real transport that counts the pull requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.pulls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/batches"):
            self.pulls.append(str(request.url.query, "ascii"))
        return super().handle_request(request)


def _pages(log: object, device: str, limit: int) -> list[PullResult]:
    pages, cursor = [], 0
    while True:
        page = log.pull(device, cursor, limit)  # type: ignore[attr-defined]
        pages.append(page)
        cursor = page.cursor
        if not page.more:
            return pages


@pytest.fixture
def served(start_server, new_db):
    db = str(new_db("sqlite"))
    server = start_server(db)
    server.token = new_token(db, "alice")
    with HttpSharedLog(server.url, server.token) as log:
        log.register_device("dev1", "one")
        log.register_device("dev2", "two")
        for i in range(23):  # batches of 1 to 5 entries, so pages end at uneven places
            log.push("dev1", f"b{i}", f"payload {i}".encode(), 1 + i % 5)
    return server


def test_pages_read_ahead_hold_every_batch_once_in_order_with_fewer_requests(served) -> None:
    direct = _pages(SqlSharedLog(served.db, user="alice"), "dev2", 7)
    counting = _Counting()
    with HttpSharedLog(served.url, served.token, transport=counting) as log:
        pages = _pages(log, "dev2", 7)
    batches = [b.batch_id for page in pages for b in page.batches]
    assert batches == [b.batch_id for page in direct for b in page.batches] == [f"b{i}" for i in range(23)]
    for page in pages:
        assert sum(b.count for b in page.batches) <= 7 or len(page.batches) == 1
        if page.more:
            assert page.cursor == page.batches[-1].seq  # the next pull starts right after this page
    assert pages[-1].cursor == direct[-1].cursor and not pages[-1].more
    assert len(counting.pulls) < len(pages)  # several pages came in one request
    assert all("limit=56" in query for query in counting.pulls)  # 8 pages' worth each


def test_read_ahead_of_one_asks_for_each_page_and_equals_the_direct_pages(served) -> None:
    direct = _pages(SqlSharedLog(served.db, user="alice"), "dev2", 7)
    counting = _Counting()
    with HttpSharedLog(served.url, served.token, transport=counting, read_ahead=1) as log:
        assert _pages(log, "dev2", 7) == direct
    assert len(counting.pulls) == len(direct)


def test_a_held_page_goes_only_to_the_pull_after_its_cursor(served) -> None:
    counting = _Counting()
    with HttpSharedLog(served.url, served.token, transport=counting) as log:
        first = log.pull("dev2", 0, 7)
        assert first.more and len(counting.pulls) == 1
        # another cursor, limit or device: asked afresh (and what was held is dropped)
        again = log.pull("dev2", 0, 7)
        assert again == first and len(counting.pulls) == 2
        other = log.pull("dev1", first.cursor, 7)
        assert all(b.device_id != "dev1" for b in other.batches) and len(counting.pulls) == 3
        log.pull("dev2", 0, 7)
        log.pull("dev2", first.cursor, 8)
        assert len(counting.pulls) == 5
        # a batch pushed after the answer came: a held page does not show it, a fresh pull does
        log.pull("dev2", 0, 100)
        log.push("dev1", "late", b"late", 1)
        assert "late" in [b.batch_id for b in log.pull("dev2", 0, 100).batches]


def test_read_ahead_must_be_at_least_one() -> None:
    with pytest.raises(ConfigurationError, match="read_ahead"):
        HttpSharedLog("http://127.0.0.1:1", "token", read_ahead=0)


def test_the_async_client_reads_ahead_the_same_way(served) -> None:
    import asyncio

    from syncengine.remote import AsyncHttpSharedLog

    async def pages() -> list[PullResult]:
        async with AsyncHttpSharedLog(served.url, served.token) as log:
            out, cursor = [], 0
            while True:
                out.append(await log.pull("dev2", cursor, 7))
                cursor = out[-1].cursor
                if not out[-1].more:
                    return out

    with HttpSharedLog(served.url, served.token) as log:
        assert asyncio.run(pages()) == _pages(log, "dev2", 7)
