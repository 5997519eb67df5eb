"""What the roll-up statement, lock and pipeline tests share: counting the statements a
block sends and the round trips it waits for, saving or creating a record as the system,
and a project > milestone > task tree chain with three levels of roll-ups."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from psycopg import pq

from flowdeck.engine import records
from flowdeck.engine.permissions import Actor


@contextlib.contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    """Every statement the engine sends to the database inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


@contextlib.contextmanager
def round_trips(db: Any) -> Iterator[list[str]]:
    """PostgreSQL: the protocol messages of every connection checked out inside the block
    (libpq's trace), so that a test counts the answers the client waited for
    (`ReadyForQuery`), not the statements it sent. The list is filled when the block ends."""
    folder = tempfile.TemporaryDirectory()
    files: list[Any] = []

    def checkout(dbapi_connection: Any, *rest: Any) -> None:
        trace = (Path(folder.name) / f"{len(files)}.trace").open("w")
        files.append(trace)
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def checkin(dbapi_connection: Any, *rest: Any) -> None:
        dbapi_connection.pgconn.untrace()

    messages: list[str] = []
    sa.event.listen(db.engine, "checkout", checkout)
    sa.event.listen(db.engine, "checkin", checkin)
    try:
        yield messages
    finally:
        sa.event.remove(db.engine, "checkout", checkout)
        sa.event.remove(db.engine, "checkin", checkin)
        for trace in files:
            trace.close()
            messages.extend(Path(trace.name).read_text().splitlines())
        folder.cleanup()


def save(db: Any, et: Any, record_id: int, **values: Any) -> None:
    actor = Actor.system()
    db.run(lambda c: records.update_record(c, et, record_id, values, actor=actor, expected_version=None))


def create(db: Any, et: Any, **values: Any) -> int:
    return db.run(lambda c: records.create_record(c, et, values, actor=Actor.system())).id


CHAIN = {
    "key": "ch",
    "label": "Chain",
    "roles": {"lead": {"label": "Lead"}},
    "entities": {
        "project": {
            "fields": {
                "name": {"type": "text"},
                "cost": {"type": "rollup", "over": "milestone.project", "aggregate": "sum", "field": "cost"},
            }
        },
        "milestone": {
            "fields": {
                "name": {"type": "text"},
                "project": {"type": "reference", "to": "project"},
                "cost": {"type": "rollup", "over": "task.milestone", "aggregate": "sum", "field": "cost"},
            }
        },
        "task": {
            "tree": "parent",
            "fields": {
                "name": {"type": "text"},
                "milestone": {"type": "reference", "to": "milestone"},
                "parent": {"type": "reference", "to": "task"},
                "cost": {"type": "money"},
                "below_cost": {"type": "rollup", "over": "tree", "aggregate": "sum", "field": "cost"},
            },
        },
    },
}


def chain(db: Any, install: Any, document: dict[str, Any] | None = None) -> tuple[Any, dict[str, int]]:
    """A project, its milestone, and a tree `top` > `mid` > `left`, `right` in it (app `ch`:
    CHAIN, or `document` with its entities)."""
    registry = install(document or CHAIN)
    task, milestone, project = (registry.entity("ch", k) for k in ("task", "milestone", "project"))
    ids = {"project": create(db, project, name="P")}
    ids["milestone"] = create(db, milestone, name="M", project=ids["project"])
    ids["top"] = create(db, task, name="top", milestone=ids["milestone"], cost="0")
    ids["mid"] = create(db, task, name="mid", milestone=ids["milestone"], parent=ids["top"], cost="0")
    for leaf in ("left", "right"):
        ids[leaf] = create(db, task, name=leaf, milestone=ids["milestone"], parent=ids["mid"], cost="0")
    return registry, ids


def value(db: Any, registry: Any, entity: str, record_id: int, key: str) -> Any:
    return db.read(lambda c: records.fetch_record(c, registry.entity("ch", entity), record_id)).values[key]
