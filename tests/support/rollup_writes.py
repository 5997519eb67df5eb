"""What the roll-up statement and lock tests share: counting the statements a block sends,
and saving or creating a record as the system."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

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


def save(db: Any, et: Any, record_id: int, **values: Any) -> None:
    actor = Actor.system()
    db.run(lambda c: records.update_record(c, et, record_id, values, actor=actor, expected_version=None))


def create(db: Any, et: Any, **values: Any) -> int:
    return db.run(lambda c: records.create_record(c, et, values, actor=Actor.system())).id
