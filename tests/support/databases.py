"""Fresh real databases per test, on SQLite or PostgreSQL, made from template databases.

`FLOWDECK_TEST_DB=postgresql` runs the suite on PostgreSQL (`FLOWDECK_TEST_PG_URL` names a
server database to connect to for creating per-test databases; default the local `postgres`
database). A template database per named setup holds the migrated system tables (and, for
some, applied apps); each test gets a copy (a file copy on SQLite, `CREATE DATABASE ...
TEMPLATE` on PostgreSQL), so tests never see each other's data and never rebuild the schema.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from flowdeck.engine.apps import apply_document, bundled_documents, read_document
from flowdeck.engine.db import Database
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.system import upgrade_system_tables

BACKEND = os.environ.get("FLOWDECK_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("FLOWDECK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin() -> sa.Engine:
    return sa.create_engine(sa.make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return sa.make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


class DatabaseFactory:
    """Makes fresh databases from templates (one template per named setup)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = f"fdt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.templates: dict[str, str] = {}
        self.created: list[str] = []
        self.admin = _pg_admin() if BACKEND == "postgresql" else None

    def _new_name(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        self.created.append(name)
        return name

    def url_for(self, name: str) -> str:
        if BACKEND == "postgresql":
            return _pg_url(name)
        return f"sqlite:///{self.root / (name + '.db')}"

    def template(self, key: str, setup: Callable[[Database], None]) -> str:
        if key not in self.templates:
            name = self._new_name()
            if self.admin is not None:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            db = Database(self.url_for(name))
            upgrade_system_tables(db)
            setup(db)
            db.dispose()
            self.templates[key] = name
        return self.templates[key]

    def fresh(self, template: str) -> Database:
        name = self._new_name()
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            source = self.root / f"{template}.db"
            with sa.create_engine(f"sqlite:///{source}").connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copyfile(source, self.root / f"{name}.db")
        return Database(self.url_for(name))

    def blank(self) -> Database:
        """A database with no tables at all (what `flowdeck restore` wants)."""
        name = self._new_name()
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return Database(self.url_for(name))

    def drop(self, db: Database) -> None:
        db.dispose()
        if self.admin is not None:
            name = sa.make_url(db.url).database
            with self.admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self.admin is not None:
            with self.admin.connect() as conn:
                for name in self.created:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.admin.dispose()


def install_bundled(db: Database) -> None:
    """The setup of the `bundled` template: every bundled app applied."""
    for path in bundled_documents():
        apply_document(db, read_document(path), actor=Actor.system(), message=M("bundled app"))
