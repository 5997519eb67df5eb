"""What a data move leaves on each record it changes: a history entry (action "migrated",
the system's message saying why, worded in the reader's language) and a new version, so a
form opened before the change sees a conflict instead of writing over it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.messages import Message

BATCH = 500


def now() -> dt.datetime:
    return clock.now()


def chunks(items: list[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_moves(
    conn: Connection,
    app: str,
    entity: str,
    rows: list[tuple[int, list[dict[str, Any]]]],
    actor_id: int | None,
    message: Message,
    at: dt.datetime,
) -> None:
    """One history entry ("migrated") per record changed by a data move."""
    said = message.to_json()
    for chunk in chunks(rows):
        conn.execute(
            models.history.insert(),
            [
                {
                    "app": app,
                    "entity": entity,
                    "record_id": rid,
                    "actor_id": actor_id,
                    "at": at,
                    "action": "migrated",
                    "transition": None,
                    "changes": changes,
                    "comment": None,
                    "message": said,
                }
                for rid, changes in chunk
            ],
        )


def touch(conn: Connection, table: sa.Table, ids: list[int], actor_id: int | None, at: dt.datetime) -> None:
    """A record changed by a data move gets a new version."""
    for chunk in chunks(ids):
        conn.execute(table.update().where(table.c.id.in_(chunk)).values(version=table.c.version + 1, updated_at=at, updated_by=actor_id))
