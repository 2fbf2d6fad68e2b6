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

import shiboken6
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
        self._tasks: set[asyncio.Future[Any]] = set()  # the loop holds only weak references to tasks

    async def run(self, what: str, work: Callable[[], Awaitable[T]], controls: Iterable[QWidget | None] = ()) -> T | None:
        """Await ``work()`` with ``controls`` disabled; return its result, or None after a failure."""
        return await self._run(what, work, _disable(controls))

    async def _run(self, what: str, work: Callable[[], Awaitable[T]], disabled: list[QWidget]) -> T | None:
        self.running.add(what)
        self.started.emit(what)
        try:
            return await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if shiboken6.isValid(self):
                self.failed.emit(what, exc)
            return None
        finally:
            self.running.discard(what)
            for control in disabled:
                if shiboken6.isValid(control):  # the window may have closed meanwhile
                    control.setEnabled(True)
            if shiboken6.isValid(self):
                self.finished.emit(what)

    def start(self, what: str, work: Callable[[], Awaitable[Any]], controls: Iterable[QWidget | None] = ()) -> asyncio.Future[Any]:
        """Disable ``controls`` now, schedule the work, and return its task (for plain slots)."""
        task = asyncio.ensure_future(self._run(what, work, _disable(controls)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        """Cancel the work started with :meth:`start` that is still under way, and wait for it to end."""
        left = [t for t in self._tasks if not t.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left)


def _disable(controls: Iterable[QWidget | None]) -> list[QWidget]:
    disabled = [c for c in controls if c is not None and c.isEnabled()]
    for control in disabled:
        control.setEnabled(False)
    return disabled
