"""The audit trail: one entry per change, with field-level before and after.

An entry keeps what the system says about the change (`message`, a `Message` stored as JSON
and worded in the reader's language when shown) apart from what the person wrote
(`comment`, kept as typed). Entries written before messages were data, and not recognised
by migration 0006, have their whole English text in `comment`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, events, models
from flowdeck.engine.messages import M, Message


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
    """The person's own words, as typed."""
    message: Message | None = None
    """What the system says about the change (the step decided, why it was escalated...)."""


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
    message: Message | None = None,
    comment: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Write one entry. `message` is the system's words, `comment` the person's. A change an
    automation makes says so ("by automation X (run #n)") when no other message is given."""
    cause = events.current_cause()
    if message is None and cause is not None and cause.message is not None:
        message = cause.message
    elif message is None and cause is not None and cause.kind == "automation":
        message = M("by automation “%(rule)s” (run #%(run)s)", rule=cause.key, run=cause.run_id)
    conn.execute(
        _INSERT,
        {
            "app": app,
            "entity": entity,
            "record_id": record_id,
            "actor_id": actor_id,
            "at": at or clock.now(),
            "action": action,
            "transition": transition,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in changes],
            "comment": comment,
            "message": message.to_json() if message is not None else None,
        },
    )


_h = models.history
_INSERT = _h.insert()
_ENTRIES = (
    sa.select(_h.c.id, _h.c.actor_id, _h.c.at, _h.c.action, _h.c.transition, _h.c.changes, _h.c.comment, _h.c.message)
    .where((_h.c.app == sa.bindparam("app")) & (_h.c.entity == sa.bindparam("entity")) & (_h.c.record_id == sa.bindparam("record_id")))
    .order_by(_h.c.id)
)


def list_entries(conn: Connection, app: str, entity: str, record_id: int) -> list[Entry]:
    rows = conn.execute(_ENTRIES, {"app": app, "entity": entity, "record_id": record_id})
    return [Entry(*row[:7], Message.from_json(row[7]) if row[7] else None) for row in rows]


def renamed_keys(conn: Connection, app: str, entity: str) -> dict[str, str]:
    """Old field key -> the key it has now, from the `was` of every document the app was
    applied with (oldest first), so a key renamed twice (`a` -> `b` -> `c`) still finds its
    field after the document dropped the older `was`. History keeps field keys; this is
    what tells the record page which field an old entry's key is. Read only when an entry
    names a key the entity no longer has."""
    v = models.app_versions
    forward: dict[str, str] = {}
    for (document,) in conn.execute(sa.select(v.c.document).where(v.c.app == app).order_by(v.c.version)):
        fields = ((document or {}).get("entities") or {}).get(entity, {}).get("fields") or {}
        for key, spec in fields.items():
            was = spec.get("was") if isinstance(spec, dict) else None
            if isinstance(was, str) and was != key:
                forward[was] = key
    out: dict[str, str] = {}
    for old in forward:
        key, seen = old, {old}
        while key in forward and forward[key] not in seen:
            key = forward[key]
            seen.add(key)
        out[old] = key
    return out
