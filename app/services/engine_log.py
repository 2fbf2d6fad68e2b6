"""The engine's log (Python ``logging``, logger "syncengine") brought to the UI thread.

The engine logs from wherever it runs: a sync's worker thread, the scheduler's
asyncio task on the UI thread. :class:`EngineLogHandler` never touches a widget
or a model. Its ``emit`` (any thread, under the handler's lock) only appends the
record to a bounded buffer; when the buffer was empty it emits ``wake`` through
a queued connection, so the UI thread drains the buffer — all lines that arrived
meanwhile at once — and hands them on with ``records(list[EngineLogEntry])``.

``install`` adds the handler to the logger and lowers the logger's level to the
handler's when needed (records below a logger's level are never made);
``remove`` takes it off and puts the logger's level back once no handler of
this kind is left on it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from ..models.engine_log import EngineLogEntry

ENGINE_LOGGER = "syncengine"

_levels_before: dict[str, int] = {}  # logger name → its own level before the first handler went on
_levels_lock = threading.Lock()


class _Bridge(QObject):
    """Lives on the UI thread: ``wake`` (from any thread) is delivered there, queued."""

    wake = Signal()
    records = Signal(list)  # list[EngineLogEntry], oldest first

    def __init__(self, take: Callable[[], list[EngineLogEntry]]) -> None:
        super().__init__()
        self._take = take
        self.wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def _drain(self) -> None:
        entries = self._take()
        if entries:
            self.records.emit(entries)


class EngineLogHandler(logging.Handler):
    """A logging handler whose records reach the UI thread as ``bridge.records`` batches.

    Create it on the UI thread. At most ``capacity`` records wait for the UI thread;
    if more arrive before it gets to them, the oldest are dropped.
    """

    def __init__(self, level: int = logging.INFO, *, capacity: int = 5000) -> None:
        super().__init__(level)
        self._pending: deque[EngineLogEntry] = deque(maxlen=capacity)
        self.bridge = _Bridge(self._take)
        self.records = self.bridge.records
        self._logger: logging.Logger | None = None
        try:
            self._home = str(Path.home())
        except RuntimeError:  # no home folder
            self._home = ""

    # -- any thread -----------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            if self._home and len(self._home) > 1:
                message = message.replace(self._home, "~")
            wake = not self._pending  # the handler's lock is held (Handler.handle)
            self._pending.append(EngineLogEntry(record.created, record.levelno, message))
        except Exception:
            self.handleError(record)
            return
        if wake:
            self.bridge.wake.emit()  # queued: the UI thread drains the buffer

    def _take(self) -> list[EngineLogEntry]:
        self.acquire()
        try:
            entries = list(self._pending)
            self._pending.clear()
        finally:
            self.release()
        return entries

    # -- the UI thread ------------------------------------------------------------------------

    def install(self, logger: logging.Logger | None = None) -> None:
        """Add the handler to ``logger`` (the engine's by default)."""
        if self._logger is not None:
            return
        logger = logger or logging.getLogger(ENGINE_LOGGER)
        with _levels_lock:
            if not _ours(logger):
                _levels_before[logger.name] = logger.level
            logger.addHandler(self)
            self._logger = logger
            _tune(logger)

    def remove(self) -> None:
        """Take the handler off its logger again (safe to call twice)."""
        logger, self._logger = self._logger, None
        if logger is None:
            return
        with _levels_lock:
            logger.removeHandler(self)
            if _ours(logger):
                _tune(logger)
            else:
                logger.setLevel(_levels_before.pop(logger.name, logging.NOTSET))

    @property
    def installed(self) -> bool:
        return self._logger is not None

    def setLevel(self, level: int | str) -> None:
        """Capture records at ``level`` and above (lowering the logger's level if needed)."""
        super().setLevel(level)
        logger = getattr(self, "_logger", None)
        if logger is not None:
            with _levels_lock:
                _tune(logger)


def _ours(logger: logging.Logger) -> list[EngineLogHandler]:
    return [h for h in logger.handlers if isinstance(h, EngineLogHandler)]


def _tune(logger: logging.Logger) -> None:
    """Set the logger's level low enough for every handler of ours, never above what it was."""
    before = _levels_before.get(logger.name, logging.NOTSET)
    wanted = min(h.level for h in _ours(logger))
    if before != logging.NOTSET:
        wanted = min(wanted, before)
    elif logger.parent is not None:
        wanted = min(wanted, logger.parent.getEffectiveLevel())
    logger.setLevel(wanted)
