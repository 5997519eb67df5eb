"""Fixtures every test package shares: a fresh real database per test (SQLite or PostgreSQL,
see `tests/support/databases.py`), apps installed into it, users, and the Flask app on it.

Helpers live in `tests/support/`; test modules import from there, never from each other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from flowdeck.engine import users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog, Registry
from tests.support.databases import DatabaseFactory, install_bundled

users.set_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

pytest_plugins = ("tests.support.bundles", "tests.support.migrations", "tests.support.redis")


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(tmp_path_factory.mktemp("databases"))
    yield factory
    factory.close()


@pytest.fixture
def db(databases: DatabaseFactory) -> Iterator[Database]:
    """A fresh database with the system tables and no apps."""
    database = databases.fresh(databases.template("empty", lambda db: None))
    yield database
    databases.drop(database)


@pytest.fixture
def bundled_db(databases: DatabaseFactory) -> Iterator[Database]:
    """A fresh database with the bundled apps applied (no users, no records)."""
    database = databases.fresh(databases.template("bundled", install_bundled))
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
