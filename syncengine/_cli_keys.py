"""``syncengine key``: end-to-end encryption of the shared log from the command line (see :mod:`syncengine.crypto`).

The passphrase comes from ``SYNCENGINE_PASSPHRASE``, ``--passphrase-file F`` or a
prompt on the terminal, in that order; it is never stored. A new passphrase
(``key setup``, ``key passphrase``) comes from ``SYNCENGINE_NEW_PASSPHRASE``,
``--new-passphrase-file`` or a prompt asked twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._cli_common import command, open_remote, print_json, remote_options
from .crypto import KeyStatus, strength
from .device import Device
from .errors import ConfigurationError

F = TypeVar("F", bound=Callable[..., Any])

PASSPHRASE_ENV = "SYNCENGINE_PASSPHRASE"
NEW_PASSPHRASE_ENV = "SYNCENGINE_NEW_PASSPHRASE"
MIN_LENGTH = 8


def _read_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"the {what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the {what} file {path}: {exc}") from None
    lines = text.splitlines()
    while lines and not lines[-1]:  # blank lines after it (an editor's): not part of it
        lines.pop()
    if len(lines) > 1:
        raise ConfigurationError(
            f"the {what} file {path} holds {len(lines)} lines: put the {what} alone on its first line"
        )
    if not lines or not lines[0]:
        raise ConfigurationError(f"the {what} file {path} is empty")
    if lines[0] != lines[0].strip():
        click.echo(f"note: the {what} in {path} starts or ends with spaces; they are part of it", err=True)
    return lines[0]


def _passphrase(
    file: str | None, *, env: str = PASSPHRASE_ENV, flag: str = "--passphrase-file", new: bool = False
) -> str:
    """The passphrase from the environment, the file, or the terminal (twice when it is new)."""
    what = "new passphrase" if new else "passphrase"
    from_env = os.environ.get(env)
    if from_env:
        return from_env
    if file is not None:
        return _read_file(file, what)
    if not sys.stdin.isatty():
        raise ConfigurationError(f"no {what}: set {env}, pass {flag} FILE, or run the command in a terminal")
    try:
        text = click.prompt(f"{what.capitalize()}", hide_input=True, confirmation_prompt=new, err=True)
    except click.exceptions.Abort:  # Ctrl-C or Ctrl-D at the prompt: nothing was done
        raise KeyboardInterrupt from None
    return str(text)


def _checked_new(passphrase: str) -> str:
    """A new passphrase, refused when too short; a weak one is said on stderr."""
    if len(passphrase) < MIN_LENGTH:
        raise ConfigurationError(
            f"the passphrase is {len(passphrase)} characters; use at least {MIN_LENGTH} (several words are best)"
        )
    score, hint = strength(passphrase)
    if score < 3:
        click.echo(f"warning: a weak passphrase ({hint})", err=True)
    return passphrase


def _passphrase_option(f: F) -> F:
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"Read the passphrase from this file (else {PASSPHRASE_ENV}, else a prompt).",
    )(f)


def _new_passphrase_option(f: F) -> F:
    return click.option(
        "--new-passphrase-file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"Read the new passphrase from this file (else {NEW_PASSPHRASE_ENV}, else a prompt).",
    )(f)


def _describe(device: Device, status: KeyStatus) -> str:
    join = command(device, "key join")
    if not status.encrypts:
        mine = "this device does not encrypt"
    else:
        held = f"{status.keys} keys" if status.keys != 1 else "1 key"
        mine = f"this device encrypts with key {status.key_id} ({held}, kept in {status.stored_in})"
        if not status.keys:
            mine = (
                f"this device encrypts with key {status.key_id}, but its keys are gone from {status.stored_in} "
                f"or damaged there: run '{join}' with the passphrase"
            )
    if status.log_encrypted is None:
        return mine
    if not status.log_encrypted:
        return f"{mine}; the shared log is not encrypted"
    theirs = f"the shared log is encrypted (key {status.log_key_id})"
    if status.needs_join:
        theirs += f": run '{join}' with the passphrase to sync with it"
    elif status.log_key_id != status.key_id:
        theirs += ": the next sync takes its new key"
    return f"{mine}; {theirs}"


def _done(status: KeyStatus, as_json: bool, sentence: str) -> None:
    if as_json:
        print_json(status.as_json())
    else:
        click.echo(sentence)


@click.group("key")
def key() -> None:
    """End-to-end encryption: the shared log and its server keep only ciphertext."""


@key.command()
@click.argument("db")
@remote_options
@_passphrase_option
@click.option("--json", "as_json", is_flag=True, help="Print the device's encryption status as JSON.")
def setup(
    db: str, remote: str | None, user: str | None, token: str | None, passphrase_file: str | None, as_json: bool
) -> None:
    """Encrypt the shared log from now on, with a key wrapped by a passphrase (on the first device)."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token)  # a log made now is encrypted before anything is in it
    try:
        secret = _checked_new(_passphrase(passphrase_file, new=True))
        status = device.setup_encryption(shared, secret)
    finally:
        shared.close()
    sentence = (
        f"the shared log is encrypted from now on, with key {status.key_id}; this device keeps it in "
        f"{status.stored_in}. On every other device run 'syncengine key join' with its database and the same passphrase. "
        "Without the passphrase, a lost device cannot be replaced: keep it safe."
    )
    if status.encrypted_from:
        sentence += (
            f"\nnote: the batches shared before (numbers up to {status.encrypted_from}) stay unencrypted in the log; "
            "to have none, move to a new shared log (see the README, 'Encryption')."
        )
    _done(status, as_json, sentence)


