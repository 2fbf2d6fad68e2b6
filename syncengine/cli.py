"""The ``syncengine`` command: the contract scripts and the desktop app rely on.

Every command takes the device database as ``DB`` (an SQLAlchemy URL, or a plain
path for an SQLite file) and names a shared log ``REMOTE`` (``--remote``, or the
one the device remembers). ``--json`` prints machine-readable output on stdout.
Errors print one sentence on stderr and exit with status 1 (2 for bad usage, 130
when interrupted); ``--debug`` adds the traceback. What a person sees besides the
results (notices, progress, Ctrl-C) is in :mod:`syncengine._console`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import __version__, _console, _db, _doctor
from ._cli_common import (
    chosen_remote,
    command,
    open_remote,
    print_json,
    refuse_user_for_server,
    remote_options,
    token_database,
)
from ._console import Interrupted, interruptible, plural
from ._entry import INTERRUPTED, running
from ._verify import AUTO_PUBLISH_ROWS
from .device import Device, check_name
from .errors import ConflictError, SyncEngineError
from .model import SyncReport
from .options import MAX_INTERVAL, SyncOptions

T = TypeVar("T")


class _Group(click.Group):
    """Turns every error into one clear line and a non-zero exit (the traceback only with ``--debug``)."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:  # while the arguments are read: interrupted like a command (not click's "Aborted!")
            _ending_on_interrupt()
            raise click.exceptions.Exit(130) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (KeyboardInterrupt, Interrupted):
            _ending_on_interrupt()
            ctx.exit(130)
        except BrokenPipeError as exc:
            if not _stdout_closed():  # another pipe (a socket): an error like any other
                click.echo(f"error: {_error_sentence(exc)}", err=True)
                ctx.exit(1)
            # the reader of stdout went away (`syncengine log DB | head -1`): end quietly, as SIGPIPE would,
            # and keep Python from failing again when it flushes stdout at exit
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            if _db.is_interrupt(exc):  # Ctrl-C reached a statement first (a join's copy): an interrupt, not an error
                _ending_on_interrupt()
                ctx.exit(130)
            click.echo(f"error: {_error_sentence(exc)}", err=True)
            ctx.exit(130 if _console_cancelled(exc) else 1)


def _ending_on_interrupt() -> None:
    """Say that the command was interrupted; a further Ctrl-C while it ends changes nothing."""
    if running():  # the process is the command: it ends now (a program calling the group keeps its handler)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    click.echo(INTERRUPTED, err=True)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (where poll() says so; else assumed)."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _fd, event in poll.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or stdout is no file
        return True


def _error_sentence(exc: Exception) -> str:
    """One line saying what went wrong, for any exception: ours say it already; others are translated or named."""
    from ._db import explain

    if isinstance(exc, SyncEngineError):
        return _console.one_line(exc)
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.DBAPIError):
        return _console.one_line(explain(exc, "the database"))
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return _console.one_line(f"{exc.strerror or exc}{where}")
    return _console.one_line(
        f"unexpected {type(exc).__name__}: {exc} (run with --debug to see where, and please report it)"
    )


def _console_cancelled(exc: BaseException) -> bool:
    from .errors import SyncCancelled

    return isinstance(exc, SyncCancelled)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="syncengine")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "-v", "--verbose", count=True, help="Print the engine's log on stderr (-v: what happens, -vv: every batch)."
)
@click.option(
    "--wait",
    "lock_wait",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for an SQLite database another program is writing to.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: int, lock_wait: float) -> None:
    """Offline-first sync for SQL databases."""
    from ._db import allow_interrupts, set_lock_wait

    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    _console.setup_logging(verbose)
    set_lock_wait(lock_wait)
    allow_interrupts()  # Ctrl-C stops a statement in progress (see _console.interruptible)


def _summary(report: SyncReport, db: str | None = None, waiting: int | None = None) -> str:
    """What a sync did, in a line or a few: new logs, new ids, counts, conflicts and the command to see them."""
    said = []
    if report.log_created:
        said.append(f"created a new shared log ({report.log_id})")
    if report.identity_changed:
        said.append(
            f"{report.identity_changed}; this database is now device {report.device_id}"
            + (f" (give it a name of its own: syncengine config {db} --name NAME)" if db else "")
        )
    if report.log_restored:
        said.append(
            f"{report.log_restored}; this device shared the state of {plural(report.state_shared, 'row')} "
            "there again and read it again"
        )
    elif report.new_log:
        said.append(
            f"this device had not shared with this log before, or synced with another log since: it shared the state of {plural(report.state_shared, 'row')} "
            "there"
        )
    parts = [
        f"received {report.received}",
        f"sent {report.sent}",
        f"applied {report.applied}",
    ]
    if report.quarantined:
        parts.append(f"quarantined {report.quarantined}")
    if report.held:
        parts.append(f"held {report.held}")
    if report.conflicts:
        parts.append(f"{plural(report.conflicts, 'conflict')} found")
    if report.cancelled:
        parts.append("interrupted")
    elif report.stopped_early:
        parts.append("stopped early")
    lines = [*said, "; ".join([", ".join(parts) + f" in {report.seconds:.2f}s", *report.schema_changes])]
    if waiting:
        see = f": syncengine conflicts {db}" if db else ""
        lines.append(f"{plural(waiting, 'conflict waits', 'conflicts wait')} for a decision{see}")
    return "\n".join(lines)


