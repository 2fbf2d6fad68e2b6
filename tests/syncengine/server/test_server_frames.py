"""Frames, the binary form of pushes and pulls: round trips, and malformed frames get 400, never 500."""

from __future__ import annotations

import struct

import httpx
import orjson
import pytest

from syncengine import _wire as wire
from syncengine.model import PullResult, ReceivedBatch
from syncengine.remote import HttpSharedLog

from .servers import new_token
from .test_server_bad_input import _check, _stored

FRAMES = {"Content-Type": wire.FRAME_TYPE}


def _frame(header: object, payload: bytes = b"") -> bytes:
    head = orjson.dumps(header)
    return struct.pack(">I", len(head)) + head + payload


def _batch(seq: int, payload: bytes, **extra: object) -> ReceivedBatch:
    return ReceivedBatch(
        seq=seq, device_id="d", batch_id=f"b{seq}", payload=payload, count=2, extra=extra or None, shared_at=1.5
    )


def test_frames_carry_any_bytes_both_ways() -> None:
    for payload in (b"", b'{"entries": ["\\"quoted\\""]}', bytes(range(256)) * 3):
        body = wire.push_frames(payload, 7, {"note": "x"})
        assert wire.parse_push_frames(body) == (payload, 7, {"note": "x"})
    result = PullResult([_batch(3, b"one"), _batch(5, b""), _batch(9, bytes(range(256)), k=1)], 9, True)
    parsed = wire.parse_pull_frames(b"".join(wire.pull_frames(result)))
    assert parsed.batches == result.batches and parsed.cursor == 9 and parsed.more
    empty = wire.parse_pull_frames(b"".join(wire.pull_frames(PullResult([], 4, False))))
    assert empty.batches == [] and empty.cursor == 4 and not empty.more