@key.command("join")
@click.argument("db")
@remote_options
@_passphrase_option
@click.option("--json", "as_json", is_flag=True, help="Print the device's encryption status as JSON.")
def join_command(
    db: str, remote: str | None, user: str | None, token: str | None, passphrase_file: str | None, as_json: bool
) -> None:
    """Unlock the shared log's keys with the passphrase and keep them on this device."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        status = device.join_encryption(shared, _passphrase(passphrase_file))
    finally:
        shared.close()
    _done(status, as_json, f"this device encrypts with key {status.key_id} now; keys kept in {status.stored_in}")


@key.command()
@click.argument("db")
@click.option(
    "--remote", default=None, metavar="REMOTE", help="Also ask this shared log (default: the remembered one)."
)
@click.option("--user", default=None, help="The user whose log to ask, in a shared-log database.")
@click.option("--token", envvar="SYNCENGINE_TOKEN", default=None, help="Device token for a server.")
@click.option("--local", is_flag=True, help="Do not ask the shared log; say only what this device holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(db: str, remote: str | None, user: str | None, token: str | None, local: bool, as_json: bool) -> None:
    """Say whether this device encrypts, with which key and where it keeps it; and whether the log is encrypted."""
    device = Device.open(db)
    if local or (remote is None and device.remote_settings() is None):
        found = device.encryption_status()
    else:
        shared = open_remote(device, remote, user, token, create=False)
        try:
            found = device.encryption_status(shared)
        finally:
            shared.close()
    _done(found, as_json, _describe(device, found))


@key.command()
@click.argument("db")
@remote_options
@_passphrase_option
@click.option(
    "--unchained",
    is_flag=True,
    help="Other devices need the passphrase to take the new key (after a device was lost).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the device's encryption status as JSON.")
def rotate(
    db: str,
    remote: str | None,
    user: str | None,
    token: str | None,
    passphrase_file: str | None,
    unchained: bool,
    as_json: bool,
) -> None:
    """Make a new key for new batches; older batches stay readable with the older keys."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        status = device.rotate_key(shared, _passphrase(passphrase_file), chained=not unchained)
    finally:
        shared.close()
    others = (
        "every other device needs 'syncengine key join' with its database and the passphrase"
        if unchained
        else "other devices take it at their next sync"
    )
    _done(status, as_json, f"new batches are encrypted with key {status.key_id}; {others}")


@key.command()
@click.argument("db")
@remote_options
@_passphrase_option
@_new_passphrase_option
@click.option("--json", "as_json", is_flag=True, help="Print the device's encryption status as JSON.")
def passphrase(
    db: str,
    remote: str | None,
    user: str | None,
    token: str | None,
    passphrase_file: str | None,
    new_passphrase_file: str | None,
    as_json: bool,
) -> None:
    """Change the passphrase: the keys are wrapped again; nothing in the log is encrypted again."""
    device = Device.open(db)
    shared = open_remote(device, remote, user, token, create=False)
    try:
        old = _passphrase(passphrase_file)
        new = _checked_new(_passphrase(new_passphrase_file, env=NEW_PASSPHRASE_ENV, flag="--new-passphrase-file", new=True))
        status = device.change_passphrase(shared, old, new)
    finally:
        shared.close()
    _done(status, as_json, "the passphrase is changed; devices that hold the keys need nothing new")


def register(main: click.Group) -> None:
    """Add ``key`` to the ``syncengine`` command."""
    main.add_command(key)
