"""Fixtures for the engine's SQLite tests: two devices on the catalogue schema and a shared log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncengine import Device, SqlSharedLog

from .helpers import metadata


@pytest.fixture
def shared(tmp_path) -> Iterator[SqlSharedLog]:
    """An SQL shared log in an SQLite file."""
    log = SqlSharedLog(str(tmp_path / "shared.db"))
    yield log
    log.close()


@pytest.fixture
def a(tmp_path) -> Iterator[Device]:
    """Device "a": an SQLite file with ``products`` synced."""
    device = Device.init(str(tmp_path / "a.db"), metadata=metadata, name="a")
    yield device
    device.close()


@pytest.fixture
def b(tmp_path) -> Iterator[Device]:
    """Device "b": like "a"."""
    device = Device.init(str(tmp_path / "b.db"), metadata=metadata, name="b")
    yield device
    device.close()
