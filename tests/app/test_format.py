"""How locations read in the window: the home folder as ``~``, no password from a URL."""

from __future__ import annotations

from app import format as fmt


def test_locations_under_home_read_with_a_tilde(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert fmt.location(str(tmp_path / "me" / "shops" / "shared.db")) == "~/shops/shared.db"
    assert fmt.location(str(tmp_path / "elsewhere.db")) == str(tmp_path / "elsewhere.db")


def test_url_passwords_are_hidden() -> None:
    assert fmt.location("postgresql://me:s3cret@db.example.com/shop") == "postgresql://me:***@db.example.com/shop"
    assert fmt.location("https://sync.example.com") == "https://sync.example.com"
    assert fmt.location("mysql+pymysql://root@127.0.0.1:3306/test") == "mysql+pymysql://root@127.0.0.1:3306/test"
