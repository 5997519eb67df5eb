"""The audit trail: one entry per change, with field-level before and after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Entry:
    id: int
    actor_id: int | None
    at: dt.datetime
    action: str
    transition: str | None
    changes: list[dict[str, Any]]
    comment: str | None


def add_entry(
    conn: Connection,
    *,
    app: str,
    entity: str,
    record_id: int,
    actor_id: int | None,
    action: str,
    changes: Sequence[Change] = (),
    transition: str | None = None,
    comment: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    conn.execute(
        _INSERT,
        {
            "app": app,
            "entity": entity,
            "record_id": record_id,
            "actor_id": actor_id,
            "at": at or dt.datetime.now(dt.UTC),
            "action": action,
            "transition": transition,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes],
            "comment": comment,
        },
    )


_h = models.history
_INSERT = _h.insert()
_ENTRIES = (
    sa.select(_h.c.id, _h.c.actor_id, _h.c.at, _h.c.action, _h.c.transition, _h.c.changes, _h.c.comment)
    .where((_h.c.app == sa.bindparam("app")) & (_h.c.entity == sa.bindparam("entity")) & (_h.c.record_id == sa.bindparam("record_id")))
    .order_by(_h.c.id)
)


def list_entries(conn: Connection, app: str, entity: str, record_id: int) -> list[Entry]:
    rows = conn.execute(_ENTRIES, {"app": app, "entity": entity, "record_id": record_id})
    return [Entry(*row) for row in rows]
