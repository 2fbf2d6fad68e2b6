"""Fixtures of the engine's tests: devices on the catalogue schema and a shared log.

Devices and the shared log are SQLite files, unless a test is marked
``@every_dialect`` (see helpers): then it runs three times, its devices on SQLite,
then PostgreSQL, then MariaDB, and its shared log an SQLite file in the first run and
a PostgreSQL database in the others. Server databases come from ``new_db``, so a
missing server fails the test when ``CI=true`` (see tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncengine import Device, SqlSharedLog

from .helpers import add, metadata, pump, rows


@pytest.fixture
def key_folder(tmp_path, monkeypatch) -> Path:
    """Keys go to a folder of the test's own (never the system keyring); no passphrase comes from outside.

    Modules that touch encryption use it for every test (``pytestmark = pytest.mark.usefixtures("key_folder")``).
    """
    folder = tmp_path / "config"
    monkeypatch.setenv("SYNCENGINE_CONFIG_DIR", str(folder))
    monkeypatch.delenv("SYNCENGINE_PASSPHRASE", raising=False)
    return folder


@pytest.fixture
def device_dialect(request) -> str:
    """The dialect the test's devices live on: "sqlite", or each in turn under ``@every_dialect``."""
    return str(getattr(request, "param", "sqlite"))


class Devices:
    """Makes devices on fresh databases of one dialect and closes them all at the end.

    On SQLite, device ``name`` is the file ``<tmp_path>/<name>.db``; on a server, a new
    database of its own.
    """

    def __init__(self, dialect: str, new_db: Callable[[str], str], tmp_path: Path) -> None:
        self.dialect = dialect
        self.new_db = new_db
        self.tmp_path = tmp_path
        self.made: list[Device] = []
        self.urls: dict[str, str] = {}

    def __call__(self, name: str, meta: sa.MetaData = metadata) -> Device:
        url = str(self.tmp_path / f"{name}.db") if self.dialect == "sqlite" else self.new_db(self.dialect)
        self.urls[name] = url
        device = Device.init(url, metadata=meta, name=name)
        self.made.append(device)
        return device

    def reopen(self, name: str) -> Device:
        """Open device ``name`` again, as a restarted program would."""
        device = Device.open(self.urls[name])
        self.made.append(device)
        return device

    def close(self) -> None:
        for device in self.made:
            device.close()


@pytest.fixture
def devices(device_dialect, new_db, tmp_path) -> Iterator[Devices]:
    """A factory of devices: ``devices(name, meta=metadata)``."""
    made = Devices(device_dialect, new_db, tmp_path)
    yield made
    made.close()


@pytest.fixture
def shared(device_dialect, new_db, tmp_path) -> Iterator[SqlSharedLog]:
    """An SQL shared log: an SQLite file for SQLite devices, a PostgreSQL database for the servers'."""
    log = SqlSharedLog(str(tmp_path / "shared.db") if device_dialect == "sqlite" else new_db("postgresql"))
    yield log
    log.close()


@pytest.fixture
def a(devices) -> Device:
    """Device "a", with ``products`` synced (on SQLite: the file ``<tmp_path>/a.db``)."""
    return devices("a")


@pytest.fixture
def b(devices) -> Device:
    """Device "b": like "a"."""
    return devices("b")


@pytest.fixture
def ab(a, b, shared) -> tuple[Device, Device]:
    """Devices "a" and "b", both holding product p1 (kettle, price 10), synced."""
    add(a, ("p1", "kettle", 10))
    pump(a, b, remote=shared)
    assert rows(b) == rows(a)
    return a, b
