"""Where the ``syncengine`` command starts: Ctrl-C at any moment of its start-up ends it quietly.

Loading the command line loads SQLAlchemy, click and the engine, which takes a good part of
a second; Python would answer a Ctrl-C in that time with the traceback of an import. The
console script and ``python -m syncengine`` call :func:`main` here instead, which loads
nothing first (``import syncengine`` loads its names when they are used), so it hears
Ctrl-C from then on. An interrupted start-up ends as an interrupted command does: one line
on stderr, exit status 130. Once the command has ended, a Ctrl-C while Python shuts down
ends the process at once with the command's status (its output is flushed first). What
comes before this module runs — the interpreter's own start, a few hundredths of a second
— is Python's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

INTERRUPTED = "interrupted; nothing saved was lost (run the command again to finish)"
"""What an interrupted command says (the command line's :class:`~syncengine.cli._Group` says it too)."""

_heard: list[bool] = []  # a Ctrl-C during start-up (kept even if a library's import swallowed it)
_program: list[bool] = []  # main() runs: this process is the command (not a test or a program calling it)


def running() -> bool:
    """Whether this process is the ``syncengine`` command started through :func:`main` (it owns Ctrl-C)."""
    return bool(_program)


def listen_early() -> None:
    """Hear Ctrl-C from the first line of ``syncengine/__init__``, when this process is the ``syncengine`` command.

    The package binds ``reconcile`` as it loads (see there), before :func:`main` can run;
    a Ctrl-C in that time would otherwise be Python's traceback. Any other program that
    imports the package keeps its own Ctrl-C.
    """
    if _is_the_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _while_starting)


def _is_the_command() -> bool:
    """Whether this process was started as the console script or as ``python -m syncengine``."""
    if sys.argv and os.path.basename(sys.argv[0]) == "syncengine":
        return True
    args = getattr(sys, "orig_argv", [])  # under -m, argv[0] is "-m" while the package loads
    return "-m" in args and args[args.index("-m") + 1 : args.index("-m") + 2] == ["syncengine"]


def main() -> None:
    """Run the ``syncengine`` command; see the module docstring."""
    _program.append(True)
    previous = signal.signal(signal.SIGINT, _while_starting)
    if previous is _while_starting:  # set already by listen_early(): the command's own comes after start-up
        previous = signal.default_int_handler
    code: int | str | None = 1
    try:
        try:
            if _heard:  # Ctrl-C while the package itself loaded (see listen_early)
                raise KeyboardInterrupt
            from .cli import main as command

            if _heard:  # a library's import swallowed the KeyboardInterrupt: the Ctrl-C still counts
                raise KeyboardInterrupt
            signal.signal(signal.SIGINT, previous)  # from here the command hears Ctrl-C its own way
            command()  # click's standalone mode: it ends by raising SystemExit
        except KeyboardInterrupt:  # while starting, or outside the command's own handling
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # ending already: a second Ctrl-C must not cut the line
            _interrupted()
        except SystemExit as done:
            code = done.code
            raise
    finally:
        _quiet_exit(code)


def _while_starting(_signum: int, _frame: FrameType | None) -> None:
    if not _heard:  # the first Ctrl-C stops the start-up; more of them change nothing
        _heard.append(True)
        if _program:  # (before main() runs, the package's import would end in a traceback: main() asks _heard)
            raise KeyboardInterrupt


def _interrupted() -> NoReturn:
    _flush()
    sys.stderr.write(INTERRUPTED + "\n")
    _flush()
    os._exit(130)  # nothing was started that needs tidying, and the interpreter's shutdown could be interrupted too


def _quiet_exit(code: int | str | None) -> None:
    """From here a Ctrl-C ends the process at once with ``code``: the command's work is done and flushed."""
    _flush()
    status = code if isinstance(code, int) else 0 if code is None else 1
    signal.signal(signal.SIGINT, lambda _signum, _frame: os._exit(status))


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or its reader went away: nothing more to say there
            stream.flush()