def test_the_count_of_the_batch_left_out_travels_in_frames_and_json() -> None:
    result = PullResult([_batch(3, b"one")], 3, True, next_count=1500)
    assert wire.parse_pull_frames(b"".join(wire.pull_frames(result))) == result
    assert wire.parse_pull(orjson.dumps(wire.pull_json(result))) == result
    unknown = PullResult([_batch(3, b"one")], 3, True)  # an older server does not say it
    assert wire.parse_pull(orjson.dumps(wire.pull_json(unknown))).next_count is None
    with pytest.raises(wire.WireError, match="next_count"):
        wire.parse_pull(orjson.dumps({**wire.pull_json(result), "next_count": -1}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "4 bytes"),
        (b"\x00\x00", "4 bytes"),
        (b"\x00\x00\x01\x00{}", "said to be 256 bytes"),
        (b"\x00\x00\x00\x03abc", "not valid JSON"),
        (_frame([1, 2]), "JSON object"),
        (_frame({"count": 1, "payload_bytes": 3}, b"ab"), "announces 3 payload bytes but 2 follow"),
        (_frame({"count": 1, "payload_bytes": 1}, b"ab"), "announces 1 payload bytes but 2 follow"),
        (_frame({"count": 1}, b"ab"), "'payload_bytes'"),
        (_frame({"count": 1, "payload_bytes": -1}), "'payload_bytes'"),
        (_frame({"count": "1", "payload_bytes": 0}), "'count'"),
        (_frame({"count": 1, "payload_bytes": 0, "extra": 5}), "'extra'"),
        (_frame({"count": 1, "payload_bytes": 0, "payload_text": "x"}), "unknown fields"),
    ],
)
def test_malformed_push_frames_are_named(body: bytes, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.parse_push_frames(body)


@pytest.mark.parametrize(
    ("header", "payload", "message"),
    [
        ({"batches": {}, "cursor": 0, "more": False}, b"", "'batches' must be a list"),
        ({"batches": [], "cursor": -1, "more": False}, b"", "'cursor'"),
        ({"batches": [5], "cursor": 0, "more": False}, b"", "a batch must be a JSON object"),
        ({"batches": [{"seq": 1}], "cursor": 0, "more": False}, b"", "'payload_bytes'"),
        (
            {"batches": [{"seq": 1, "payload_bytes": 2}], "cursor": 0, "more": False},
            b"abc",
            "announces 2 payload bytes but 3 follow",
        ),
        (
            {"batches": [{"seq": 1, "payload_bytes": 1, "device_id": 1}], "cursor": 0, "more": False},
            b"a",
            "'device_id'",
        ),
    ],
)
def test_malformed_pull_frames_are_named(header: object, payload: bytes, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.parse_pull_frames(_frame(header, payload))


def test_accept_headers() -> None:
    assert wire.accepts_frames(f"{wire.FRAME_TYPE}, application/json;q=0.5")
    assert wire.accepts_frames(f"application/json, {wire.FRAME_TYPE.upper()} ; q=0.3")
    assert not wire.accepts_frames(f"{wire.FRAME_TYPE};q=0")
    assert not wire.accepts_frames("application/json")
    assert not wire.accepts_frames(None)
    assert wire.media_type("Application/Vnd.Syncengine.Frames; v=1") == wire.FRAME_TYPE


@pytest.fixture
def served(start_server, new_db):
    db = new_db("sqlite")
    server = start_server(db, "--max-body-bytes", str(64 * 1024))
    server.token = new_token(db, "alice")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        assert client.put("/v1/devices/dev1", json={"name": "one"}).status_code == 200
        assert client.put("/v1/devices/dev2", json={"name": "two"}).status_code == 200
    return server


def test_malformed_frames_get_400_with_a_message_and_store_nothing(served) -> None:
    push = "/v1/devices/dev1/batches/b1"
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.token}"}) as client:
        _check(client.put(push, content=b"\x00", headers=FRAMES), 400, "4 bytes")
        _check(client.put(push, content=b"\xff\xff\xff\xff{}", headers=FRAMES), 400, "said to be")
        _check(client.put(push, content=b"\x00\x00\x00\x02[]", headers=FRAMES), 400, "JSON object")
        _check(client.put(push, content=b'\x00\x00\x00\x02{"', headers=FRAMES), 400, "not valid JSON")
        _check(client.put(push, content=_frame({"count": 1, "payload_bytes": 9}, b"x"), headers=FRAMES), 400, "9")
        _check(client.put(push, content=_frame({"payload_bytes": 1}, b"x"), headers=FRAMES), 400, "'count'")
        # a JSON body sent as frames is read as frames (and refused), frames sent as JSON as JSON
        _check(client.put(push, json={"count": 1, "payload_text": "x"}, headers=FRAMES), 400, "said to be")
        _check(client.put(push, content=_frame({"count": 1, "payload_bytes": 1}, b"x")), 400, "not valid JSON")
    assert _stored(served.db) == (0, 2)


def test_pulls_come_as_frames_when_asked_and_as_json_otherwise(served) -> None:
    with HttpSharedLog(served.url, served.token) as log:
        assert not log.push("dev1", "b1", b'{"a": "\\u00e9\\""}', 1).duplicate
        assert log.push("dev1", "b2", b"\xff\x00binary", 1).seq == 2
        assert log.push("dev1", "b2", b"\xff\x00binary", 1).duplicate
        pulled = log.pull("dev2", 0, 10)
    assert [b.payload for b in pulled.batches] == [b'{"a": "\\u00e9\\""}', b"\xff\x00binary"]
    headers = {"Authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.url, headers=headers) as client:
        framed = client.get("/v1/devices/dev2/batches", headers={"Accept": wire.FRAME_TYPE})
        assert framed.headers["content-type"] == wire.FRAME_TYPE
        assert int(framed.headers["content-length"]) == len(framed.content)
        assert wire.parse_pull_frames(framed.content) == pulled
        plain = client.get("/v1/devices/dev2/batches")
        assert plain.headers["content-type"] == "application/json"
        assert wire.parse_pull(plain.content) == pulled
        refused = client.get("/v1/devices/dev2/batches", headers={"Accept": f"{wire.FRAME_TYPE};q=0"})
        assert refused.headers["content-type"] == "application/json"
    # large frames are sent in pieces, and gzipped when the client accepts it
    big = b'{"entries": "' + b"x" * 60_000 + b'"}'
    with HttpSharedLog(served.url, served.token) as log:
        log.push("dev1", "b3", big, 1)
    with httpx.Client(base_url=served.url, headers=headers) as client:
        for encoding in ("gzip", "identity"):
            answer = client.get(
                "/v1/devices/dev2/batches?after=2", headers={"Accept": wire.FRAME_TYPE, "Accept-Encoding": encoding}
            )
            assert answer.headers.get("content-encoding", "identity") == encoding
            assert [b.payload for b in wire.parse_pull_frames(answer.content).batches] == [big]


def test_reads_wait_for_a_writer_that_holds_the_sqlite_lock(served) -> None:
    """Reads tried on the event loop never wait there: with the file locked they wait in the thread pool."""
    import sqlite3
    import threading
    import time

    with HttpSharedLog(served.url, served.token) as log:
        log.push("dev1", "b1", b"one", 1)
        locker = sqlite3.connect(served.db, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # what a push holds while it commits
        answers: list[object] = []
        started = time.monotonic()
        reader = threading.Thread(target=lambda: answers.append(log.pull("dev2", 0, 10)))
        reader.start()
        time.sleep(0.5)
        # the server's event loop is not blocked meanwhile
        assert httpx.get(f"{served.url}/openapi.json").status_code == 200
        assert not answers
        locker.execute("ROLLBACK")
        locker.close()
        reader.join(10)
        assert time.monotonic() - started >= 0.5
        assert [b.payload for b in answers[0].batches] == [b"one"]  # type: ignore[attr-defined]
