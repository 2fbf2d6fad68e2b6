"""The server's commands, ``syncengine serve`` and ``syncengine token create|list|revoke``.

:func:`register` adds them to the main command group, so :mod:`syncengine.cli`
stays free of server imports beyond one call.
"""

from __future__ import annotations

import json
import os

import click

from .._db import create_engine
from ..errors import ConfigurationError


def _when(stamp: float | None) -> str:
    import datetime as dt

    return "never" if stamp is None else dt.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


def register(group: click.Group) -> None:
    """Add ``serve`` and the ``token`` group to ``group``."""
    group.add_command(serve)
    group.add_command(token)


_REMOTE = "The shared log: a path to an SQLite file or a database URL (--db is the old name)."


@click.command()
@click.option("--remote", "--db", "db", required=True, metavar="REMOTE", help=_REMOTE)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="The port to listen on.")
@click.option(
    "--certfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS certificate (PEM), for https."
)
@click.option(
    "--keyfile", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS private key (PEM), for https."
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(min=1024),
    default=None,
    help="Refuse request bodies over this size with 413 (default 64 MiB).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(
    db: str,
    host: str,
    port: int,
    certfile: str | None,
    keyfile: str | None,
    max_body_bytes: int | None,
    log_level: str,
) -> None:
    """Serve the shared log REMOTE over HTTP (https with --certfile and --keyfile)."""
    import uvicorn

    from ._app import DEFAULT_MAX_BODY, create_app

    if (certfile is None) != (keyfile is None):
        raise click.UsageError("pass both --certfile and --keyfile, or neither")
    _log_database(db, "serve")
    _check_port(host, port)  # before the log is opened, so a refused start creates nothing
    active, created = _check_log(db)
    if created and not active:  # a typo in --remote would otherwise serve an empty log (tokens: the file was meant)
        click.echo(f"note: there was no shared log at {db}: serving a new, empty one (check the path if you meant another)", err=True)
    if certfile is None and not _loopback(host):
        click.echo(
            f"warning: serving on {host} without TLS: tokens and data cross the network readable by anyone on it; "
            "pass --certfile and --keyfile for https",
            err=True,
        )
    if not active:
        click.echo(
            "warning: this shared log has no device tokens yet, so no device can sync with the server: "
            f"create one with 'syncengine token create --remote {db} --user NAME'",
            err=True,
        )
    app = create_app(db, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY)
    uvicorn.run(
        app,
        host=host,
        port=port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level=log_level,
        # a client's retry must not meet a half-closed keep-alive connection too often
        timeout_keep_alive=30,
    )


def _log_database(db: str, command: str, *, must_exist: bool = False) -> None:
    """Refuse, in a sentence, what cannot be the shared log's database: a server's URL, a mistyped path or URL.

    With ``must_exist`` (listing and revoking tokens), an SQLite file that is not
    there is refused too, instead of being created empty.
    """
    from .._db import to_url

    if db.split("://", 1)[0].lower() in ("http", "https") and "://" in db:
        raise ConfigurationError(
            f"'syncengine {command}' works on the shared log's database (the path or database URL that "
            f"'syncengine serve --remote' serves), not on a server's URL like {db}: run it where that database is"
        )
    url = to_url(db)
    path = url.database if url.get_backend_name() == "sqlite" else None
    if must_exist and path and path != ":memory:" and not path.startswith("file:") and not os.path.exists(path):
        raise ConfigurationError(
            f"there is no shared log at {path}: check the path (the one 'syncengine serve --remote' serves)"
        )


def _check_port(host: str, port: int) -> None:
    """Refuse, in a sentence, an address the server could not listen on (a port in use, a host not of this machine)."""
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on {host}: its name is not known ({exc.strerror})") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is already in use (another server?): choose another with --port"
                ) from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigurationError(
                    f"cannot listen on {host}: it is not an address of this machine; choose another with --host"
                ) from None
            if exc.errno == errno.EACCES:
                raise ConfigurationError(
                    f"port {port} on {host} needs privileges this user does not have: choose one above 1023 with --port"
                ) from None
            raise ConfigurationError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None


def _check_log(db: str) -> tuple[int, bool]:
    """Open the shared log (creating it if new) so that a wrong file is refused in a sentence now.

    Returns its active tokens, and whether it was created now.
    """
    from ..store import SqlSharedLog
    from ._accounts import list_tokens

    log = SqlSharedLog(db)
    created = bool(log.created)
    log.close()
    engine = create_engine(db)
    try:
        return sum(1 for t in list_tokens(engine) if t.revoked_at is None), created
    finally:
        engine.dispose()


def _loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (localhost, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.group()
def token() -> None:
    """Create, list and revoke the device tokens of a shared-log server."""


@token.command("create")
@click.option("--remote", "--db", "db", required=True, metavar="REMOTE", help=_REMOTE)
@click.option("--user", required=True, help="The user the token acts for (created if new).")
def token_create(db: str, user: str) -> None:
    """Create a token for USER and print it (only the token, on the last line)."""
    from ._accounts import create_token

    _log_database(db, "token create")
    _, created = _check_log(db)
    engine = create_engine(db)
    try:
        info, secret = create_token(engine, user)
    finally:
        engine.dispose()
    if created:  # a mistyped path made a new log: say so before the token is handed out for it
        click.echo(f"note: there was no shared log at {db}; made a new, empty one for this token", err=True)
    click.echo(f"token {info.id} for user {info.user}; it is shown only now", err=True)
    click.echo(secret)


@token.command("list")
@click.option("--remote", "--db", "db", required=True, metavar="REMOTE", help=_REMOTE)
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as JSON.")
def token_list(db: str, as_json: bool) -> None:
    """List tokens: id, user, when created, when revoked (never the token itself)."""
    from ._accounts import list_tokens

    _log_database(db, "token list", must_exist=True)
    engine = create_engine(db)
    try:
        found = list_tokens(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([t.as_json() for t in found], indent=2))
        return
    for t in found:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at is not None else "active"
        click.echo(f"{t.id:>5}  {t.user:<20} created {_when(t.created_at)}  {state}")
    if not found:
        click.echo("no tokens")


@token.command("revoke")
@click.option("--remote", "--db", "db", required=True, metavar="REMOTE", help=_REMOTE)
@click.argument("token_id")
def token_revoke(db: str, token_id: str) -> None:
    """Revoke the token TOKEN_ID (see 'token list'); it is refused from then on."""
    from ._accounts import revoke_token

    if not token_id.isdigit():  # a token pasted here is a secret: never print it back
        raise click.BadParameter("give the token's number as 'token list' shows it, not the token itself", param_hint="TOKEN_ID")
    _log_database(db, "token revoke", must_exist=True)
    engine = create_engine(db)
    try:
        info = revoke_token(engine, int(token_id))
    finally:
        engine.dispose()
    click.echo(f"token {info.id} of user {info.user} is revoked")
