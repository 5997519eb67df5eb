"""The apps as currently applied, parsed once per schema generation.

A `Registry` is immutable: the loaded apps with their tables. `Catalog` keeps the current
one for a process and swaps it whole when another process applies a schema change (it
compares `fd_meta.schema_generation`, one indexed read, on each use), so every worker
switches to a new version without a restart.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flowdeck.engine import models
from flowdeck.engine.calendars import book as calendar_book
from flowdeck.engine.calendars.storage import load_book
from flowdeck.engine.db import Database
from flowdeck.engine.errors import NotFound
from flowdeck.engine.messages import M
from flowdeck.engine.schema.loader import load_app
from flowdeck.engine.storage.tables import AppTables, EntityTables, build_app_tables
from flowdeck.engine.system import schema_generation, transaction_generation


@dataclass(frozen=True)
class Registry:
    generation: int
    apps: dict[str, AppTables]
    versions: dict[str, int]
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)
    """What callers work out from this registry alone (with keys of their own, e.g. the
    web sidebar per roles and language): it goes when the registry is replaced."""

    def app(self, key: str) -> AppTables:
        try:
            return self.apps[key]
        except KeyError:
            raise NotFound(M('there is no app "%(app)s"', app=key)) from None

    def entity(self, app: str, entity: str) -> EntityTables:
        tables = self.app(app)
        try:
            return tables.entities[entity]
        except KeyError:
            raise NotFound(M('app "%(app)s" has no entity "%(key)s"', app=app, key=entity)) from None


def current_documents(conn: Connection) -> dict[str, tuple[int, dict]]:
    """Each installed app's current version number and document."""
    a, v = models.apps, models.app_versions
    rows = conn.execute(
        sa.select(a.c.key, a.c.version, v.c.document).join(v, (v.c.app == a.c.key) & (v.c.version == a.c.version)).order_by(a.c.key)
    )
    return {key: (version, document) for key, version, document in rows}


def load_registry(conn: Connection) -> Registry:
    generation = schema_generation(conn)
    calendar_book.install(load_book(conn))  # first: documents name calendars by key
    apps: dict[str, AppTables] = {}
    versions: dict[str, int] = {}
    for key, (version, document) in current_documents(conn).items():
        apps[key] = build_app_tables(load_app(document, name=key))
        versions[key] = version
    return Registry(generation=generation, apps=apps, versions=versions)


class Catalog:
    """The process's view of the current registry; safe to share between threads."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._registry: Registry | None = None
        self._lock = threading.Lock()

    def current(self, conn: Connection | None = None, *, generation: int | None = None) -> Registry:
        """The registry of the current schema generation (`generation`: already read in
        this transaction by the caller)."""
        if conn is None:
            return self.db.read(self.current)
        if generation is None:
            generation = schema_generation(conn)
        registry = self._registry
        if registry is not None and registry.generation == generation:
            return registry
        with self._lock:
            if self._registry is None or self._registry.generation != generation:
                self._registry = load_registry(conn)
            return self._registry

    def invalidate(self) -> None:
        self._registry = None


_per_engine: weakref.WeakKeyDictionary[Engine, Registry] = weakref.WeakKeyDictionary()
_per_engine_lock = threading.Lock()


def registry_for(conn: Connection) -> Registry:
    """The applied apps of `conn`'s database, for code that runs without a `Catalog` (job
    handlers, the automation listener): one registry per database engine, loaded again
    when the schema generation changed, so a worker sees a newly applied document at once."""
    generation = transaction_generation(conn)
    engine = conn.engine
    found = _per_engine.get(engine)
    if found is not None and found.generation == generation:
        return found
    with _per_engine_lock:
        found = _per_engine.get(engine)
        if found is None or found.generation != generation:
            found = _per_engine[engine] = load_registry(conn)
        return found
