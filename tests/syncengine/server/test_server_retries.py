"""Retries against a real server: 5xx and 429 are retried, lost answers are safe, and giving up is clear."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from syncengine import Device
from syncengine.errors import RemoteUnavailable
from syncengine.remote import _http
from tests.syncengine.helpers import add, metadata, rows

from .servers import free_port, new_token


@pytest.fixture
def flaky(start_server, new_db, tmp_path):
    """A real server behind the failing front of ``flaky.py``: (front URL, plan setter, server, token)."""
    db = new_db("sqlite")
    server = start_server(db)
    port = free_port()
    front = subprocess.Popen([sys.executable, str(Path(__file__).with_name("flaky.py")), server.url, str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/_flaky", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline and front.poll() is None, "the flaky front did not start"
            time.sleep(0.05)

    def plan(steps: list[object], retry_after: int | None = None) -> dict[str, int]:
        return dict(httpx.put(f"{url}/_flaky", json={"plan": steps, "retry_after": retry_after}).json())

    yield url, plan, server, new_token(db, "alice")
    front.terminate()
    front.wait(timeout=10)


def _pair(tmp_path) -> tuple[Device, Device]:
    return (
        Device.init(str(tmp_path / "a.sqlite"), metadata=metadata, name="a"),
        Device.init(str(tmp_path / "b.sqlite"), metadata=metadata, name="b"),
    )


def test_503_and_429_are_retried_and_the_sync_succeeds(flaky, tmp_path, http_log, caplog) -> None:
    url, plan, server, token = flaky
    a, b = _pair(tmp_path)
    add(a, ("p1", "apple", 1), ("p2", "pear", 2))
    remote = http_log(url, token)
    plan([503, 429])  # two failures: the third (last) try of the first request gets through
    with caplog.at_level(logging.INFO, logger="syncengine.remote"):
        report = a.sync(remote)
    assert report.sent == 2
    said = [r.getMessage() for r in caplog.records if r.name == "syncengine.remote"]  # what -v shows of each retry
    assert len(said) == 2 and "(503 " in said[0] and "(429 " in said[1], said
    assert all(f"the shared log at {url} did not answer" in line and "trying again in" in line for line in said)
    assert "(attempt 2)" in said[0] and "(attempt 3)" in said[1]
    counts = plan([])
    assert counts["failed"] == 2 and counts["left"] == 0
    b.sync(http_log(server.url, token))
    assert rows(b) == rows(a)


def test_a_push_whose_answer_is_lost_is_stored_once(flaky, tmp_path, http_log) -> None:
    url, plan, server, token = flaky
    a, b = _pair(tmp_path)
    add(a, ("p1", "apple", 1))
    remote = http_log(url, token)
    remote.register_device(a.device_id, a.name)
    # stages: register, pull (nothing), mark cursor, then the push, which is stored but its answer lost
    plan([None, None, None, "lose"])
    assert a.sync(remote).sent == 1
    assert plan([])["failed"] == 1
    direct = http_log(server.url, token)
    b.sync(direct)
    assert rows(b) == rows(a)
    assert [d.name for d in direct.devices()] == ["a", "b"]
    pulled = http_log(server.url, token)
    pulled.register_device("auditor", "auditor")
    assert [x.count for x in pulled.pull("auditor", 0, 100).batches] == [1]  # one batch, not two


def test_after_the_retries_a_clear_error_and_nothing_lost(flaky, tmp_path, http_log) -> None:
    url, plan, server, token = flaky
    a, b = _pair(tmp_path)
    add(a, *[(f"p{i}", f"item {i}", i) for i in range(5)])
    remote = http_log(url, token)
    remote.register_device(a.device_id, a.name)
    plan([None, None, None, *[503] * 10])  # the pushes fail however often they are tried
    with pytest.raises(RemoteUnavailable, match=r"503 .*gave up after retrying"):
        a.sync(remote)
    assert a.status().unshared == 5
    plan([])
    assert a.sync(remote).sent == 5
    b.sync(http_log(server.url, token))
    assert rows(b) == rows(a) and len(rows(b)) == 5


def test_retry_after_is_honoured(flaky, http_log) -> None:
    url, plan, _server, token = flaky
    _http.set_testing(False)  # real waits for this one
    remote = http_log(url, token, attempts=3)
    plan([429], retry_after=1)
    started = time.monotonic()
    remote.devices()
    assert time.monotonic() - started >= 0.9


def test_a_stopped_server_is_waited_for_until_it_is_back(start_server, new_db, tmp_path, http_log) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    token = new_token(db, "alice")
    a, _b = _pair(tmp_path)
    add(a, ("p1", "apple", 1))
    server.stop()
    _http.set_testing(False)  # real backoff: the server is back after about a second
    remote = http_log(server.url, token, attempts=20, retry_timeout=60)
    threading.Timer(1.0, server.start).start()
    assert a.sync(remote).sent == 1


def test_an_unreachable_server_is_a_clear_error(tmp_path, http_log) -> None:
    a, _b = _pair(tmp_path)
    add(a, ("p1", "apple", 1))
    remote = http_log(f"http://127.0.0.1:{free_port()}", "token")
    with pytest.raises(RemoteUnavailable, match=r"cannot reach the shared log .*connection refused"):
        a.sync(remote)
    assert a.status().unshared == 1
