"""What the command line shows a person besides its results: errors, notices, progress, Ctrl-C.

* **Errors** are one sentence on stderr (:func:`error_line`), whatever raised them;
  ``--debug`` adds the traceback.
* **The engine's log** stays out of sight unless ``-v`` asks for it; only notices
  (records logged with :data:`syncengine._db.NOTICE`: a database another program is
  writing to, another sync of the database running) are printed, at once, as they
  are meant for people (:func:`setup_logging`).
* **Long work** runs in a worker thread (:func:`interruptible`), so that Ctrl-C is
  heard at once: the work is asked to stop at its next batch boundary, where it
  records what it did; if it has not stopped half a second later, its statements in
  progress are interrupted (their transactions roll back), and a second later the
  process ends regardless. Nothing committed is lost either way.
* **Progress** (:class:`SyncProgress`) is drawn on stderr with ``rich`` when stderr
  is a terminal, and not at all otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import click

from . import _db
from .events import Progress

T = TypeVar("T")

GRACE = 0.5  # seconds a stopping job gets to reach a batch boundary before its statements are interrupted
UNWIND = 3.0  # ... and then to roll back and record itself (it takes a moment; longer on a loaded machine)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 conflict``, ``2 conflicts``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def when(stamp: float | None) -> str:
    """A Unix time as local ISO time to the second, or "never"."""
    if stamp is None:
        return "never"
    return dt.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


def clock() -> str:
    """The local time of day, for lines printed as things happen."""
    return dt.datetime.now().strftime("%H:%M:%S")


def one_line(text: object) -> str:
    """Any message on one line (drivers write several)."""
    return " ".join(str(text).split())


# -- logging --------------------------------------------------------------------------------


class _Echo(logging.Handler):
    """Writes records through click, so a progress display on stderr makes room for them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - logging must never fail the command
            self.handleError(record)


class _OurHandler(_Echo):
    """Marks the handlers this module installed, so a second setup replaces them."""


def setup_logging(verbose: int) -> None:
    """Show the engine's log on stderr with ``-v`` (``-vv``: debug too); otherwise only its notices.

    Library log lines (the retries of the HTTP client, say) are shown with ``-v``
    only: without it Python's last-resort handler is kept from printing them.
    """
    root = logging.getLogger()
    engine_log = logging.getLogger("syncengine")
    for logger in (root, engine_log):
        for handler in [h for h in logger.handlers if isinstance(h, _OurHandler | logging.NullHandler)]:
            logger.removeHandler(handler)
    root.addHandler(logging.NullHandler())  # never the last-resort printer
    handler = _OurHandler()
    if verbose:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
        engine_log.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    else:
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.addFilter(lambda record: bool(getattr(record, "syncengine_notice", False)))
        engine_log.addHandler(handler)
        engine_log.setLevel(logging.WARNING)


# -- Ctrl-C -----------------------------------------------------------------------------------


class Interrupted(Exception):
    """Ctrl-C stopped the work; ``value`` is what it returned when it stopped at a boundary (else None)."""

    def __init__(self, value: Any = None) -> None:
        super().__init__("interrupted")
        self.value = value


def interruptible(work: Callable[[threading.Event], T], abandon: Callable[[], None] | None = None) -> T:
    """Run ``work(cancel)`` in a worker thread; Ctrl-C sets ``cancel`` and stops it within about a second.

    Returns what ``work`` returns. After Ctrl-C raises :class:`Interrupted` (holding
    what ``work`` returned, if it returned), or ends the process with status 130 when
    the work could not be stopped in time (an uncommitted transaction is rolled back
    by the database), after calling ``abandon`` (what the work would have written
    on its way out, such as the history record, written from here).
    """
    cancel = threading.Event()
    finished = threading.Event()  # not Thread.join: Ctrl-C during a join leaves the thread marked stopped
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work(cancel)
        except BaseException as exc:
            box["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=target, name="syncengine-work", daemon=True)
    worker.start()
    try:
        finished.wait()
    except KeyboardInterrupt:
        cancel.set()
        try:
            # the work stops at its next batch boundary and records itself
            if not finished.wait(GRACE):
                _db.interrupt_others()  # statements in progress stop now; their transactions roll back
                finished.wait(UNWIND)
        except KeyboardInterrupt:
            pass  # asked twice: go now
        if not finished.is_set():
            if abandon is not None:
                with contextlib.suppress(Exception), _db.uninterruptible():
                    abandon()
            click.echo("interrupted (the work in progress was rolled back; nothing saved is lost)", err=True)
            sys.stdout.flush()
            os._exit(130)
        error = box.get("error")
        if error is not None and not _db.is_interrupt(error) and not _cancelled(error):
            raise error from None
        if error is None and getattr(box.get("value"), "cancelled", True) is False:
            return box["value"]  # type: ignore[no-any-return]  # it had finished before it heard Ctrl-C
        # stopped in a batch: the sync's report until then travels with its error
        raise Interrupted(box["value"] if "value" in box else getattr(error, "report", None)) from None
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _cancelled(exc: BaseException) -> bool:
    from .errors import SyncCancelled

    return isinstance(exc, SyncCancelled)


# -- progress -----------------------------------------------------------------------------------

_STAGES = {"receive": "receiving", "share": "sending", "reconcile": "applying"}


class SyncProgress:
    """A progress display of a sync on stderr (stage, entries, rate), drawn only when stderr is a terminal.

    Use as a context manager; pass :meth:`on_progress` as the sync's ``on_progress``.
    ``totals`` gives a stage's expected entries when known (the entries waiting to
    be sent), which makes its bar a bar.
    """

    def __init__(self, *, totals: dict[str, int] | None = None, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.totals = totals or {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._starting: Any = None

    def __enter__(self) -> SyncProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<10}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=False,
        )
        self._progress.start()
        self._starting = self._progress.add_task("starting", total=None, count="", rate="")
        return self

    def on_progress(self, event: Progress) -> None:
        """Move the stage's bar to the entries done so far."""
        if self._progress is None:
            return
        task = self._tasks.get(event.stage)
        if task is None:
            if self._starting is not None:
                self._progress.remove_task(self._starting)
                self._starting = None
            total = event.total if event.total is not None else self.totals.get(event.stage)
            task = self._progress.add_task(_STAGES.get(event.stage, event.stage), total=total, count="", rate="")
            self._tasks[event.stage] = task
        self._progress.update(task, completed=event.done)
        speed = self._progress.tasks[self._index(task)].speed
        rate = f"{speed:,.0f} entries/s" if speed else ""
        self._progress.update(task, count=f"{event.done:,} entries", rate=rate)

    def _index(self, task: Any) -> int:
        return next(i for i, t in enumerate(self._progress.tasks) if t.id == task)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
