"""Server tokens the window keeps: each workspace's own, even when two workspaces share a server."""

from __future__ import annotations

from app import config


def test_two_workspaces_on_one_server_keep_their_own_tokens() -> None:
    server = "https://sync.example.com"
    config.save_token(server, "alice-token", "/home/alice/shop.db")
    config.save_token(server, "bob-token", "/home/bob/shop.db")
    assert config.load_token(server, "/home/alice/shop.db") == "alice-token"
    assert config.load_token(server, "/home/bob/shop.db") == "bob-token"
    assert config.load_token(server, "/home/carol/shop.db") is None


def test_a_token_kept_for_the_server_alone_still_serves_a_workspace_without_its_own() -> None:
    server = "https://sync.example.com"
    config.save_token(server, "shared-token")  # as earlier versions kept it
    assert config.load_token(server, "/home/alice/shop.db") == "shared-token"
    config.save_token(server, "alice-token", "/home/alice/shop.db")
    assert config.load_token(server, "/home/alice/shop.db") == "alice-token"
    assert config.load_token(server, "/home/bob/shop.db") == "shared-token"


def test_a_token_given_on_opening_is_kept_unless_the_server_refuses_it(qtbot, run, tmp_path) -> None:
    """`sync-manager DB --remote URL --token T` keeps T for next time (offline too); a refused one is forgotten."""
    from app.main import Controller
    from syncengine import Device
    from tests.syncengine.server.servers import Server, new_token

    from .helpers import close_window

    log = str(tmp_path / "log.db")
    token = new_token(log, "alice")
    server = Server(log, tmp_path / "server.log").start()
    try:
        db = str(tmp_path / "laptop.db")
        Device.init(db, metadata=_notes(), name="laptop").close()
        controller = Controller()
        window = run(controller.open(config.Workspace(db=db, remote=server.url), "wrong-token"))
        qtbot.waitUntil(lambda: window.service.reachability.value == "error", timeout=20000)
        assert "refused the token" in window.service.reachability_detail
        qtbot.waitUntil(lambda: config.load_token(server.url, db) is None, timeout=10000)  # refused: forgotten
        close_window(qtbot, window)
        window = run(controller.open(config.Workspace(db=db, remote=server.url), token))
        assert config.load_token(server.url, db) == token
        qtbot.waitUntil(lambda: window.service.reachability.value == "reachable", timeout=20000)
        assert config.load_token(server.url, db) == token  # accepted: it stays
        close_window(qtbot, window)
    finally:
        server.stop()


def _notes():
    import sqlalchemy as sa

    meta = sa.MetaData()
    sa.Table("notes", meta, sa.Column("id", sa.String(36), primary_key=True), sa.Column("text", sa.String(80)))
    return meta
