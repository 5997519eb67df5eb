"""Creating and upgrading the system tables with Alembic, and instance-wide counters."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
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


GENERATION = sa.select(models.meta.c.value).where(models.meta.c.key == "schema_generation")
"""The schema generation's statement (built once: it runs on every request)."""


def schema_generation(conn: Connection) -> int:
    value = conn.execute(GENERATION).scalar()
    return int(value or 0)


def bump_schema_generation(conn: Connection) -> int:
    updated = conn.execute(models.meta.update().where(models.meta.c.key == "schema_generation").values(value=models.meta.c.value + 1))
    if updated.rowcount == 0:
        conn.execute(models.meta.insert().values(key="schema_generation", value=1))
    return schema_generation(conn)
