"""Fixtures: a fresh real database per test, on SQLite or PostgreSQL.

`FLOWDECK_TEST_DB=postgresql` runs the suite on PostgreSQL (`FLOWDECK_TEST_PG_URL` names a
server database to connect to for creating per-test databases; default the local `postgres`
database). A session template database holds the migrated system tables; each test gets a
copy (a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL), so tests never
see each other's data and never rebuild the schema from scratch.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from flowdeck.engine import users
from flowdeck.engine.apps import apply_document, bundled_documents, read_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog, Registry
from flowdeck.engine.system import upgrade_system_tables

users.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

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


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


def _install_bundled(db: Database) -> None:
    for path in bundled_documents():
        apply_document(db, read_document(path), actor=Actor.system(), message="bundled app")


@pytest.fixture
def db(databases: DatabaseFactory) -> Iterator[Database]:
    """A fresh database with the system tables and no apps."""
    database = databases.fresh(databases.template("empty", lambda db: None))
    yield database
    databases.drop(database)


@pytest.fixture
def bundled_db(databases: DatabaseFactory) -> Iterator[Database]:
    """A fresh database with the bundled apps applied (no users, no records)."""
    database = databases.fresh(databases.template("bundled", _install_bundled))
    yield database
    databases.drop(database)


@pytest.fixture
def system() -> Actor:
    return Actor.system()


@pytest.fixture
def install(db: Database, system: Actor) -> Callable[[dict[str, Any]], Registry]:
    """Apply an app document to `db` and return the registry that results."""
    catalog = Catalog(db)

    def apply(document: dict[str, Any]) -> Registry:
        apply_document(db, copy.deepcopy(document), actor=system)
        return catalog.current()

    return apply


@pytest.fixture
def make_user(db: Database) -> Callable[..., Actor]:
    """Create a user holding `roles` ({app: [role, ...]}) and return them as an Actor."""
    counter = iter(range(1, 10_000))

    def make(
        username: str | None = None, roles: dict[str, list[str]] | None = None, *, is_admin: bool = False, password: str = "password123"
    ) -> Actor:
        name = username or f"user{next(counter)}"

        def work(conn: sa.Connection) -> Actor:
            uid = users.create_user(conn, name, password=password, display_name=name.title(), is_admin=is_admin)
            for app, role_list in (roles or {}).items():
                for role in role_list:
                    users.grant_role(conn, uid, app, role)
            return users.actor_for(conn, uid)

        return db.run(work)

    return make


def minimal_app(**entity_overrides: Any) -> dict[str, Any]:
    """A small valid app document that tests adapt."""
    entity: dict[str, Any] = {
        "label": {"en": "Task", "zh": "任务"},
        "fields": {
            "title": {"type": "text", "required": True},
            "priority": {"type": "select", "options": ["low", "normal", "high"], "default": "normal"},
            "estimate": {"type": "decimal"},
        },
        "workflow": {
            "states": {
                "todo": {"category": "todo"},
                "doing": {"category": "doing"},
                "review": {"category": "doing"},
                "done": {"category": "done"},
            },
            "transitions": [
                {"key": "start", "from": "todo", "to": "doing"},
                {"key": "submit", "from": "doing", "to": "review"},
                {"key": "approve", "from": "review", "to": "done", "roles": ["lead"]},
                {"key": "reopen", "from": ["review", "done"], "to": "todo"},
            ],
        },
    }
    entity.update(entity_overrides)
    return json.loads(
        json.dumps(
            {
                "key": "demo",
                "label": {"en": "Demo", "zh": "演示"},
                "roles": {"lead": {"label": "Lead"}, "member": {"label": "Member"}, "viewer": {"label": "Viewer"}},
                "entities": {"task": entity},
            }
        )
    )


@pytest.fixture
def app(db: Database, tmp_path: Path) -> Iterator[Any]:
    """The Flask app on the test database, with CSRF protection on (as in production)."""
    from flowdeck.app import create_app

    application = create_app(
        {"FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(tmp_path / "instance"), "SECRET_KEY": "test-secret"}
    )
    application.config["TESTING"] = True
    yield application
    application.extensions["flowdeck"].db.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


CSRF_PATTERN = 'name="csrf_token" value="'


def csrf_token(client: Any, path: str = "/login") -> str:
    """The CSRF token a browser would find in the form at `path`."""
    html = client.get(path).get_data(as_text=True)
    start = html.index(CSRF_PATTERN) + len(CSRF_PATTERN)
    return html[start : html.index('"', start)]


def login(client: Any, username: str, password: str = "password123") -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})