def _open_conflicts(device: Device) -> int:
    """How many conflicts wait for a decision (0 when the database cannot say)."""
    try:
        return device.status().conflicts
    except SyncEngineError:
        return 0


def _finite(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    """A number option's value, refused when it is not a number (NaN passes click's range check)."""
    if value is not None and value != value:
        raise click.BadParameter("not a number of seconds")
    return value


@main.command()
@click.argument("db")
@click.option("--table", "tables", multiple=True, required=True, help="A table to sync (repeat for more).")
@click.option("--name", default=None, help="This device's display name (default: the host name).")
@click.option("--no-snapshot", is_flag=True, help="Do not share the rows the tables already hold.")
@click.option("--remote", default=None, metavar="REMOTE", help="Remember this shared log as the device's remote.")
@click.option("--user", default=None, help="With --remote: the user whose log to use (shared-log databases).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(
    db: str,
    tables: tuple[str, ...],
    name: str | None,
    no_snapshot: bool,
    remote: str | None,
    user: str | None,
    as_json: bool,
) -> None:
    """Install sync on tables of DB (run again to add tables); --remote remembers the shared log to sync with."""
    if user is not None and remote is None:
        raise click.UsageError("--user goes with --remote")
    if remote is not None and not remote.strip():
        raise click.UsageError("--remote cannot be empty: give a shared log's path or URL")
    if remote is not None:
        from .remote import check_remote

        check_remote(remote)  # a mistyped remote is refused before anything is written
        refuse_user_for_server(remote, user)
    device = interruptible(lambda _: Device.init(db, list(tables), name=name, snapshot=not no_snapshot))
    if remote is not None and (kept_at := device.set_remote(remote, user)) is not None and not as_json:
        click.echo(f"the remote's password is kept in {kept_at}, not in the database", err=True)
    status = device.status()
    if as_json:
        print_json(status.as_json())
    else:
        click.echo(f"sync installed on {', '.join(device.tables)}; device {device.name} ({device.device_id})")
        if status.unshared:
            click.echo(f"{plural(status.unshared, 'existing row')} recorded as a snapshot to share")
        remembered = device.remote_settings()
        if remembered is not None:
            click.echo(f"remote: {remembered['url']} (sync with: syncengine sync {db})")


@main.command()
@click.argument("db")
@remote_options
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(["receive", "share", "reconcile"]),
    help="Run only these stages.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Entries per pushed batch and per pull [default: 5000 pushed, 20000 pulled].",
)
@click.option("--single-batch", is_flag=True, help="Do at most one batch of each stage.")
@click.option("--keep-history", is_flag=True, help="Keep shared and integrated entries in the log.")
@click.option(
    "--no-wait", is_flag=True, help="Refuse, instead of waiting, when another sync of DB is running (exit 1)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sync(
    db: str,
    remote: str | None,
    user: str | None,
    token: str | None,
    stages: tuple[str, ...],
    batch_size: int | None,
    single_batch: bool,
    keep_history: bool,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Sync DB once with the shared log: receive, share, reconcile (Ctrl-C stops it at once, losing nothing)."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token)
    kwargs: dict[str, Any] = {"single_batch": single_batch, "cleanup": not keep_history}
    if batch_size is not None:
        kwargs.update(upload_batch_size=batch_size, download_batch_size=batch_size)
    if stages:
        kwargs["stages"] = stages
    progress = _console.SyncProgress(enabled=None)
    if progress.enabled:
        progress.totals = {"share": device.status().unshared}

    reached: dict[str, int] = {}  # entries each stage had done, for a sync that cannot record itself

    def on_progress(event: Any) -> None:
        reached[event.stage] = event.done
        progress.on_progress(event)

    def work(cancel: threading.Event) -> SyncReport:
        with progress:
            return device.sync(
                shared, wait_for_other_sync=not no_wait, cancel=cancel, on_progress=on_progress, **kwargs
            )

    started = time.time()
    try:
        report = interruptible(work, abandon=lambda: device.record_interrupted(shared, started, reached))
    except Interrupted as stopped:
        if isinstance(stopped.value, SyncReport):
            if as_json:  # a script still gets the report (its "cancelled" is true)
                print_json(stopped.value.as_json())
            else:  # what it did on stdout, as after a whole sync; "interrupted" on stderr
                click.echo(_summary(stopped.value, db))
        raise
    finally:
        shared.close()
    if as_json:
        print_json(report.as_json())
    else:
        click.echo(_summary(report, db, _open_conflicts(device)))


@main.command()
@click.argument("db")
@remote_options
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Keys listed per table.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def verify(
    ctx: click.Context, db: str, remote: str | None, user: str | None, token: str | None, limit: int, as_json: bool
) -> None:
    """Prove DB is in step with the other devices: exit 0 in step, 3 when a device at the same position differs."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        result = interruptible(
            lambda cancel: _with_progress(cancel, lambda o: device.verify(shared, limit=limit, options=o))
        )
    finally:
        shared.close()
    if as_json:
        print_json(result.as_json())
    else:
        click.echo(_verification(result))
    if not result.in_step:
        ctx.exit(3)


@main.command()
@click.argument("db")
@remote_options
@click.option("--all", "everything", is_flag=True, help="Share every row again, not only the parts that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def repair(db: str, remote: str | None, user: str | None, token: str | None, everything: bool, as_json: bool) -> None:
    """Make devices that differ converge again: share again what differs, with its versions; lose no write."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        done = interruptible(
            lambda cancel: _with_progress(cancel, lambda o: device.repair(shared, everything=everything, options=o))
        )
    finally:
        shared.close()
    if as_json:
        print_json(done.as_json())
        return
    click.echo(
        f"shared {plural(done.restated, 'row')} again with their versions and "
        f"{plural(done.captured, 'row')} sync had never seen; " + _summary(done.report, db, _open_conflicts(device))
    )


