"""Convergence: any interleaving of writes and syncs on three devices ends identical.

Hypothesis draws programs of inserts, updates, deletes (on a few shared keys, so
they collide) and syncs on three real SQLite devices sharing one SQL log. After the
program every device syncs twice, round-robin; then every device must hold exactly
the same rows. CI runs at least 200 examples (the ``ci`` profile).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings

from syncengine import Device, SqlSharedLog

from .helpers import metadata, products, pump, rows

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))

KEYS = ["k0", "k1", "k2"]
DEVICES = 3

insert = st.tuples(
    st.just("insert"), st.integers(0, DEVICES - 1), st.sampled_from(KEYS), st.text(max_size=3), st.integers(-5, 5)
)
update_name = st.tuples(st.just("name"), st.integers(0, DEVICES - 1), st.sampled_from(KEYS), st.text(max_size=3))
update_price = st.tuples(
    st.just("price"), st.integers(0, DEVICES - 1), st.sampled_from(KEYS), st.none() | st.integers(-5, 5)
)
delete = st.tuples(st.just("delete"), st.integers(0, DEVICES - 1), st.sampled_from(KEYS))
sync = st.tuples(st.just("sync"), st.integers(0, DEVICES - 1))
programs = st.lists(st.one_of(insert, update_name, update_price, delete, sync), max_size=25)


def _run(devices: list[Device], remote: SqlSharedLog, step: tuple) -> None:
    kind, who = step[0], devices[step[1]]
    if kind == "sync":
        who.sync(remote)
        return
    with who.engine.begin() as conn:
        if kind == "insert":
            _, _, key, name, price = step
            exists = conn.execute(sa.select(products.c.id).where(products.c.id == key)).first()
            if exists is None:
                conn.execute(products.insert().values(id=key, name=name, price=price))
        elif kind == "name":
            conn.execute(products.update().where(products.c.id == step[2]).values(name=step[3]))
        elif kind == "price":
            conn.execute(products.update().where(products.c.id == step[2]).values(price=step[3]))
        else:
            conn.execute(products.delete().where(products.c.id == step[2]))


@given(programs)
def test_every_device_converges_after_two_rounds_of_syncs(program) -> None:
    with tempfile.TemporaryDirectory(dir=_fast_tmp()) as folder:
        root = Path(folder)
        devices = [Device.init(str(root / f"d{i}.db"), metadata=metadata, name=f"d{i}") for i in range(DEVICES)]
        remote = SqlSharedLog(str(root / "shared.db"))
        try:
            for step in program:
                _run(devices, remote, step)
            pump(*devices, remote=remote, rounds=2)
            first = rows(devices[0])
            for other in devices[1:]:
                assert rows(other) == first
            for device in devices:
                status = device.status()
                assert (status.unshared, status.pending, status.quarantined) == (0, 0, 0)
        finally:
            remote.close()
            for device in devices:
                device.close()


def _fast_tmp() -> str | None:
    """A RAM-backed folder when there is one: this test opens hundreds of small files."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


review = st.tuples(st.just("review"), st.integers(0, DEVICES - 1), st.booleans())
decide = st.tuples(
    st.just("decide"), st.integers(0, DEVICES - 1), st.sampled_from(["auto", "local", "remote"]), st.integers(0, 3)
)
programs_with_conflicts = st.lists(
    st.one_of(
        update_name, update_price, update_price, insert, delete, sync, sync, sync, review, decide, decide, decide
    ),
    min_size=10,
    max_size=40,
)
takes = st.lists(st.sampled_from(["auto", "local", "remote"]), min_size=DEVICES, max_size=DEVICES)
policies = st.lists(st.sampled_from([True, True, False]), min_size=DEVICES, max_size=DEVICES)


@given(programs_with_conflicts, takes, policies)
def test_devices_converge_when_random_devices_decide_conflicts_at_random(program, final_takes, reviewing) -> None:
    """Review on random devices; random decisions by random devices; then each decides what is left."""
    with tempfile.TemporaryDirectory(dir=_fast_tmp()) as folder:
        root = Path(folder)
        devices = [Device.init(str(root / f"d{i}.db"), metadata=metadata, name=f"d{i}") for i in range(DEVICES)]
        remote = SqlSharedLog(str(root / "shared.db"))
        for device, on in zip(devices, reviewing, strict=True):
            device.set_review(on)
        with devices[0].engine.begin() as conn:  # every device starts with the same rows: edits collide
            conn.execute(products.insert(), [{"id": k, "name": "seed", "price": 0} for k in KEYS])
        pump(*devices, remote=remote, rounds=1)
        try:
            for step in program:
                if step[0] == "review":
                    devices[step[1]].set_review(step[2])
                elif step[0] == "decide":
                    _, who, take, index = step
                    open_ones = devices[who].conflicts()
                    if open_ones:
                        devices[who].resolve(open_ones[index % len(open_ones)].id, take)
                        event("a device decided a conflict mid-program")
                else:
                    _run(devices, remote, step)
            pump(*devices, remote=remote, rounds=2)
            for _ in range(2 * DEVICES):  # one device decides at a time, then everyone syncs
                waiting = [d for d in devices if d.status().conflicts]
                if not waiting:
                    break
                device = waiting[0]
                event("conflicts were still open after the program")
                device.resolve_many(final_takes[devices.index(device)])
                pump(*devices, remote=remote, rounds=2)
            assert [d.status().conflicts for d in devices] == [0] * DEVICES
            first = rows(devices[0])
            for other in devices[1:]:
                assert rows(other) == first
        finally:
            remote.close()
            for device in devices:
                device.close()
