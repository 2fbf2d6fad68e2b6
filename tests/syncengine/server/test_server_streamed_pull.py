"""Large pull answers are streamed: each payload is sent while the next is read.

What a device must notice: nothing but speed. Every page equals what the shared log
itself returns, on SQLite and PostgreSQL, and pushes arriving while a large answer
is being streamed neither wait for it nor fail (on an SQLite file the streamed read
holds its read lock between two sends).
"""

from __future__ import annotations

import threading

import pytest

from syncengine.store import SqlSharedLog

from .servers import all_pages, new_token


def _payload(i: int) -> bytes:
    # sizes from empty to about 100 KB, so pages hold blobs stored inline and in overflow pages
    return bytes([65 + i % 26]) * (0 if i % 7 == 3 else (i * 7919) % 100_000)


def test_pages_of_streamed_answers_equal_the_shared_logs_own(log_db, start_server, http_log) -> None:
    server = start_server(log_db)
    token = new_token(log_db, "alice")
    writer = http_log(server.url, token)
    writer.register_device("dev1", "one")
    writer.register_device("dev2", "two")
    for i in range(40):  # counts 0 to 2,999: empty batches, small ones and ones over a page
        writer.push("dev1", f"b{i}", _payload(i), (i * 577) % 3000)
    direct = SqlSharedLog(log_db, user="alice")
    try:
        # 6,000 and 9,000 entries a request are streamed; 1,000 with read-ahead off is read at once
        for limit, read_ahead in ((1000, 8), (3000, 3), (1000, 1)):
            expected = all_pages(direct, "dev2", limit)
            got = all_pages(http_log(server.url, token, read_ahead=read_ahead), "dev2", limit)
            assert [(p.cursor, p.more) for p in got] == [(p.cursor, p.more) for p in expected]
            assert [[(b.seq, b.batch_id, b.count, b.payload) for b in p.batches] for p in got] == [
                [(b.seq, b.batch_id, b.count, b.payload) for b in p.batches] for p in expected
            ]
    finally:
        direct.close()


def test_pushes_during_large_pulls_neither_wait_nor_fail(new_db, start_server, http_log) -> None:
    db = str(new_db("sqlite"))
    server = start_server(db)
    token = new_token(db, "alice")
    setup = http_log(server.url, token)
    pullers, pushers = ["reader1", "reader2"], [f"writer{i}" for i in range(6)]
    for device in pullers + pushers:
        setup.register_device(device, device)
    for i in range(16):  # 16 pages of 200 KB for the readers to pull again and again
        setup.push("writer0", f"big{i}", bytes([97 + i]) * 200_000, 1000)
    errors: list[BaseException] = []
    done = threading.Event()

    def pull(device: str) -> None:
        # one try and a short timeout: a request stalled behind a lock fails the test
        log = http_log(server.url, token, attempts=1, timeout=10.0)
        try:
            while not done.is_set():
                assert sum(b.count for p in all_pages(log, device, 1000) for b in p.batches) >= 16_000
        except BaseException as exc:
            errors.append(exc)

    def push(device: str) -> None:
        log = http_log(server.url, token, attempts=1, timeout=10.0)
        try:
            for k in range(25):
                log.push(device, f"small{k}", b"x" * 300, 3)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=pull, args=(d,)) for d in pullers]
    writers = [threading.Thread(target=push, args=(d,)) for d in pushers]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    done.set()
    for t in readers:
        t.join(timeout=60)
    assert not errors, errors[:3]
    check = SqlSharedLog(db, user="alice")
    try:
        pages = all_pages(check, "reader1", 100_000)
    finally:
        check.close()
    batch_ids = [b.batch_id for p in pages for b in p.batches]
    assert len(batch_ids) == 16 + 6 * 25 and len(set(batch_ids)) == 16 + 25  # every push stored once


@pytest.mark.parametrize(
    "dialect",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)
@pytest.mark.parametrize("limit", [1, 1000, 1001, 5000])
def test_pull_head_and_read_payloads_give_the_same_page_as_pull(new_db, dialect, limit) -> None:
    log = SqlSharedLog(str(new_db(dialect)), user="alice")
    try:
        log.register_device("dev1", "one")
        log.register_device("dev2", "two")
        for i in range(30):
            log.push("dev1", f"b{i}", _payload(i), (i * 577) % 3000)
        log.push("dev2", "own", b"not for dev2", 5)  # a device never pulls its own batches
        cursor = 0
        while True:
            page = log.pull("dev2", cursor, limit)
            assert [b.payload for b in page.batches] == [_payload(int(b.batch_id[1:])) for b in page.batches]
            head, sizes = log.pull_head("dev2", cursor, limit)
            assert (head.cursor, head.more, head.next_count) == (page.cursor, page.more, page.next_count)
            assert [b.seq for b in head.batches] == [b.seq for b in page.batches]
            assert sizes == [len(b.payload) for b in page.batches]
            if page.batches:
                payloads = log.read_payloads("dev2", page.batches[0].seq, page.batches[-1].seq)
                assert payloads == [(b.seq, b.payload) for b in page.batches]
            cursor = page.cursor
            if not page.more:
                break
    finally:
        log.close()
