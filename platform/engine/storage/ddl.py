"""The table changes SQLAlchemy's `create_all` does not make, written so that SQLite and
PostgreSQL both accept them: adding a column (with its foreign key, and on PostgreSQL its
default for existing rows without rewriting them), renaming tables and columns, dropping
an index. The migration planner (`engine/migrate/`) decides when; this module says how."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine.schema.model import Field


def add_column_ddl(conn: Connection, table: sa.Table, column: sa.Column[Any], *, default: str | None = None) -> None:
    """ALTER TABLE ADD COLUMN, with its foreign key inline (SQLite cannot add one later).

    With `default` (PostgreSQL only, from `default_in_ddl`): the column is added with that
    default, which PostgreSQL keeps in the catalog for the rows already there instead of
    rewriting them, and the default is dropped again at once (also catalog-only), so the
    table's definition stays the model's. Adding a field with a default to a million
    records takes milliseconds instead of an UPDATE of every row."""
    preparer = conn.dialect.identifier_preparer
    spec = str(sa.schema.CreateColumn(column).compile(dialect=conn.dialect))
    for fk in column.foreign_keys:
        target = fk.column
        spec += f" REFERENCES {preparer.quote(target.table.name)} ({preparer.quote(target.name)})"
        if fk.ondelete:
            spec += f" ON DELETE {fk.ondelete}"
    name = preparer.quote(table.name)
    if default is None:
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {spec}")
        return
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD COLUMN {spec} DEFAULT {default}")
    conn.exec_driver_sql(f"ALTER TABLE {name} ALTER COLUMN {preparer.quote(column.name)} DROP DEFAULT")


def default_in_ddl(conn: Connection, column: sa.Column[Any], fld: Field) -> str | None:
    """A new field's default as an SQL literal for `add_column_ddl` (PostgreSQL), or None
    where existing records get it by an UPDATE instead: SQLite (which cannot drop a column
    default again), defaults that differ per record, unique fields, and values the
    column's type cannot render as a literal."""
    value = literal_default(fld)
    if conn.dialect.name != "postgresql" or value is None or fld.unique:
        return None
    try:
        literal = sa.literal(value, type_=column.type).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    except (sa.exc.SQLAlchemyError, NotImplementedError, TypeError, ValueError):
        return None
    return str(literal)


def literal_default(fld: Field) -> Any:
    """A default that is the same for every record (not `me`, `now` or `today`), else None."""
    value = fld.default
    if value is None or isinstance(value, list):
        return None
    if isinstance(value, str) and (value in ("me", "now") or value.startswith("today")) and fld.type in ("user", "date", "datetime"):
        return None
    return value


def rename_table(conn: Connection, old: str, new: str) -> None:
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(f"ALTER TABLE {quote(old)} RENAME TO {quote(new)}")


def rename_column(conn: Connection, table: str, old: str, new: str) -> None:
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(old)} TO {quote(new)}")


def drop_index(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"DROP INDEX {conn.dialect.identifier_preparer.quote(name)}")
