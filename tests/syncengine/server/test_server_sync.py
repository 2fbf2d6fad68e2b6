"""Devices syncing through real server processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
import sqlalchemy as sa

from syncengine import Device
from syncengine.errors import ConfigurationError
from syncengine.remote import AsyncHttpSharedLog, HttpSharedLog
from tests.syncengine.helpers import add, metadata, products, rows, write

from .servers import new_token, run_cli


def _devices(tmp_path, n: int) -> list[Device]:
    return [Device.init(str(tmp_path / f"device{i}.sqlite"), metadata=metadata, name=f"device{i}") for i in range(n)]


def _converge(pairs: list[tuple[Device, HttpSharedLog]], rounds: int = 4) -> None:
    """Sync everyone in turn until a whole round moves nothing (at most ``rounds``)."""
    for _ in range(rounds):
        moved = 0
        for device, remote in pairs:
            report = device.sync(remote)
            moved += report.sent + report.received
        if moved == 0:
            return
    pytest.fail(f"the devices did not settle in {rounds} rounds")


def test_three_devices_converge_through_a_server(tmp_path, log_db, start_server) -> None:
    server = start_server(log_db)
    a, b, c = _devices(tmp_path, 3)
    remotes = [HttpSharedLog(server.url, new_token(log_db, "alice")) for _ in range(3)]
    pairs = list(zip([a, b, c], remotes, strict=True))
    add(a, ("p1", "apple", 1), ("p2", "pear", 2))
    add(b, ("p3", "plum", 3))
    add(c, *[(f"c{i:04}", f"item {i}", i) for i in range(2500)])
    _converge(pairs)
    write(b, products.update().where(products.c.id == "p1").values(price=10))
    write(c, products.delete().where(products.c.id == "p2"))
    _converge(pairs)

    expected = rows(a)
    assert len(expected) == 2 + 2500
    assert {r["id"]: r["price"] for r in expected}["p1"] == 10
    assert rows(b) == expected and rows(c) == expected
    listed = remotes[0].devices()
    assert sorted(d.name for d in listed) == ["device0", "device1", "device2"]
    assert all(d.user == "alice" and d.behind == 0 for d in listed)
    # one machine, one clock: the estimate must be close to zero
    assert remotes[0].clock_offset_ms is not None and abs(remotes[0].clock_offset_ms) < 1000
    offset = a.status().clock_offset_ms  # the device keeps the estimate for `syncengine status`
    assert offset is not None and abs(offset) < 1000
    for remote in remotes:
        remote.close()


def test_the_command_line_syncs_through_the_server(tmp_path, start_server, new_db) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    a, b = _devices(tmp_path, 2)
    add(a, ("p1", "apple", 1))
    token = new_token(db, "alice")
    a_path, b_path = str(a.engine.url.database), str(b.engine.url.database)

    sent = json.loads(run_cli("sync", a_path, "--remote", server.url, "--token", token, "--json").stdout)
    assert sent["sent"] == 1
    got = json.loads(run_cli("sync", b_path, "--remote", server.url, "--json", env={"SYNCENGINE_TOKEN": token}).stdout)
    assert got["received"] == 1 and rows(b) == rows(a)
    listed = json.loads(
        run_cli("devices", b_path, "--remote", server.url, "--json", env={"SYNCENGINE_TOKEN": token}).stdout
    )
    assert sorted(d["name"] for d in listed) == ["device0", "device1"]

    refused = run_cli("sync", a_path, "--remote", server.url, env={"SYNCENGINE_TOKEN": ""}, check=False)
    assert refused.returncode == 1 and "token" in refused.stderr and "Traceback" not in refused.stderr
    wrong = run_cli("sync", a_path, "--remote", server.url, "--token", "not-a-token", check=False)
    assert wrong.returncode == 1 and "refused the token" in wrong.stderr


@pytest.mark.postgres
def test_two_server_processes_on_one_postgresql(tmp_path, new_db, start_server) -> None:
    db = new_db("postgresql")
    servers = [start_server(db), start_server(db)]
    devices = _devices(tmp_path, 4)
    remotes = [HttpSharedLog(servers[i % 2].url, new_token(db, "alice")) for i in range(4)]
    for i, device in enumerate(devices):
        add(device, *[(f"d{i}-{k:03}", f"item {k}", k) for k in range(300)])
    errors: list[BaseException] = []

    def sync_all(device: Device, remote: HttpSharedLog) -> None:
        try:
            for _ in range(3):
                device.sync(remote, upload_batch_size=50, download_batch_size=70)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    # concurrently, so both processes append to the one log at the same time
    threads = [threading.Thread(target=sync_all, args=pair) for pair in zip(devices, remotes, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    _converge(list(zip(devices, remotes, strict=True)))
    expected = rows(devices[0])
    assert len(expected) == 4 * 300
    assert all(rows(d) == expected for d in devices[1:])

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(sa.text("SELECT seq FROM sharedlog_batches ORDER BY seq"))]
        total = conn.execute(sa.text("SELECT SUM(count) FROM sharedlog_batches")).scalar_one()
    engine.dispose()
    assert len(seqs) == len(set(seqs)) and total == 4 * 300
    for remote in remotes:
        remote.close()


def test_a_client_registers_pushes_pulls_and_lists_devices(start_server, new_db, http_log) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    token = new_token(db, "alice")
    one, two = http_log(server.url, token), http_log(server.url, token)
    assert one.register_device("dev-one", "one").name == "one"
    two.register_device("dev-two", "two")
    first = one.push("dev-one", "batch-1", b'{"entries": []}', 3, {"note": "x"})
    again = one.push("dev-one", "batch-1", b'{"entries": []}', 3, {"note": "x"})
    binary = one.push("dev-one", "batch-2", bytes(range(256)), 1)
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    pulled = two.pull("dev-two", 0, 10)
    assert [b.batch_id for b in pulled.batches] == ["batch-1", "batch-2"]
    assert pulled.batches[0].extra == {"note": "x"} and pulled.batches[1].payload == bytes(range(256))
    assert pulled.cursor == binary.seq and not pulled.more
    two.mark_pulled("dev-two", pulled.cursor)
    listed = {d.device_id: d for d in one.devices()}
    assert listed["dev-two"].last_pull_seq == binary.seq and listed["dev-two"].behind == 0
    # one machine, one clock: the estimate must be close to zero
    assert one.clock_offset_ms is not None and abs(one.clock_offset_ms) < 1000


def test_large_bodies_travel_gzipped_both_ways(start_server, new_db, http_log) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    token = new_token(db, "alice")
    answers: list[httpx.Response] = []
    # on loopback the client compresses only when told to (it saves nothing there)
    one = http_log(server.url, token, compress_min_bytes=1024, compress_loopback=True, record=answers)
    two = http_log(server.url, token)
    one.register_device("dev-one", "one")
    two.register_device("dev-two", "two")
    payload = json.dumps({"entries": ["x" * 100] * 2000}).encode()
    one.push("dev-one", "big", payload, 2000)
    two.push("dev-two", "big", payload, 2000)
    assert one.pull("dev-one", 0, 5000).batches[0].payload == payload
    seen = [(a.request.headers.get("content-encoding"), a.headers.get("content-encoding")) for a in answers]
    assert ("gzip", None) in seen  # the push went up compressed
    assert (None, "gzip") in seen  # the pull came down compressed
    assert all(a.request.headers["accept-encoding"] == "gzip" for a in answers)


def test_on_loopback_nothing_is_compressed_unless_asked(start_server, new_db, http_log) -> None:
    db = new_db("sqlite")
    server = start_server(db)
    answers: list[httpx.Response] = []
    log = http_log(server.url, new_token(db, "alice"), record=answers)
    log.register_device("dev-one", "one")
    log.register_device("dev-two", "two")
    payload = json.dumps({"entries": ["x" * 100] * 2000}).encode()
    log.push("dev-one", "big", payload, 2000)
    assert log.pull("dev-two", 0, 5000).batches[0].payload == payload
    assert len(answers) == 4 and all(a.request.headers["accept-encoding"] == "identity" for a in answers)
    assert not any(a.request.headers.get("content-encoding") or a.headers.get("content-encoding") for a in answers)


def test_both_clients_close_their_connections_as_context_managers() -> None:
    with HttpSharedLog("http://127.0.0.1:1", "token") as log:
        pass
    assert log._client.is_closed

    async def main() -> AsyncHttpSharedLog:
        async with AsyncHttpSharedLog("http://127.0.0.1:1", "token") as log:
            return log

    assert asyncio.run(main())._client.is_closed


@pytest.mark.parametrize("url", ["ftp://example.org", "http://[::1", "http://a\x00b"])
def test_a_url_that_is_not_a_valid_http_one_is_a_configuration_error(url: str, http_log) -> None:
    with pytest.raises(ConfigurationError, match="URL"):
        http_log(url, "token")
