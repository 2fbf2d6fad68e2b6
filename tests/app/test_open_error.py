"""Opening something that is not a device database says why in one sentence (the box shown when no window is open)."""

from __future__ import annotations

import pytest

from app import errors
from syncengine import Device, SyncEngineError


def test_a_file_that_is_not_a_database_is_one_sentence_in_our_words(tmp_path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("milk, eggs\n" * 100)
    with pytest.raises(SyncEngineError) as raised:
        Device.open(str(notes))
    said = errors.sentence(raised.value)
    assert said.startswith(f"{notes} is not an SQLite database, or it is damaged")
    assert "\n" not in said and "sqlite3." not in said and "sqlalche.me" not in said


def test_other_failures_name_their_kind_without_sqlalchemy_text() -> None:
    import sqlite3

    import sqlalchemy as sa

    raw = sa.exc.OperationalError("SELECT 1", (), sqlite3.OperationalError("disk I/O error"))
    said = errors.sentence(raw)
    assert said == "OperationalError: (sqlite3.OperationalError) disk I/O error"
    assert errors.sentence(FileNotFoundError(2, "No such file or directory", "/x/y.db")) == (
        "No such file or directory: /x/y.db"
    )
