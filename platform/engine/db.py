"""Connections and transactions, the same way on SQLite and PostgreSQL.

SQLite runs in WAL mode with foreign keys on and a busy timeout; write transactions start
with `BEGIN IMMEDIATE`, so concurrent writers queue for the lock instead of failing with
"database is locked" when a read transaction tries to upgrade. `synchronous=NORMAL` (the
default here, `FLOWDECK_SQLITE_SYNCHRONOUS=FULL` to change it) never corrupts the database;
after a power cut the last transactions before it may be lost. PostgreSQL runs at READ
COMMITTED; serialization failures and deadlocks are retried a bounded number of times by
`Database.run`, which is why units of work are passed in as functions.

`pipelined` sends several statements to PostgreSQL in one round trip (psycopg's pipeline
mode) while they still go through SQLAlchemy's `Connection.execute`, its compiled cache
and its statement events: the server runs them in order, each a statement of its own (at
READ COMMITTED with its own snapshot, taken when the server starts it).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, CursorResult, Engine
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
    engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    event.listen(engine, "do_execute", _execute_in_pipeline)
    return engine


_PIPELINE_STEP = "flowdeck_pipeline_step"


def _execute_in_pipeline(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """Execute a statement `Pipeline.execute` sends, then run its step (sync the pipeline or
    end it) before SQLAlchemy reads the cursor: in pipeline mode a cursor has no result
    until then. Any other statement is left to the dialect (False)."""
    step = context.execution_options.get(_PIPELINE_STEP)
    if step is None:
        return False
    cursor.execute(statement, parameters)
    step()
    return True


class Pipeline:
    """Statements sent to PostgreSQL without waiting for each one's answer: one round trip
    for all of them up to the one whose rows are read (`read=True`, a sync) or the `last`
    (which ends the pipeline mode). A statement neither read nor last has no usable result
    (SQLAlchemy sees none); its errors are raised by the next sync."""

    def __init__(self, conn: Connection, mode: contextlib.AbstractContextManager[psycopg.Pipeline]) -> None:
        self.conn = conn
        self.mode = mode  # psycopg's `Connection.pipeline()`, entered here and left by `end`
        self.pipeline = mode.__enter__()
        self.open = True

    def execute(self, statement: Any, parameters: dict[str, Any], *, read: bool = False, last: bool = False) -> CursorResult[Any]:
        step = self.end if last else self.sync if read else None
        options = {_PIPELINE_STEP: step} if step is not None else {}
        return self.conn.execute(statement, parameters, execution_options=options)

    def sync(self) -> None:
        self.pipeline.sync()

    def end(self, exc: BaseException | None = None) -> None:
        """Leave pipeline mode: send what is pending, wait for every answer."""
        if self.open:
            self.open = False
            self.mode.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[Pipeline | None]:
    """A `Pipeline` on `conn` for the block, or None where there is none (SQLite; a libpq
    without pipeline mode): the caller then sends its statements one by one. Pipeline mode
    ends with the block at the latest."""
    dbapi = conn.connection.dbapi_connection
    if not isinstance(dbapi, psycopg.Connection) or not psycopg.Pipeline.is_supported():
        yield None
        return
    pipe = Pipeline(conn, dbapi.pipeline())
    try:
        yield pipe
    except BaseException as exc:
        pipe.end(exc)
        raise
    pipe.end()


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
