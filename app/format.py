"""How values, keys and times read in the app."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

DASH = "—"


def value(v: Any, *, limit: int = 80) -> str:
    """Return a short display form of a column value (None reads as an em dash)."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, Mapping):
        text = ", ".join(f"{k}={value(x, limit=limit)}" for k, x in v.items())
    elif isinstance(v, (list, tuple)):
        text = ", ".join(value(x, limit=limit) for x in v)
    else:
        text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key(pk: Any) -> str:
    """Return a row's primary key for display."""
    if isinstance(pk, (list, tuple)):
        return pk[0] if len(pk) == 1 and isinstance(pk[0], str) else ", ".join(value(p) for p in pk)
    return value(pk)


def when(ts: float | None, *, now: float | None = None) -> str:
    """Return a Unix time as "3 min ago (14:02)"; an em dash for None."""
    if ts is None:
        return DASH
    now = time.time() if now is None else now
    delta = max(0.0, now - ts)
    local = dt.datetime.fromtimestamp(ts)
    clock = local.strftime("%H:%M") if delta < 86400 else local.strftime("%Y-%m-%d %H:%M")
    if delta < 45:
        ago = "just now"
    elif delta < 3600:
        ago = f"{round(delta / 60)} min ago"
    elif delta < 86400:
        ago = f"{round(delta / 3600)} h ago"
    else:
        ago = f"{round(delta / 86400)} d ago"
    return f"{ago} ({clock})"


def stamp(ts: float | None) -> str:
    """Return an absolute local time."""
    if ts is None:
        return DASH
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def version_time(version: str | None) -> float | None:
    """Return the wall time (Unix seconds) of a hybrid-clock version string."""
    if not version:
        return None
    try:
        from syncengine.clock import wall_of

        return wall_of(version) / 1000.0
    except (ValueError, ImportError):
        return None


def count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """Return "1 conflict", "2 conflicts", "1 entry", "3 entries" (never "conflict(s)")."""
    if n == 1:
        return f"1 {singular}"
    many = plural_form or (singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else singular + "s")
    return f"{n:,} {many}"


LABEL_COLUMNS = ("name", "title", "label", "sku")
"""The columns that name a row for a person, in the order they are looked for."""


def label_of(values: Any) -> str:
    """Return a row's human name from its values (its name, title, label or sku), or ""."""
    if not isinstance(values, Mapping):
        return ""
    for column in LABEL_COLUMNS:
        found = values.get(column)
        if found not in (None, ""):
            return str(found)
    return ""


def location(where: str) -> str:
    """Return a database or remote location for display: ``~`` for the home folder, URL passwords hidden."""
    if "://" in where:
        scheme, rest = where.split("://", 1)
        credentials, at, host = rest.rpartition("@")
        if at and ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        return f"{scheme}://{credentials}{at}{host}"
    try:
        return "~/" + Path(where).expanduser().resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):  # outside the home folder, or no home
        return where


def duration(seconds: float | None) -> str:
    """Return a time span as "4 s", "3 min 20 s" or "1 h 5 min"; an em dash for None."""
    if seconds is None:
        return DASH
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def size(n: int) -> str:
    """Return a byte count as "812 kB" or "3.4 MB"."""
    if n < 1_000_000:
        return f"{max(n, 0) / 1000:.0f} kB"
    if n < 1_000_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1_000_000_000:.2f} GB"
