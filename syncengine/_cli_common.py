"""What the command line's commands share: JSON output and the options and opening of a remote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ._db import as_argument, where
from .device import Device
from .remote import SharedLog, open_shared_log

F = TypeVar("F", bound=Callable[..., Any])


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def command(device: Device, words: str, *more: str) -> str:
    """``syncengine WORDS DB MORE…`` on this device's database as it was opened, for a person to paste."""
    return " ".join(["syncengine", words, as_argument(device.engine.url), *more])


# -- the remote: the same options on every command that talks to one --------------------------

_REMOTE_HELP = (
    "The shared log: a path to an SQLite file, a database URL, or a server's http(s) URL "
    "[default: the one remembered with init or config --remote]."
)


def remote_options(f: F) -> F:
    """``--remote``, ``--user`` and ``--token``, alike on every command that talks to a shared log."""
    f = click.option(
        "--token",
        envvar="SYNCENGINE_TOKEN",
        default=None,
        help="Device token for a server (or SYNCENGINE_TOKEN; else the one kept with config --token).",
    )(f)
    f = click.option(
        "--user",
        default=None,
        help="The user whose log to use, in a shared-log database [default: the remembered one, else default].",
    )(f)
    f = click.option("--remote", default=None, metavar="REMOTE", help=_REMOTE_HELP)(f)
    return f


def chosen_remote(device: Device, remote: str | None, user: str | None) -> tuple[str, str] | None:
    """The remote's URL and user: as given, else the device's remembered remote; None when there is neither."""
    if remote is None:
        remembered = device.remote_settings()
        if remembered is None:
            return None
        remote = str(remembered["url"])
        user = user or remembered["user"]
    return remote, user or "default"


def token_database(device: Device) -> str:
    """The device database a kept token is for: an SQLite file by its absolute path, else its URL without a password."""
    url = device.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return str(Path(str(url.database)).resolve())
    return where(url)


def refuse_user_for_server(url: str, user: str | None) -> None:
    """A --user given with a server's URL would be ignored without a word: refuse it."""
    if user is not None and url.startswith(("http://", "https://")):
        raise click.UsageError(
            f"--user is for shared-log databases: the server {url} knows the user from the device token "
            "(create one for that user with 'syncengine token create --user NAME' where the server runs)"
        )


def open_remote(
    device: Device, remote: str | None, user: str | None, token: str | None, *, create: bool = True
) -> SharedLog:
    """Open the shared log named by the options or remembered by the device (UsageError when neither)."""
    chosen = chosen_remote(device, remote, user)
    if chosen is None:
        raise click.UsageError(
            f"no remote: pass --remote REMOTE, or remember one with '{command(device, 'config', '--remote REMOTE')}'"
        )
    given, (url, user) = user, chosen
    refuse_user_for_server(url, given)
    if token is None and url.startswith(("http://", "https://")):
        from ._tokens import load_token

        token = load_token(url, database=token_database(device))
    return open_shared_log(url, user=user, token=token, create=create)
