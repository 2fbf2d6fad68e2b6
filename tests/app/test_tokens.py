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
