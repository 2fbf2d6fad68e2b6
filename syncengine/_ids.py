"""Random primary keys, so two devices never create the same id.

storex-sync did this with a middleware; here it is a column default for ORM
models (``id: Mapped[str] = uuid_pk()``) and a function for everything else.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.orm import MappedColumn


def new_id() -> str:
    """Return a new random UUID as 36-character text."""
    return str(uuid.uuid4())


def uuid_pk(**kwargs: Any) -> MappedColumn[Any]:
    """Return a text primary-key column whose default is a new random UUID."""
    from sqlalchemy.orm import mapped_column  # the ORM (6 MB) is loaded by programs that use it, not by sync

    return mapped_column(sa.String(36), primary_key=True, default=new_id, **kwargs)
