"""Alembic environment for Flowdeck's system tables.

Run through `flowdeck.engine.system.upgrade_system_tables`, which hands over an open
connection; record tables (names with `__`) belong to the schema migration planner and are
invisible here.
"""

from __future__ import annotations

from alembic import context

from flowdeck.engine.models import Base

config = context.config


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name is not None and not name.startswith("fd_"):
        return False
    table = getattr(obj, "table", None)
    return not (table is not None and not table.name.startswith("fd_"))


def run() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table="fd_alembic_version",
        include_object=include_object,
        # Batch mode recreates a SQLite table for changes ALTER cannot make. Never let it
        # recreate a table others reference with ON DELETE CASCADE: migrations run with
        # foreign keys on, and dropping the old table would delete the referencing rows.
        # Add and drop plain columns with op.add_column / op.drop_column (SQLite 3.35+).
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    context.run_migrations()


run()