@main.command()
@click.argument("db")
@remote_options
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_context
def doctor(ctx: click.Context, db: str, remote: str | None, user: str | None, token: str | None, as_json: bool) -> None:
    """List what is wrong with DB and its shared log (the remembered one, or --remote), and the fix for each.

    Exit 3 if anything is wrong.
    """
    device = Device.open(db)
    chosen = chosen_remote(device, remote, user)
    shared = None
    if chosen is not None:
        try:
            shared = open_remote(device, remote, user, token, create=False)
        except SyncEngineError as exc:
            found = _doctor.unopened(exc, db, remote or chosen[0])
            if as_json:
                print_json([found.as_json()])
            else:
                click.echo(f"error: {found.message}" + (f"\n    fix: {found.fix}" if found.fix else ""))
            ctx.exit(3)
    try:
        findings = interruptible(
            lambda _: device.doctor(shared, db=db, remote_arg=remote or (chosen[0] if chosen else None))
        )
    finally:
        if shared is not None:
            shared.close()
    if as_json:
        print_json([f.as_json() for f in findings])
    elif not findings:
        click.echo("nothing wrong" + ("" if chosen else " (pass --remote to check the shared log too)"))
    for f in [] if as_json else findings:
        click.echo(f"{f.severity}: {f.message}" + (f"\n    fix: {f.fix}" if f.fix else ""))
    if any(f.severity != "info" for f in findings):
        ctx.exit(3)


def _with_progress(cancel: threading.Event, work: Callable[[SyncOptions], T]) -> T:
    """Run ``work`` (which syncs with the options given) with a progress display on a terminal, stoppable by Ctrl-C."""
    progress = _console.SyncProgress(enabled=None)
    with progress:
        return work(SyncOptions(cancel=cancel, on_progress=progress.on_progress))


def _verification(result: Any) -> str:
    lines = []
    if result.reason:
        lines.append(result.reason)
    for d in result.devices:
        where = "no state published yet" if d.position is None else f"at position {d.position}"
        lines.append(f"  {d.name:<20} {d.device_id}  {d.state} ({where})")
    for diff in result.differences:
        keys = ", ".join(_shown(k) for k in diff.as_json()["keys"]) or "(rows only the other device holds)"
        more = f" and {diff.more} more" if diff.more else ""
        lines.append(f"  differs from {diff.device_id} in {diff.table}: {keys}{more}")
    same = sum(1 for d in result.devices if d.state == "same")
    compared = sum(1 for d in result.devices if d.state != "not comparable")
    apart = len(result.devices) - compared
    if result.position is not None and not compared:
        # nothing was compared: say so, rather than "in step"
        first = f"nothing compared at position {result.position}: "
        if not result.devices:
            first += "no other device uses this shared log"
        elif all(d.position != result.position for d in result.devices):
            if apart == 1:
                first += f"the other device is not at this position (see below): sync it{_LARGE}, then verify here"
            else:
                first += f"none of the {apart} other devices is at this position (see below): sync them{_LARGE}, then verify here"
        else:
            first += "no other device could be compared (see each below)"
        lines.insert(0, first)
    elif result.position is not None:
        verdict = "in step" if result.in_step else "NOT in step"
        others = f"; {apart} not comparable (at another position)" if apart else ""
        of = f"same as {same} of {plural(compared, 'device')} compared{others}"
        lines.insert(0, f"{verdict} at position {result.position}: {of}")
    return "\n".join(lines)


