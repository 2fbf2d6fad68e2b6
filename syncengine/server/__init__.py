"""The shared-log server: an ASGI application over the SQL shared log, with accounts.

``syncengine serve`` runs it under uvicorn; :func:`create_app` returns it for any
other ASGI server. Endpoints decode a request, call
:class:`~syncengine.store.SqlSharedLog` scoped to the token's user, and encode the
answer; :mod:`syncengine._wire` holds the shapes (the HTTP client uses the same
module, and nothing else of the server), :mod:`._openapi` documents them.

The names are loaded on first use, so that importing the package (as the command
line does for ``syncengine token``) does not import Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._accounts import TokenInfo, create_token, list_tokens, revoke_token
    from ._app import DEFAULT_MAX_BODY, create_app

__all__ = ["DEFAULT_MAX_BODY", "TokenInfo", "create_app", "create_token", "list_tokens", "revoke_token"]


def __getattr__(name: str) -> Any:
    if name in ("DEFAULT_MAX_BODY", "create_app"):
        from . import _app

        return getattr(_app, name)
    if name in __all__:
        from . import _accounts

        return getattr(_accounts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
