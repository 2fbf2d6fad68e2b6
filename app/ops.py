"""Running an action from the UI: disable its controls, await it, send failures to one handler.

The idea of Anki's ``CollectionOp``: the work runs in the background (here: an
awaited coroutine whose blocking parts are in worker threads), the controls that
started it are disabled until it ends, and whatever it raises goes to a single
place that shows it (the window's banner).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

T = TypeVar("T")


class Ops(QObject):
    """Runs UI actions; ``failed(what, exception)`` reports any error they raise."""

    failed = Signal(str, object)
    started = Signal(str)
    finished = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running: set[str] = set()

    async def run(self, what: str, work: Callable[[], Awaitable[T]], controls: Iterable[QWidget | None] = ()) -> T | None:
        """Await ``work()`` with ``controls`` disabled; return its result, or None after a failure."""
        disabled = [c for c in controls if c is not None and c.isEnabled()]
        for control in disabled:
            control.setEnabled(False)
        self.running.add(what)
        self.started.emit(what)
        try:
            return await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed.emit(what, exc)
            return None
        finally:
            self.running.discard(what)
            for control in disabled:
                try:
                    control.setEnabled(True)
                except RuntimeError:  # the widget was deleted meanwhile (window closed)
                    pass
            self.finished.emit(what)

    def start(self, what: str, work: Callable[[], Awaitable[Any]], controls: Iterable[QWidget | None] = ()) -> asyncio.Future[Any]:
        """Schedule :meth:`run` and return its task (for plain, non-async slots)."""
        return asyncio.ensure_future(self.run(what, work, controls))
