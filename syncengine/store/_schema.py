"""The engine's own tables inside a device database.

``syncengine_log`` is the client log. Its ``state`` moves along::

    CAPTURED ──stamp──▶ UNSHARED ──push──▶ SHARED           (local writes)
    (pull) ──▶ PENDING ──reconcile──▶ DONE | QUARANTINED ──▶ SKIPPED   (received)
                                    └──▶ HELD ──decision──▶ DONE       (constraint conflicts)

Triggers insert CAPTURED rows: on SQLite with the row's values copied into the
typeless columns ``n0…`` (new) and ``o0…`` (old), elsewhere in the database's own
JSON in ``data``/``old``. Stamping gives them a hybrid-clock version, the portable
JSON form and their base versions.
On SQLite, when shared entries are not kept (cleanup), a batch is stamped straight
into ``syncengine_outbox`` instead, and its CAPTURED rows are deleted with it once it
is shared.
``syncengine_rows`` holds each synced row's version registers (see
:mod:`syncengine.reconcile._state`); ``syncengine_state`` small settings such as
the device id, the clock and the pull cursor.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

SCHEMA_VERSION = 1

metadata = sa.MetaData()

_LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def _Name(length: int) -> sa.types.TypeEngine[str]:
    """Text compared byte for byte everywhere: MariaDB's default collation ignores case and accents."""
    return sa.String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


_Key = _Name(64)


class LogState(enum.IntEnum):
    """Where a client-log row stands (see the module docstring)."""

    CAPTURED = 0
    UNSHARED = 1
    SHARED = 2
    PENDING = 3
    DONE = 4
    QUARANTINED = 5
    SKIPPED = 6
    HELD = 7  # received, waiting for a person to decide a constraint conflict


control = sa.Table(
    "syncengine_control",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applying", sa.Integer, nullable=False, server_default="0"),
)

state = sa.Table(
    "syncengine_state",
    metadata,
    sa.Column("key", _Key, primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
)

tables = sa.Table(
    "syncengine_tables",
    metadata,
    sa.Column("name", _Name(128), primary_key=True),
    sa.Column("pk_columns", sa.Text, nullable=False),
    sa.Column("installed_at", sa.Float, nullable=False),
)

log = sa.Table(
    "syncengine_log",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("state", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("tbl", _Name(128), nullable=True),
    sa.Column("pk", sa.Text, nullable=True),
    sa.Column("op", sa.String(1), nullable=True),
    sa.Column("data", _LongText, nullable=True),
    sa.Column("old", _LongText, nullable=True),
    sa.Column("wall", sa.BigInteger, nullable=True),
    sa.Column("version", _Key, nullable=True),
    sa.Column("device_id", _Key, nullable=True),
    sa.Column("base", sa.Text, nullable=True),
    sa.Column("batch_id", _Key, nullable=True),
    sa.Column("remote_seq", sa.BigInteger, nullable=True),
    sa.Column("extra", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("conflict_id", sa.BigInteger, nullable=True),
    # Captured rows (state 0) stay out of the index: a trigger's insert then touches one
    # B-tree, not two. Stamping finds them in id order anyway (they are the newest rows).
    sa.Index(
        "ix_syncengine_log_state",
        "state",
        "id",
        sqlite_where=sa.text("state <> 0"),
        postgresql_where=sa.text("state <> 0"),
    ),
)

# Batches stamped and encoded, waiting to be sent (SQLite, with cleanup): their entries'
# captured log rows, ids ``first_id`` to ``last_id``, stay as they were captured until the
# batch has reached the shared log; then they and the batch row are deleted. Stamping
# skips captured rows up to the highest ``last_id``: on SQLite every captured row with a
# lower id was taken by an earlier stamp, because SQLite gives a new row the highest id
# plus one (one writer at a time) and the row with the highest ``last_id`` is kept until
# its batch is dropped (``_client.drop_outboxed``).
outbox = sa.Table(
    "syncengine_outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("batch_id", _Key, nullable=False, unique=True),
    sa.Column("first_id", sa.BigInteger, nullable=False),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("dropped", sa.Integer, nullable=False),  # entries pre_send dropped from the batch
    sa.Column("payload", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
    sa.Column("extra", sa.Text, nullable=True),
)

rows = sa.Table(
    "syncengine_rows",
    metadata,
    sa.Column("tbl", _Name(128), primary_key=True),
    sa.Column("pk", _Name(512), primary_key=True),
    sa.Column("exists_v", _Key, nullable=False),
    sa.Column("alive", sa.SmallInteger, nullable=False),
    sa.Column("fields", sa.Text, nullable=True),
    sa.Column("dead", _LongText, nullable=True),
    sqlite_with_rowid=False,
)

conflicts = sa.Table(
    "syncengine_conflicts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("held", sa.SmallInteger, nullable=False),
    sa.Column("tbl", _Name(128), nullable=False),
    sa.Column("pk", _Name(512), nullable=False),
    sa.Column("field", _Name(128), nullable=True),
    sa.Column("base", _LongText, nullable=True),
    sa.Column("local", _LongText, nullable=True),
    sa.Column("local_version", _Key, nullable=True),
    sa.Column("remote", _LongText, nullable=True),
    sa.Column("remotes", _LongText, nullable=False),
    sa.Column("auto", _LongText, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("decision", sa.String(16), nullable=True),
    sa.Column("decided_value", _LongText, nullable=True),
    sa.Column("decided_by", _Key, nullable=True),
    sa.Column("decided_how", sa.String(16), nullable=True),
    sa.Column("decided_at", sa.Float, nullable=True),
    sa.Column("decided_version", _Key, nullable=True),
    sa.Index("ix_syncengine_conflicts_open", "status", "tbl", "pk"),
    sqlite_autoincrement=True,
)

syncs = sa.Table(
    "syncengine_syncs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Column("remote", sa.Text, nullable=True),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sqlite_autoincrement=True,
)
