"""Connections and transactions, the same way on SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout; write transactions start
with `BEGIN IMMEDIATE`, so concurrent writers queue for the lock instead of failing with
"database is locked" when a read transaction tries to upgrade. `synchronous=NORMAL` (the
default here, `FLOWDECK_SQLITE_SYNCHRONOUS=FULL` to change it) never corrupts the database;
after a power cut the last transactions before it may be lost. PostgreSQL runs at READ
COMMITTED; serialization failures and deadlocks are retried a bounded number of times by
`Database.run`, which is why units of work are passed in as functions.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from flowdeck.engine.errors import DatabaseUnavailable
from flowdeck.engine.messages import M

T = TypeVar("T")

RETRY_ATTEMPTS = 5
_PG_RETRY_CODES = {"40001", "40P01"}


def _configure_sqlite(engine: Engine) -> None:
    synchronous = os.environ.get("FLOWDECK_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if synchronous not in ("NORMAL", "FULL"):
        synchronous = "NORMAL"

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # Take transaction control away from the sqlite3 module; `begin` below issues BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA cache_size=-32000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        mode = "BEGIN IMMEDIATE" if conn.get_execution_options().get("flowdeck_write") else "BEGIN"
        conn.exec_driver_sql(mode)


def describe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    return sa.make_url(url).render_as_string(hide_password=True)


def create_db_engine(url: str) -> Engine:
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"timeout": 10}, pool_pre_ping=False)
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _is_transient(exc: DBAPIError) -> bool:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_RETRY_CODES:
        return True
    message = str(orig or exc).lower()
    return "database is locked" in message or "database is busy" in message


class Database:
    """One database and the way units of work run against it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        return describe_url(self.url)

    def check(self) -> None:
        """Raise DatabaseUnavailable with one clear line if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailable(
                M("cannot connect to the database at %(url)s: %(reason)s", url=self.describe(), reason=reason)
            ) from None

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run `work(conn)` in one transaction and commit; retry it on transient conflicts.

        `work` must be safe to run again from the start: it sees a fresh transaction each
        time. Errors that are not transient propagate after the rollback.
        """
        for attempt in range(RETRY_ATTEMPTS):
            try:
                with self.engine.connect() as conn:
                    if write:
                        conn = conn.execution_options(flowdeck_write=True)
                    with conn.begin():
                        return work(conn)
            except (OperationalError, DBAPIError) as exc:
                if attempt == RETRY_ATTEMPTS - 1 or not _is_transient(exc):
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 -- jitter, not security
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Connection], T]) -> T:
        return self.run(work, write=False)

    def open_read(self) -> Connection:
        """A connection in a read transaction that the caller closes (which rolls it back):
        several reads of one web request in one transaction, with one pool checkout and one
        BEGIN. Reads are not retried (they meet no transient conflicts)."""
        conn = self.engine.connect()
        try:
            conn.begin()
        except BaseException:
            conn.close()
            raise
        return conn

    def dispose(self) -> None:
        self.engine.dispose()
