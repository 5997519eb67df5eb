"""Creating and upgrading the system tables with Alembic, and instance-wide counters."""

from __future__ import annotations

import weakref
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def upgrade_system_tables(db: Database) -> None:
    """Bring the system tables to the newest revision (idempotent)."""

    def work(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), "head")

    db.run(work)


VERSION_TABLE = "fd_alembic_version"


def pending_migrations(conn: Connection) -> list[str]:
    """The system migrations this database has not had yet, oldest first (empty: current).

    `flowdeck run` refuses to serve while there are any and `/readyz` answers 503, because
    code expecting the newer tables would fail on every request that touches them;
    `flowdeck upgrade` runs them."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
    applied = {rev.revision for rev in script.iterate_revisions(heads, "base")} if heads else set()
    return [rev.revision for rev in reversed(list(script.walk_revisions())) if rev.revision not in applied]


GENERATION = sa.select(models.meta.c.value).where(models.meta.c.key == "schema_generation")
"""The schema generation's statement (built once: it runs on every request)."""


def schema_generation(conn: Connection) -> int:
    value = conn.execute(GENERATION).scalar()
    return int(value or 0)


_IN_TRANSACTION = "flowdeck.schema_generation"


def transaction_generation(conn: Connection) -> int:
    """The schema generation as this transaction first read it: read once per transaction.
    A write's listeners (automations, webhooks, the events' index) each need it, and one
    transaction may write many records; a bump in the transaction replaces the kept value."""
    found = conn.info.get(_IN_TRANSACTION)
    transaction = conn.get_transaction()
    if found is not None and transaction is not None and found[0]() is transaction:
        return int(found[1])
    value = schema_generation(conn)
    transaction = conn.get_transaction()
    if transaction is not None:
        conn.info[_IN_TRANSACTION] = (weakref.ref(transaction), value)
    return value


def bump_schema_generation(conn: Connection) -> int:
    updated = conn.execute(models.meta.update().where(models.meta.c.key == "schema_generation").values(value=models.meta.c.value + 1))
    if updated.rowcount == 0:
        conn.execute(models.meta.insert().values(key="schema_generation", value=1))
    conn.info.pop(_IN_TRANSACTION, None)
    return schema_generation(conn)