@main.command()
@click.argument("db")
@click.option(
    "--host", default=None, help="Address to listen on and to put in the code [default: this machine's LAN address]."
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port to listen on [default: any free one].")
@click.option("--timeout", type=click.FloatRange(min=1), default=600, show_default=True, help="Seconds the code works.")
@click.option("--json", "as_json", is_flag=True, help='First line {"code": …}, last line the report as JSON.')
def pair(db: str, host: str | None, port: int, timeout: float, as_json: bool) -> None:
    """Let a new device join DB: print a pairing code (first line), serve the device that uses it, then exit."""
    device = Device.open(db)
    pairing = device.pair(host=host, port=port, timeout=timeout)
    click.echo(json.dumps({"code": str(pairing.code)}) if as_json else str(pairing.code))
    sys.stdout.flush()
    if not as_json:
        click.echo(f"waiting up to {timeout:g} s for a device to join: syncengine join NEW.db CODE", err=True)
    report = pairing.serve(on_progress=_progress_printer())
    _end_progress()
    if as_json:
        click.echo(json.dumps(report.as_json()))
    else:
        click.echo(
            f"{report.name or report.device_id} joined: sent {report.sent} rows, received {report.received}"
            f"{_conflict_note(report.conflicts, db)} in {report.seconds:.1f}s"
        )


@main.command("join")
@click.argument("db")
@click.argument("code")
@click.option("--name", default=None, help="This device's display name (default: the host name).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="Seconds to wait for the other device.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def join_command(db: str, code: str, name: str | None, timeout: float, as_json: bool) -> None:
    """Make DB a full device from another device's pairing CODE (DB is created if absent)."""
    from .pairing import join

    report = join(db, code, name=name, timeout=timeout, on_progress=_progress_printer())
    _end_progress()
    if as_json:
        print_json(report.as_json())
        return
    resumed = " (resumed)" if report.resumed else ""
    click.echo(
        f"joined{resumed} as device {report.device_id}: received {report.received} rows, sent {report.sent}"
        f"{_conflict_note(report.conflicts, db)} in {report.seconds:.1f}s; sync it with the shared log from now on"
    )


def _conflict_note(n: int, db: str) -> str:
    return f"; {n} conflict{'s' if n != 1 else ''} (see: syncengine conflicts {db} --all)" if n else ""


_PROGRESS_SHOWN = [False]


def _progress_printer() -> Callable[[Any], None] | None:
    """A progress line on stderr when it is a terminal (rows, megabytes, rate, time left); nothing otherwise."""
    if not sys.stderr.isatty():
        return None

    def show(p: Any) -> None:
        left = f", {p.left:.0f} s left" if p.left is not None else ""
        line = f"{p.direction} {p.rows:,}/{p.total:,} rows, {p.bytes / 1e6:.1f} MB, {p.rate:,.0f} rows/s{left}"
        click.echo(f"\r{line:<78}", nl=False, err=True)
        _PROGRESS_SHOWN[0] = True

    return show


def _end_progress() -> None:
    if _PROGRESS_SHOWN[0]:
        click.echo("", err=True)
        _PROGRESS_SHOWN[0] = False


@main.command("reset-identity")
@click.argument("db")
@click.option(
    "--name", default=None, help="Also rename the device (a copy keeps the name of the device it was copied from)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the old and new device ids as JSON.")
def reset_identity(db: str, name: str | None, as_json: bool) -> None:
    """Give DB a new device id, after copying a device's database on purpose to set up another device."""
    device = Device.open(db)
    if name is not None:
        check_name(name)  # refused before the identity changes
    old = device.device_id
    new = device.reset_identity()
    if name is not None:
        device.rename(name)
    if as_json:
        print_json({"previous_device_id": old, "device_id": new})
    else:
        click.echo(
            f"this database is now device {new} (it was {old}), named {device.name!r}; its next sync shares its whole state"
        )


@main.command()
@click.argument("db")
@click.argument("statements", nargs=-1, required=True, metavar="SQL...")
@click.option("--json", "as_json", is_flag=True, help="Print what changed, one sentence per table, as JSON.")
def migrate(db: str, statements: tuple[str, ...], as_json: bool) -> None:
    """Run SQL that changes synced tables (ALTER TABLE t DROP COLUMN c) with capture set aside, then put back.

    SQLite refuses DROP COLUMN on a synced table while the capture triggers name the
    column; this runs the statements and re-installs capture in one transaction.
    """
    device = Device.open(db)
    said = device.migrate(*statements)
    if as_json:
        print_json({"schema_changes": said})
    else:
        click.echo("; ".join(said) if said else "no synced table changed; capture re-installed")


@main.command("copy-log")
@click.argument("source", metavar="REMOTE")
@click.argument("target", metavar="TARGET")
@click.option("--json", "as_json", is_flag=True, help="Print the log id and the number of batches as JSON.")
def copy_log_command(source: str, target: str, as_json: bool) -> None:
    """Copy the shared log REMOTE whole into TARGET (new or empty), keeping its id: no device sends anything again."""
    from .store import copy_log

    log_id, copied = interruptible(lambda _: copy_log(source, target))
    if as_json:
        print_json({"log_id": log_id, "batches": copied})
    else:
        click.echo(
            f"copied shared log {log_id}: {plural(copied, 'batch', 'batches')}; "
            f"point every device at it: run 'syncengine config' on its database with --remote {target}"
        )


@main.command()
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(db: str, as_json: bool) -> None:
    """Show this device's id, its remote, and its unshared, pending, quarantined and conflict counts."""
    device = Device.open(db)
    st = device.status()
    if st.clock_offset_ms is not None and abs(st.clock_offset_ms) > 60_000:
        click.echo(
            f"warning: this device's clock is {st.clock_offset_ms / 1000:+.0f}s off the server's "
            "(ordering is not affected, but times shown may look wrong)",
            err=True,
        )
    if as_json:
        print_json(st.as_json())
        return
    remembered = device.remote_settings()
    click.echo(f"device      {st.name} ({st.device_id})")
    missing = device.missing_tables
    gone = f"{'; ' if st.tables else ''}missing from the database: {', '.join(missing)} (see: syncengine doctor {db})"
    click.echo(f"tables      {', '.join(st.tables)}{gone if missing else ''}")
    click.echo(f"remote      {_remote_text(device, remembered)}")
    click.echo(f"unshared    {st.unshared}")
    click.echo(f"pending     {st.pending}")
    click.echo(f"quarantined {st.quarantined}")
    click.echo(f"conflicts   {st.conflicts}" + (f" (see: syncengine conflicts {db})" if st.conflicts else ""))
    click.echo(f"last sync   {_when(st.last_sync_at)}")
    if st.clock_offset_ms is not None:
        click.echo(f"clock       {round(st.clock_offset_ms) or 0:+d} ms from the server")


def _check_table(device: Device, table: str | None) -> None:
    """Refuse a --table that is not synced here (a typo would otherwise list nothing, as if all were well)."""
    if table is not None and table not in device.tables:
        raise click.BadParameter(
            f"{table!r} is not synced on this device (synced: {', '.join(device.tables)})", param_hint="--table"
        )


def _remote_text(device: Device, remembered: dict[str, Any] | None) -> str:
    if remembered is None:
        return f"none remembered (pass --remote, or: {command(device, 'config', '--remote REMOTE')})"
    user = f" (user {remembered['user']})" if remembered["user"] else ""
    return f"{remembered['url']}{user}"


_when = _console.when


# a sync publishes a device's digest by itself only up to this many rows: verify on a larger one publishes it
_LARGE = f" (or, on a device of over {AUTO_PUBLISH_ROWS:,} rows, run verify there)"


def _shown(value: Any) -> str:
    """A value as JSON for a person: letters as they are ("héllo", not "h\\u00e9llo")."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _value_text(value: Any, width: int = 40) -> str:
    """A value as JSON, cut to ``width`` characters."""
    text = _shown(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _change_text(record: Any) -> str:
    """What an entry wrote, for a person: the new values (an update: old → new; a delete: what was there)."""
    data = record.as_json()
    new, old = data["data"] or {}, data["old"] or {}
    if record.op == "delete":
        shown = old or {}
        return "deleted" + (": " + ", ".join(f"{k}={_value_text(v, 24)}" for k, v in shown.items()) if shown else "")
    if record.op == "update" and old:
        changed = {k: v for k, v in new.items() if k not in old or old[k] != v} or new
        return ", ".join(f"{k}: {_value_text(old.get(k), 20)} → {_value_text(v, 20)}" for k, v in changed.items())
    return ", ".join(f"{k}={_value_text(v, 24)}" for k, v in new.items())


@main.command()
@click.argument("db")
@click.option("--unshared", is_flag=True, help="Only local entries not yet sent.")
@click.option("--pending", is_flag=True, help="Only received entries not yet applied.")
@click.option("--table", default=None, help="Only entries of this table.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def log(db: str, unshared: bool, pending: bool, table: str | None, limit: int | None, as_json: bool) -> None:
    """List client-log entries, newest first: state, operation, row, values."""
    if unshared and pending:
        raise click.UsageError("give --unshared or --pending, not both (without either: every entry)")
    device = Device.open(db)
    _check_table(device, table)
    records = device.log(unshared=unshared, pending=pending, table=table, limit=limit)
    if as_json:
        print_json([r.as_json() for r in records])
        return
    if not records:
        click.echo("no entries")
        return
    click.echo(f"{'ID':>6} {'STATE':<11} {'OP':<9} {'TABLE':<12} {'KEY':<14} VALUES")
    for r in records:
        pk = r.as_json()["pk"]
        key = _value_text(pk[0] if isinstance(pk, list) and len(pk) == 1 else pk, 14)
        what = f"  ({r.reason})" if r.reason else ""
        if pk is None and r.table in device.missing_tables:  # captured, unreadable until its table is back
            what = f"  (table {r.table} is missing: see syncengine doctor {db})"
        by = f"  [{r.device_id[:8]}]" if r.device_id else ""
        click.echo(f"{r.id:>6} {r.state:<11} {r.op:<9} {r.table:<12} {key:<14} {_change_text(r)}{by}{what}")


@main.command()
@click.argument("db")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many syncs.")
@click.option("--json", "as_json", is_flag=True, help="Print the syncs as JSON.")
def history(db: str, limit: int, as_json: bool) -> None:
    """List this device's past syncs, newest first, with their counts, errors and remote."""
    records = Device.open(db).history(limit=limit)
    if as_json:
        print_json([r.as_json() for r in records])
        return
    for r in records:
        report = r.report
        counts = (
            f"received {report['received']}, sent {report['sent']}, applied {report['applied']}"
            + (f", held {report['held']}" if report.get("held") else "")
            + (f", {plural(report['conflicts'], 'conflict')}" if report.get("conflicts") else "")
            + (f", {report['quarantined']} quarantined" if report.get("quarantined") else "")
        )
        if r.error in ("interrupted", "KeyboardInterrupt") or (r.error is None and report.get("cancelled")):
            outcome = f"interrupted after {counts}"
        elif r.error:
            outcome = f"failed: {r.error}"
        else:
            outcome = counts
        remote = f"  ({r.remote})" if r.remote else ""
        click.echo(f"{_when(r.started_at)}  {outcome}{remote}")
    if not records:
        click.echo("no syncs yet")


@main.command()
@click.argument("db")
@remote_options
@click.option(
    "--forget",
    default=None,
    metavar="DEVICE",
    help="Take a device that is gone (its id, or its name) out of the registry.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the devices as JSON.")
def devices(
    db: str, remote: str | None, user: str | None, token: str | None, forget: str | None, as_json: bool
) -> None:
    """List the devices registered in the shared log; --forget takes one that is gone out of it."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        if forget is not None:
            gone = device.forget_device(shared, forget)
            if as_json:
                print_json(gone.as_json())
            else:
                click.echo(
                    f"forgot device {gone.name} ({gone.device_id}): its batches stay in the shared log; "
                    "if it syncs again, it registers again and shares its state once more"
                )
            return
        found = shared.devices()
    finally:
        shared.close()
    with contextlib.suppress(SyncEngineError):  # kept for 'conflicts --all'; a read-only database keeps none
        device.remember_devices(found)
    if as_json:
        print_json([{**d.as_json(), "this_device": d.device_id == device.device_id} for d in found])
        return
    for d in found:
        mark = "*" if d.device_id == device.device_id else " "
        click.echo(
            f"{mark} {d.name:<20} {d.device_id}  last push {_when(d.last_push_at)}  last pull {_when(d.last_pull_at)}  behind {d.behind}"
        )
    if not found:
        click.echo("no devices yet (a device registers at its first sync)")


@main.command()
@click.argument("db")
@click.argument("ids", nargs=-1, type=int)
@click.option("--retry", is_flag=True, help="Apply the entries ID (or --all) again, e.g. after a migration.")
@click.option("--skip", is_flag=True, help="Give up on the entries ID (or --all); they stay listed as skipped.")
@click.option("--all", "all_", is_flag=True, help="With --retry or --skip: every quarantined entry.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def quarantine(db: str, ids: tuple[int, ...], retry: bool, skip: bool, all_: bool, as_json: bool) -> None:
    """List quarantined entries, or retry or skip them: quarantine DB --retry|--skip ID...|--all."""
    if retry and skip:
        raise click.UsageError("choose one of --retry and --skip")
    if (retry or skip) and not ids and not all_:
        raise click.UsageError("name the entry ids to act on, or pass --all")
    if ids and all_:
        raise click.UsageError("pass entry ids or --all, not both")
    if (ids or all_) and not (retry or skip):
        raise click.UsageError("say what to do with them: --retry or --skip")
    device = Device.open(db)
    chosen = list(ids) if ids else None
    if retry:
        report = interruptible(lambda cancel: device.retry_quarantined(chosen))
        still = len(device.quarantined())
        result: dict[str, Any] = {"applied": report.applied, "quarantined": still}
        print_json(result) if as_json else click.echo(f"applied {report.applied}; {still} still quarantined")
        return
    if skip:
        n = device.skip_quarantined(chosen)
        print_json({"skipped": n}) if as_json else click.echo(f"skipped {n}")
        return
    entries = device.quarantined()
    if as_json:
        print_json([q.as_json() for q in entries])
        return
    for q in entries:
        what = f"{q.table} {_shown(q.as_json()['pk'])}" if q.table is not None else "(a whole batch)"
        click.echo(f"{q.id:>6} {what}: {q.reason}")
    if not entries:
        click.echo("no quarantined entries")


@main.command()
@click.argument("db")
@click.option(
    "--review",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Hold conflicts for a person (on) or commit the automatic result (off).",
)
@click.option("--table", default=None, help="With --review: set the policy of this table only.")
@click.option(
    "--auto",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Automatic sync in the Sync Manager and 'syncengine watch': on or off.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=MAX_INTERVAL),
    callback=_finite,
    default=None,
    help="Seconds between automatic syncs (same two).",
)
@click.option("--remote", default=None, metavar="REMOTE", help="Remember this shared log as the device's remote.")
@click.option("--user", default=None, help="With --remote: the user whose log to use (shared-log databases).")
@click.option("--forget-remote", is_flag=True, help="Forget the remembered remote.")
@click.option(
    "--token",
    default=None,
    help="Keep this server token for the device's remote (in the system keyring, or a file only you can read).",
)
@click.option(
    "--name",
    default=None,
    help="Rename this device: the name other devices see (sent to the shared log at the next sync).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
def config(
    db: str,
    review: str | None,
    table: str | None,
    auto: str | None,
    interval: float | None,
    remote: str | None,
    user: str | None,
    forget_remote: bool,
    token: str | None,
    name: str | None,
    as_json: bool,
) -> None:
    """Show or change the settings stored in DB: the device's name, the remote, the review policy, automatic sync."""
    from .scheduler import configure

    if table is not None and review is None:
        raise click.UsageError("--table goes with --review")
    if user is not None and remote is None:
        raise click.UsageError("--user goes with --remote")
    if forget_remote and remote is not None:
        raise click.UsageError("pass --remote or --forget-remote, not both")
    if remote is not None:
        from .remote import check_remote

        check_remote(remote)  # a mistyped remote is refused before anything is written
        refuse_user_for_server(remote, user)
    device = Device.open(db)
    if name is not None:
        device.rename(name)
    if review is not None:
        device.set_review(review == "on", table=table)
    if (remote is not None or forget_remote) and (kept_at := device.set_remote(remote, user)) is not None:
        click.echo(f"the remote's password is kept in {kept_at}, not in the database", err=True)
    kept = None
    if token is not None:
        remembered = device.remote_settings()
        if remembered is None or not str(remembered["url"]).startswith(("http://", "https://")):
            raise click.UsageError("--token is kept for a server remote: set one with --remote https://… first")
        from ._tokens import save_token

        kept = save_token(str(remembered["url"]), token, database=token_database(device))
    settings = configure(device, enabled=None if auto is None else auto == "on", interval=interval)
    policy = device.review_policy()
    settings["review"] = {t: policy(t) for t in device.tables}
    settings["remote"] = device.remote_settings()
    if as_json:
        print_json(settings)
        return
    click.echo(f"name: {device.name}")
    click.echo(f"remote: {_remote_text(device, settings['remote'])}")
    if kept is not None:
        click.echo(f"token kept in {kept}")
    state = f"on, every {settings['interval']:g} s" if settings["enabled"] else "off"
    click.echo(
        f"automatic sync in the Sync Manager: {state} "
        f"('syncengine watch' syncs whenever it runs, every {settings['interval']:g} s unless --interval)"
    )
    for name, held in settings["review"].items():
        click.echo(f"conflicts in {name}: {'held for review' if held else 'decided automatically'}")


def _who(conflict: Any, device: Device, names: dict[str, str]) -> str:
    """Who decided a conflict, as a person reads it: a device by its name when known (with its id when the name is shared)."""
    if conflict.decided_how == "automatic":
        if conflict.kind == "delete/edit":
            return "automatically (the delete won)"
        return "automatically (the later write won)"
    if conflict.decided_by == device.device_id or conflict.decided_how == "person":
        return "here, by a person"
    by = conflict.decided_by
    if by is None:
        return "on another device"
    name = names.get(by)
    if name is None:
        return f"on device {by}, by a person"
    shared = sum(1 for n in names.values() if n == name) > 1
    return f"on device {name}{f' ({by})' if shared else ''}, by a person"


@main.command()
@click.argument("db")
@click.option("--all", "show_all", is_flag=True, help="Also list decided conflicts (the history).")
@click.option("--table", default=None, help="Only conflicts of this table.")
@click.option("--json", "as_json", is_flag=True, help="Print the conflicts as JSON.")
def conflicts(db: str, show_all: bool, table: str | None, as_json: bool) -> None:
    """List open conflicts (and with --all, decided ones: the value kept and who decided)."""
    device = Device.open(db)
    _check_table(device, table)
    found = device.conflicts(include_decided=show_all, table=table)
    names = device.device_names() if show_all else {}  # kept here: no network
    if as_json:
        print_json([{**c.as_json(), "decided_by_name": names.get(c.decided_by or "")} for c in found])
        return
    for c in found:
        data = c.as_json()
        where = f"{c.table} {_shown(data['pk'])}" + (f".{c.field}" if c.field else "")
        head = f"{c.id:>5} {c.status:<7} {c.kind:<13} {where}: "
        if c.is_open:
            line = head + f"local {_shown(data['local'])}, remote {_shown(data['remote'])}"
            line += f" ({c.reason})" if c.kind == "constraint" else f", automatic {_shown(data['auto'])}"
        else:
            line = head + (
                f"kept {_shown(data['decided_value'])} (was local {_shown(data['local'])}, "
                f"remote {_shown(data['remote'])}), decided {_who(c, device, names)}, {_when(c.decided_at)}"
            )
        click.echo(line)
    if not found:
        click.echo("no conflicts" if show_all else "no open conflicts")
    elif not show_all:
        click.echo(f"decide with: syncengine resolve {db} ID --take local|remote|auto, or --value VALUE")


@main.command()
@click.argument("db")
@click.argument("conflict_id", required=False, type=int)
@click.option("--take", type=click.Choice(["local", "remote", "auto"]), default=None, help="Which side wins.")
@click.option(
    "--value",
    "value_json",
    default=None,
    metavar="VALUE",
    help="A custom value: JSON (an object of columns for a whole-row conflict); text that is not JSON is taken as text.",
)
@click.option("--all", "all_", is_flag=True, help="Decide every open conflict (of --table) with --take.")
@click.option("--table", default=None, help="With --all: only conflicts of this table.")
@click.option(
    "--skip-undecidable",
    is_flag=True,
    help="With --all: leave open the conflicts that cannot take this decision (a constraint conflict has no "
    "automatic result) and decide the others, instead of deciding nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the decided conflicts as JSON.")
def resolve(
    db: str,
    conflict_id: int | None,
    take: str | None,
    value_json: str | None,
    all_: bool,
    table: str | None,
    skip_undecidable: bool,
    as_json: bool,
) -> None:
    """Decide a conflict: resolve DB ID --take local|remote|auto | --value VALUE; or --all [--table T] --take ..."""
    device = Device.open(db)
    if skip_undecidable and not all_:
        raise click.UsageError("--skip-undecidable goes with --all")
    if all_:
        if conflict_id is not None or value_json is not None or take is None:
            raise click.UsageError("--all needs --take (and no ID or --value)")
        try:
            decided = device.resolve_many(take, table=table, skip_undecidable=skip_undecidable)  # type: ignore[arg-type]
        except ConflictError as exc:
            raise ConflictError(
                f"{exc}; nothing was decided (--skip-undecidable decides the others and leaves it open)"
            ) from exc
        left = len(device.conflicts(table=table)) if skip_undecidable else 0
        if left:
            click.echo(
                f"{plural(left, 'conflict')} left open: they cannot take --take {take}; "
                f"decide each by its ID (syncengine conflicts {db})",
                err=True,
            )
    else:
        if conflict_id is None:
            raise click.UsageError("name the conflict ID, or pass --all")
        if (take is None) == (value_json is None):
            raise click.UsageError("give exactly one of --take and --value")
        if value_json is not None:
            try:
                value = json.loads(value_json)
            except ValueError:
                value = value_json  # a person typing Kettle XL means the text
            decided = [device.resolve(conflict_id, value=value)]
        else:
            decided = [device.resolve(conflict_id, take)]  # type: ignore[arg-type]
    if as_json:  # as conflicts --json: decided here, so by this device's name
        print_json([{**c.as_json(), "decided_by_name": device.name} for c in decided])
        return
    for c in decided:
        click.echo(f"conflict {c.id} decided: {c.decision} -> {_shown(c.as_json()['decided_value'])}")
    if not decided:
        click.echo("no open conflicts")


@main.command()
@click.argument("db")
@remote_options
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=MAX_INTERVAL),
    callback=_finite,
    default=None,
    help="Seconds between syncs, for this run [default: the device's setting, see config --interval].",
)
@click.option("--max-syncs", type=click.IntRange(min=1), default=None, help="Stop after this many syncs.")
def watch(
    db: str, remote: str | None, user: str | None, token: str | None, interval: float | None, max_syncs: int | None
) -> None:
    """Sync continuously: every interval and soon after local writes (Ctrl-C stops)."""
    import asyncio

    from .scheduler import SchedulerEvent, SyncFinishedEvent, SyncScheduler

    device = Device.open(db)
    shared = open_remote(device, remote, user, token)
    done = 0
    last_failed = False

    def say(text: str, *, err: bool = False) -> None:
        for line in text.splitlines():
            click.echo(f"{_console.clock()}  {line}", err=err)

    def show(event: SchedulerEvent) -> None:
        nonlocal done, last_failed
        if not isinstance(event, SyncFinishedEvent):
            return
        done += 1
        last = max_syncs is not None and done >= max_syncs
        last_failed = event.report is None
        if event.report is not None:
            say(_summary(event.report, db, _open_conflicts(device)))
        else:  # the last of --max-syncs is not tried again: say so, and exit 1
            after = "; that was the last try (--max-syncs)" if last else f"; next try in {event.retry_in:.0f}s"
            say(f"sync failed: {_console.one_line(event.error)}{after}", err=True)
        if last:
            scheduler.stop()

    scheduler = SyncScheduler(device, shared, on_event=show, interval=interval, enabled=True)
    if not device.setting("sync.enabled", True):
        say("automatic sync is off for the Sync Manager (config --auto); watch syncs anyway", err=True)
    say(f"watching {db}: a sync every {scheduler.interval:g} s and soon after local writes; Ctrl-C stops", err=True)

    def work(cancel: threading.Event) -> None:
        async def run() -> None:
            task = asyncio.ensure_future(scheduler.run())
            while not task.done():
                if cancel.is_set():
                    scheduler.stop()
                    task.cancel()
                await asyncio.sleep(0.05)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run(run())

    try:
        interruptible(work)
    finally:
        shared.close()
    if last_failed:
        raise click.exceptions.Exit(1)  # a script running --max-syncs learns that the last sync failed


