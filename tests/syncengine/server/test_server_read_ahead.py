"""Read-ahead of the HTTP client, on either runner: one request serves several pulls, never a wrong page."""

from __future__ import annotations

import httpx
import pytest

from syncengine.errors import ConfigurationError
from syncengine.model import PullResult, ReceivedBatch
from syncengine.remote import HttpSharedLog
from syncengine.store import SqlSharedLog

from .clients import pulls
from .servers import all_pages, new_token


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


def test_pages_read_ahead_hold_every_batch_once_in_order_with_fewer_requests(served, http_log) -> None:
    direct = all_pages(SqlSharedLog(served.db, user="alice"), "dev2", 7)
    answers: list[httpx.Response] = []
    pages = all_pages(http_log(served.url, served.token, record=answers), "dev2", 7)
    batches = [b.batch_id for page in pages for b in page.batches]
    assert batches == [b.batch_id for page in direct for b in page.batches] == [f"b{i}" for i in range(23)]
    for page in pages:
        assert sum(b.count for b in page.batches) <= 7 or len(page.batches) == 1
        if page.more:
            assert page.cursor == page.batches[-1].seq  # the next pull starts right after this page
    assert pages[-1].cursor == direct[-1].cursor and not pages[-1].more
    assert pages == direct
    assert len(pulls(answers)) < len(pages)  # several pages came in one request
    assert all("limit=56" in query for query in pulls(answers))  # 8 pages' worth each


def test_read_ahead_of_one_asks_for_each_page_and_equals_the_direct_pages(served, http_log) -> None:
    direct = all_pages(SqlSharedLog(served.db, user="alice"), "dev2", 7)
    answers: list[httpx.Response] = []
    assert all_pages(http_log(served.url, served.token, record=answers, read_ahead=1), "dev2", 7) == direct
    assert len(pulls(answers)) == len(direct)


def test_a_held_page_goes_only_to_the_pull_after_its_cursor(served, http_log) -> None:
    answers: list[httpx.Response] = []
    log = http_log(served.url, served.token, record=answers)
    first = log.pull("dev2", 0, 7)
    assert first.more and len(pulls(answers)) == 1
    # another cursor, limit or device: asked afresh (and what was held is dropped)
    again = log.pull("dev2", 0, 7)
    assert again == first and len(pulls(answers)) == 2
    other = log.pull("dev1", first.cursor, 7)
    assert all(b.device_id != "dev1" for b in other.batches) and len(pulls(answers)) == 3
    log.pull("dev2", 0, 7)
    log.pull("dev2", first.cursor, 8)
    assert len(pulls(answers)) == 5
    # a batch pushed after the answer came: a held page does not show it, a fresh pull does
    log.pull("dev2", 0, 100)
    log.push("dev1", "late", b"late", 1)
    assert "late" in [b.batch_id for b in log.pull("dev2", 0, 100).batches]


def test_read_ahead_must_be_at_least_one(http_log) -> None:
    with pytest.raises(ConfigurationError, match="read_ahead"):
        http_log("http://127.0.0.1:1", "token", read_ahead=0)


def test_the_last_page_of_a_cut_answer_is_kept_only_when_known_whole() -> None:
    from syncengine.remote._http import _pages as cut

    def batch(seq: int, count: int) -> ReceivedBatch:
        return ReceivedBatch(seq=seq, device_id="d", batch_id=f"b{seq}", payload=b"", count=count)

    batches = [batch(1, 600), batch(2, 600), batch(3, 300)]  # pages of 1,000: [1], [2, 3] and maybe more
    # the next batch (100 entries) would still fit in [2, 3]: that page is left for the next request
    assert [p.batches for _, p in cut(PullResult(batches, 3, True, next_count=100), 0, 1000)] == [batches[:1]]
    # it would not (500): the page is whole and is kept, with the cursor it follows
    kept = cut(PullResult(batches, 3, True, next_count=500), 0, 1000)
    assert [(after, p.batches, p.cursor, p.more) for after, p in kept] == [
        (0, batches[:1], 1, True),
        (1, batches[1:], 3, True),
    ]
    # an answer that does not say (an older server) keeps only the pages it knows are whole
    assert len(cut(PullResult(batches, 3, True), 0, 1000)) == 1
    # the end of the log: every page is whole
    assert len(cut(PullResult(batches, 3, False), 0, 1000)) == 2
