"""Bad input never breaks the server: 401, 413 or another 4xx with a message, nothing stored."""

from __future__ import annotations

import gzip
import os
import time

import httpx
import pytest
import sqlalchemy as sa

from syncengine.errors import RemoteError
from syncengine.remote import HttpSharedLog

from ..helpers import add
from .servers import new_token

LIMIT = 64 * 1024


@pytest.fixture
def server(start_server, new_db):
    db = new_db("sqlite")
    server = start_server(db, "--max-body-bytes", str(LIMIT))
    server.token = new_token(db, "alice")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        assert client.put("/v1/devices/dev1", json={"name": "one"}).status_code == 200
    return server


def _stored(db: str) -> tuple[int, int]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        batches = conn.execute(sa.text("SELECT COUNT(*) FROM sharedlog_batches")).scalar_one()
        devices = conn.execute(sa.text("SELECT COUNT(*) FROM sharedlog_devices")).scalar_one()
    engine.dispose()
    return batches, devices


def _check(response: httpx.Response, status: int, text: str = "") -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["x-server-time"].isdigit()
    assert text in response.json()["error"]


def test_tokens_are_required(server) -> None:
    url = f"{server.url}/v1/devices"
    _check(httpx.get(url), 401, "Bearer")
    _check(httpx.get(url, headers={"Authorization": "Bearer wrong"}), 401, "unknown or revoked")
    _check(httpx.get(url, headers={"Authorization": f"Basic {server.token}"}), 401)
    _check(httpx.get(url, headers={"Authorization": "Bearer"}), 401)
    _check(httpx.put(f"{server.url}/v1/devices/dev2", json={"name": "x"}), 401)
    assert httpx.get(url).headers["www-authenticate"] == "Bearer"


def test_malformed_requests_get_4xx_with_a_message_and_store_nothing(server) -> None:
    push = "/v1/devices/dev1/batches/b1"
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        _check(client.put(push, content=b"{not json"), 400, "not valid JSON")
        _check(client.put(push, content=b"[1, 2]"), 400, "JSON object")
        _check(client.put(push, json={"count": 1}), 400, "exactly one")
        _check(client.put(push, json={"count": 1, "payload_text": "x", "payload_base64": "eA=="}), 400, "exactly one")
        _check(client.put(push, json={"count": "1", "payload_text": "x"}), 400, "'count'")
        _check(client.put(push, json={"count": True, "payload_text": "x"}), 400, "'count'")
        _check(client.put(push, json={"count": -1, "payload_text": "x"}), 400, "'count'")
        _check(client.put(push, json={"count": 2**40, "payload_text": "x"}), 400, "'count'")
        _check(client.put(push, json={"count": 1, "payload_base64": "!!!"}), 400, "base64")
        _check(client.put(push, json={"count": 1, "payload_text": "x", "extra": [1]}), 400, "'extra'")
        _check(client.put(push, json={"count": 1, "payload_text": "x", "surprise": 1}), 400, "unknown fields")
        _check(client.put("/v1/devices/" + "x" * 65 + "/batches/b1", json={"count": 1, "payload_text": "x"}), 400)
        _check(client.put("/v1/devices/dev1/batches/.hidden", json={"count": 1, "payload_text": "x"}), 400)
        _check(
            client.put("/v1/devices/nobody/batches/b1", json={"count": 1, "payload_text": "x"}), 404, "not registered"
        )
        _check(client.put("/v1/devices/dev2", json={"name": "a\x00b"}), 400, "NUL")
        _check(client.put("/v1/devices/dev2", json={"name": "x" * 257}), 400, "'name'")
        _check(client.put("/v1/devices/dev2", json={}), 400, "'name'")
        _check(client.put("/v1/devices/dev1/cursor", json={"seq": -5}), 400, "'seq'")
        _check(client.put("/v1/devices/dev1/cursor", json={"seq": 2**63}), 400, "'seq'")
        for query in ("after=-1", "after=abc", "limit=0", "limit=99999999999", "after=1e3", "after=%EF%BC%91"):
            _check(client.get(f"/v1/devices/dev1/batches?{query}"), 400, "query parameter")
        _check(client.get("/v1/devices/nobody/batches"), 404, "not registered")
        _check(client.put(push, content=b"x", headers={"Content-Encoding": "br"}), 415, "Content-Encoding")
        _check(client.put(push, content=b"not gzip", headers={"Content-Encoding": "gzip"}), 400, "gzip")
        truncated = gzip.compress(b'{"count": 1, "payload_text": "x"}')[:-12]
        _check(client.put(push, content=truncated, headers={"Content-Encoding": "gzip"}), 400, "truncated")
        _check(client.get("/nowhere"), 404)
        _check(client.delete("/v1/devices"), 405)
    assert _stored(server.db) == (0, 1)


def test_bodies_over_the_limit_get_413_compressed_or_not(server) -> None:
    push = "/v1/devices/dev1/batches/b1"
    big = b'{"count": 1, "payload_text": "' + b"x" * (LIMIT + 10) + b'"}'
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}) as client:
        _check(client.put(push, content=big), 413, "over the limit")
        _check(client.put(push, content=b"x" * (10 * LIMIT)), 413, "over the limit")  # not even read
        # small on the wire, too big once inflated: a "gzip bomb" is refused, not unpacked
        bomb = gzip.compress(big + b" " * (50 * LIMIT))
        assert len(bomb) < LIMIT
        _check(client.put(push, content=bomb, headers={"Content-Encoding": "gzip"}), 413, "decompressed")
        # a body just under the limit is fine, and so is its gzipped form
        fits = b'{"count": 1, "payload_text": "' + b"x" * (LIMIT - 100) + b'"}'
        assert client.put(push, content=fits).status_code == 201
        again = client.put(push, content=gzip.compress(fits), headers={"Content-Encoding": "gzip"})
        assert again.status_code == 200 and again.json() == {"seq": 1, "duplicate": True}
    assert _stored(server.db) == (1, 1)


def test_every_answer_states_the_server_time(server) -> None:
    for response in (
        httpx.get(f"{server.url}/health"),
        httpx.get(f"{server.url}/openapi.json"),
        httpx.get(f"{server.url}/v1/devices"),
        httpx.post(f"{server.url}/v1/devices"),
        httpx.get(f"{server.url}/missing"),
    ):
        assert abs(int(response.headers["x-server-time"]) / 1000 - time.time()) < 5  # the same machine's clock
        assert response.status_code < 500


def test_an_entry_too_large_for_the_server_is_said_and_the_writes_after_it_wait(server, a) -> None:
    """A value larger than the server takes: the error names the server's limit; nothing is lost."""
    add(a, ("p0", "small", 0), ("big", os.urandom(LIMIT).hex(), 1), ("p2", "small", 2))
    with HttpSharedLog(server.url, server.token) as log:
        with pytest.raises(RemoteError, match=r"refused one entry of [\d,]+ bytes as too large") as refused:
            a.sync(log, upload_byte_limit=LIMIT // 4)
        assert refused.value.kind == "too_large" and "--max-body-bytes" in str(refused.value)
        assert a.status().unshared == 2  # p0 went; the large value and the write after it wait
        with pytest.raises(RemoteError, match="as too large"):  # and again, not silently skipped
            a.sync(log, upload_byte_limit=LIMIT // 4)
    assert _stored(server.db)[0] == 1
