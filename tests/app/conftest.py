"""Fixtures for the desktop app's tests: offscreen Qt, a qasync loop, a private config folder.

``QT_QPA_PLATFORM=offscreen`` is set before Qt is imported, so the tests run on
machines without a display. Every test gets its own config folder (settings,
recent workspaces, tokens, activity), so a user's real settings are never read
or written. Waiting is always on a signal or a condition (``waitSignal``,
``waitUntil``), never a sleep.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync

T = TypeVar("T")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After pytest-qt has closed a test's widgets, destroy them and every other Qt leftover now.

    pytest-qt calls ``deleteLater()`` on the widgets a test registered, but those
    deletions wait for the next Qt event loop, which never comes after the last app
    test. Leftover windows were then destroyed by Python's garbage collector at a
    random moment of a later, unrelated test: the likely cause of a segfault CI hit
    inside an engine test (about one run in ten). Flushing the deferred deletions and collecting here, while the
    ``QApplication`` and everything the widgets point at are still in a known state,
    makes every app test leave nothing behind.
    """
    result = yield
    from PySide6.QtCore import QCoreApplication, QEvent

    for widget in _top_level_widgets():
        widget.close()
        widget.deleteLater()
    for _ in range(2):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
    return result


def _top_level_widgets() -> list[Any]:
    from PySide6.QtWidgets import QApplication

    return list(QApplication.topLevelWidgets()) if QApplication.instance() is not None else []


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's settings at a temporary folder (never the user's real ones)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("SYNC_MANAGER_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def loop(qapp: Any, qtbot: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop on pytest-qt's QApplication, "running" whenever Qt processes events.

    qasync's ``already_running`` mode treats the loop as running while pytest-qt spins
    Qt's event loops (``waitSignal``, ``waitUntil``). Its ``stop()`` would call
    ``QApplication.exit()``, which makes every later Qt event loop return at once, so
    teardown only cancels what is left and clears qasync's running flag.
    """
    from app.main import make_application

    make_application()
    event_loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    left = [t for t in asyncio.all_tasks(event_loop) if not t.done()]
    for task in left:
        task.cancel()
    qtbot.waitUntil(lambda: all(t.done() for t in left), timeout=10000)
    event_loop._QEventLoop__is_running = False  # type: ignore[attr-defined]  # see the docstring
    asyncio.events._set_running_loop(None)  # qasync set it for the "already running" loop
    event_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def run(qtbot: Any, loop: asyncio.AbstractEventLoop) -> Callable[..., Any]:
    """Run a coroutine on the qasync loop while Qt processes events; return its result."""

    def runner(awaitable: Awaitable[T], timeout: int = 20000) -> T:
        future = asyncio.ensure_future(awaitable)
        qtbot.waitUntil(future.done, timeout=timeout)
        return future.result()

    return runner