@main.command()
@click.argument("folder", default="syncengine-demo", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print what moved as JSON.")
def demo(folder: str, as_json: bool) -> None:
    """Create two shop databases and a shared log in FOLDER, write on both, sync, show what moved."""
    from pathlib import Path

    from .demo import run_demo

    if Path(folder).exists() and not Path(folder).is_dir():
        raise click.BadParameter(f"{folder} is a file; give a folder for the demo (new or empty)", param_hint="FOLDER")
    refusal = _not_for_demo(Path(folder))
    if refusal:
        raise click.BadParameter(f"{folder} {refusal}: give a new or empty folder for the demo", param_hint="FOLDER")

    result = run_demo(folder, echo=None if as_json else click.echo)
    if as_json:
        print_json(result)


def _demo_base(name: str) -> str:
    """The database a file belongs to (its journal, WAL or sync lock beside it), else the name itself."""
    for suffix in ("-journal", "-wal", "-shm", "-synclock"):
        name = name.removesuffix(suffix)
    return name


def _not_for_demo(root: Any) -> str:
    """Why the demo must not write into ``root`` ("" when it is new, empty, or one an earlier demo made).

    A demo marks its folder (``demo.DEMO_MARK``); only a marked folder holding nothing
    but the demo's files is written over, so no database of a person's is, whatever
    its name.
    """
    from .demo import DEMO_FILES, DEMO_MARK

    if not root.is_dir():
        return ""
    found = sorted(path.name for path in root.iterdir())
    if not found:
        return ""
    if DEMO_MARK not in found:
        return f"holds {found[0]}{' and more' if len(found) > 1 else ''}, and no earlier demo made it"
    strays = [name for name in found if name != DEMO_MARK and _demo_base(name) not in DEMO_FILES]
    return f"holds {strays[0]}, which is not the demo's" if strays else ""


from ._cli_keys import register as _register_keys  # noqa: E402
from .server.cli import register as _register_server  # noqa: E402

_register_server(main)
_register_keys(main)


def run() -> None:  # pragma: no cover - console entry point
    main(obj={})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
