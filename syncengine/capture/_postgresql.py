"""PostgreSQL capture: one PL/pgSQL trigger function per table.

``row_to_json`` renders every type exactly (numerics as written, floats in their
shortest exact form, ``bytea`` as ``\\x`` hex, timestamps in ISO 8601 with offset).
"""

from __future__ import annotations

import sqlalchemy as sa

from ._names import bounded

_WALL = "(extract(epoch from clock_timestamp()) * 1000)::bigint"

FOLLOWS_NEW_COLUMNS = True
"""``row_to_json`` renders every column the row has now: a column added later is captured too."""


def is_autoincrement(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """A serial or identity column numbers rows by itself."""
    default = column.server_default
    # a reflected default is a DefaultClause around a TextClause, which refuses bool()
    text = "" if default is None else str(getattr(default, "arg", default))
    return "nextval(" in text or column.identity is not None or column.autoincrement is True


def _q(dialect: sa.Dialect, name: str) -> str:
    return dialect.identifier_preparer.quote(name)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _function(table: sa.Table, dialect: sa.Dialect) -> str:
    return _q(dialect, bounded(f"syncengine_capture_{table.name}", 63))


def _trigger(table: sa.Table, dialect: sa.Dialect) -> str:
    return _q(dialect, bounded(f"syncengine_{table.name}", 63))


def _pk(table: sa.Table, dialect: sa.Dialect, row: str) -> str:
    parts = ", ".join(f"{row}.{_q(dialect, c.name)}" for c in table.primary_key.columns)
    return f"json_build_array({parts})::text"


def drop(conn: sa.Connection, table: sa.Table) -> None:
    """Remove this table's capture trigger and its function, whatever an engine version named them.

    A function is dropped only when no other trigger uses it (an earlier version
    could give two tables with a long common prefix the same one).
    """
    dialect = conn.dialect
    found = conn.execute(
        sa.text(
            "SELECT t.tgname, t.tgfoid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = :table AND c.relnamespace = to_regnamespace(current_schema()) "
            "AND t.tgname LIKE 'syncengine\\_%' AND NOT t.tgisinternal"
        ),
        {"table": table.name},
    ).all()
    for name, function in found:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_q(dialect, name)} ON {_q(dialect, table.name)}")
        users = conn.execute(sa.text("SELECT count(*) FROM pg_trigger WHERE tgfoid = :f"), {"f": function}).scalar()
        if not users:
            signature = conn.execute(
                sa.text("SELECT CAST(CAST(CAST(:f AS oid) AS regprocedure) AS text)"), {"f": function}
            ).scalar_one()
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {signature}")
    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {_function(table, dialect)}()")


def create_statements(table: sa.Table, dialect: sa.Dialect) -> list[str]:
    """Return the statements that create this table's trigger and function."""
    name = _lit(table.name)
    # the engine's tables by their schema: a program writing with another search_path (the
    # synced table named with its schema) must be captured, not refused
    home = f"{_q(dialect, dialect.default_schema_name)}." if dialect.default_schema_name else ""
    log = f"INSERT INTO {home}syncengine_log (tbl, pk, op, data, old, wall) VALUES"
    # An update is compared by its JSON text, not with ``NEW IS DISTINCT FROM OLD``:
    # ``json`` columns have no equality operator (the comparison would fail every
    # update), and float equality would miss 0 becoming -0.
    body = f"""
DECLARE
  new_row text;
  old_row text;
BEGIN
  IF (SELECT applying FROM {home}syncengine_control WHERE id = 1) <> 0 THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    {log} ({name}, {_pk(table, dialect, "NEW")}, 'I', row_to_json(NEW)::text, NULL, {_WALL});
  ELSIF TG_OP = 'UPDATE' THEN
    new_row := row_to_json(NEW)::text;
    old_row := row_to_json(OLD)::text;
    IF new_row IS DISTINCT FROM old_row THEN
      {log} ({name}, {_pk(table, dialect, "OLD")}, 'U', new_row, old_row, {_WALL});
    END IF;
  ELSE
    {log} ({name}, {_pk(table, dialect, "OLD")}, 'D', NULL, row_to_json(OLD)::text, {_WALL});
  END IF;
  RETURN NULL;
END
"""
    return [
        f"CREATE FUNCTION {_function(table, dialect)}() RETURNS trigger LANGUAGE plpgsql AS $syncengine${body}$syncengine$",
        f"CREATE TRIGGER {_trigger(table, dialect)} AFTER INSERT OR UPDATE OR DELETE ON {_q(dialect, table.name)} "
        f"FOR EACH ROW EXECUTE FUNCTION {_function(table, dialect)}()",
    ]


def snapshot_statement(table: sa.Table, dialect: sa.Dialect) -> str:
    """Return the statement that records every existing row as a captured insert."""
    return (
        "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) "
        f"SELECT {_lit(table.name)}, {_pk(table, dialect, 'r')}, 'I', row_to_json(r)::text, NULL, {_WALL} "
        f"FROM {_q(dialect, table.name)} AS r"
    )


def added_statement(table: sa.Table, dialect: sa.Dialect, defaults: dict[str, str | None]) -> str:
    """Return the statement that records rows holding a value in columns added since the trigger was made.

    ``defaults`` maps each added column to its default's SQL (None: NULL). A row
    whose added columns hold anything else is recorded as a captured update from
    the defaults to what it holds: its old form is the row with those columns set
    to their defaults, rendered by ``row_to_json`` as the trigger renders rows.
    """
    names = list(defaults)
    # jsonb_build_object takes at most 100 arguments: 50 columns a call
    parts = [
        "jsonb_build_object("
        + ", ".join(f"{_lit(n)}, ({defaults[n] or 'NULL'})" for n in names[start : start + 50])
        + ")"
        for start in range(0, len(names), 50)
    ]
    old = f"row_to_json(jsonb_populate_record(r, {' || '.join(parts)}))::text"
    # compared as text: json columns have no equality operator
    differs = " OR ".join(
        f"r.{_q(dialect, n)} IS NOT NULL"
        if defaults[n] is None
        else f"CAST(r.{_q(dialect, n)} AS text) IS DISTINCT FROM CAST(({defaults[n]}) AS text)"
        for n in names
    )
    return (
        "INSERT INTO syncengine_log (tbl, pk, op, data, old, wall) "
        f"SELECT {_lit(table.name)}, {_pk(table, dialect, 'r')}, 'U', row_to_json(r)::text, {old}, {_WALL} "
        f"FROM {_q(dialect, table.name)} AS r WHERE {differs}"
    )


SHAPE_QUERY = sa.text(
    "SELECT 0, c.relname::text, a.attnum::int, a.attname::text, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), COALESCE(a.attnum = ANY(i.indkey), false) "
    "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
    "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
    "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
    "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind IN ('r', 'p') AND c.relname IN :names "
    "UNION ALL SELECT 1, c.relname::text, 0, t.tgname::text, "
    "pg_get_triggerdef(t.oid) || chr(10) || t.tgenabled::text || chr(10) || p.prosrc, NULL, NULL, NULL "
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
    "WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname IN :names "
    "AND t.tgname LIKE 'syncengine\\_%' AND NOT t.tgisinternal ORDER BY 1, 2, 3"
).bindparams(sa.bindparam("names", expanding=True))
"""What capture depends on in the tables ``names``, one row per column (0) and per trigger of the engine (1).

Rows are (0 or 1, table, position, name, then for a column its type, NOT NULL,
default and whether it is in the key; for a trigger its definition, whether it is
enabled and its function's body).
"""
