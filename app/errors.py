"""What the app says when the engine refuses: one sentence, never a driver's raw text or a traceback."""

from __future__ import annotations

from syncengine import SyncEngineError


def sentence(exc: BaseException) -> str:
    """The engine's own sentence for ``exc`` on one line; for anything else, what kind of failure it was."""
    text = " ".join(str(exc).split())
    if isinstance(exc, SyncEngineError):
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    first = text.split(" (Background on this error", 1)[0].split(" [SQL:", 1)[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
