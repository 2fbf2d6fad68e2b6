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


def test_durations_and_sizes_read_as_a_person_says_them() -> None:
    assert [fmt.duration(s) for s in (None, 0.4, 42, 200, 1200, 3900, 7200)] == [
        fmt.DASH, "0 s", "42 s", "3 min 20 s", "20 min", "1 h 5 min", "2 h",
    ]
    assert [fmt.size(n) for n in (812_000, 3_400_000, 2_500_000_000)] == ["812 kB", "3.4 MB", "2.50 GB"]
