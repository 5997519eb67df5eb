"""Following records: who watches a record, and telling them when it moves or is discussed.

A record's creator follows it from the start without a row (so creating a record writes
nothing more); a commenter starts following when they comment; anyone who may read a
record can follow or stop following it, and a row with `following` false keeps that
choice (the creator's too, and a later comment does not undo it). Watchers hear about
transitions and comments, never about their own, in the app and (unless they turned it
off in their profile) by mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import events, models, notifications
from flowdeck.engine.listening import entities
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import get_record
from flowdeck.engine.storage.tables import EntityTables, table_name

if TYPE_CHECKING:  # the registry's loader imports this module
    from flowdeck.engine.registry import Registry

W = models.watchers
NOTICE_KIND = "watching"


def _rows(conn: Connection, app: str, entity: str, record_id: int) -> dict[int, bool]:
    query = sa.select(W.c.user_id, W.c.following).where((W.c.app == app) & (W.c.entity == entity) & (W.c.record_id == record_id))
    return {row.user_id: bool(row.following) for row in conn.execute(query)}


def watcher_ids(conn: Connection, app: str, entity: str, record_id: int, created_by: int | None) -> list[int]:
    """Who follows the record: its creator unless they stopped, and everyone who chose to."""
    rows = _rows(conn, app, entity, record_id)
    found = [created_by] if created_by is not None and rows.get(created_by, True) else []
    return found + [user for user, following in rows.items() if following and user != created_by]


def set_following(conn: Connection, et: EntityTables, record_id: int, *, actor: Actor, following: bool) -> list[int]:
    """Follow or stop following a record the actor may read (Forbidden, NotFound otherwise);
    returns its watchers afterwards."""
    record = get_record(conn, et, record_id, actor=actor)
    app, entity = et.entity.app, et.entity.key
    where = (W.c.app == app) & (W.c.entity == entity) & (W.c.record_id == record_id) & (W.c.user_id == actor.user_id)
    if conn.execute(W.update().where(where).values(following=following)).rowcount == 0:
        conn.execute(W.insert().values(app=app, entity=entity, record_id=record_id, user_id=actor.user_id, following=following))
    return watcher_ids(conn, app, entity, record_id, record.created_by)


def _start_following(conn: Connection, event: events.Event) -> None:
    if event.actor_id is None or event.actor_id in _rows(conn, event.app, event.entity, event.record_id):
        return
    conn.execute(W.insert().values(app=event.app, entity=event.entity, record_id=event.record_id, user_id=event.actor_id, following=True))


def _created_by(conn: Connection, event: events.Event) -> tuple[int | None, str]:
    """The record's creator and title, read once (a comment's event carries no values)."""
    title = event.model.title or "id"
    table = sa.table(
        table_name(event.app, event.entity), sa.column("id"), sa.column("created_by"), *([sa.column(title)] if title != "id" else [])
    )
    row = conn.execute(sa.select(table.c.created_by, table.c[title]).where(table.c.id == event.record_id)).first()
    return (row[0], str(row[1] or f"#{event.record_id}")) if row is not None else (None, f"#{event.record_id}")


def _message(event: events.Event, title: str) -> Message | None:
    model = event.model
    if event.kind == "record.transitioned" and event.state_before != event.state_after and model.workflow is not None:
        state = model.workflow.state(event.state_after)
        return M("“%(title)s” moved to %(state)s", title=title, state=state.label if state is not None else event.state_after)
    if event.kind == "comment.added":
        return M("New comment on “%(title)s”: %(comment)s", title=title, comment=str(event.data.get("body", ""))[:300])
    return None


def _told_by_the_approval(conn: Connection, event: events.Event) -> list[int]:
    """A transition that ends an approval round already tells its requester ("Approved: …",
    "Rejected: …"): they are not told twice."""
    workflow = event.model.workflow
    transition = workflow.transition(event.transition) if workflow is not None and event.transition else None
    if transition is None or transition.approval is None:
        return []
    r = models.approval_requests
    where = (r.c.app == event.app) & (r.c.entity == event.entity) & (r.c.record_id == event.record_id) & (r.c.transition == transition.key)
    requester = conn.execute(sa.select(r.c.requester_id).where(where).order_by(r.c.id.desc()).limit(1)).scalar()
    return [requester] if requester is not None else []


def tell_watchers(conn: Connection, event: events.Event) -> None:
    """The listener: commenters start following; watchers hear of transitions and comments."""
    if event.model is None or event.kind not in TOLD:
        return
    if event.kind == "comment.added":
        _start_following(conn, event)
    created_by, title = _created_by(conn, event)
    message = _message(event, title)
    told = {event.actor_id, *_told_by_the_approval(conn, event)}
    audience = [u for u in watcher_ids(conn, event.app, event.entity, event.record_id, created_by) if u not in told]
    if message is None or not audience:
        return
    key = f"watch:{event.app}:{event.entity}:{event.record_id}:{event.kind}:{event.data.get('comment_id') or event.at.isoformat()}"
    notifications.notify(
        conn, audience, kind=NOTICE_KIND, message=message, app=event.app, entity=event.entity, record_id=event.record_id,
        actor_id=event.actor_id, dedupe=key,
    )  # fmt: skip


def following_state(conn: Connection, app: str, entity: str, record_id: int, user_id: int, created_by: int | None) -> dict[str, Any]:
    """What the follow button shows: whether `user_id` follows and how many do."""
    ids = watcher_ids(conn, app, entity, record_id, created_by)
    return {"following": user_id in ids, "count": len(ids)}


TOLD = ("record.transitioned", "comment.added")


def interest(conn: Connection, registry: Registry) -> Iterable[tuple[str, str, str]]:
    """Transitions and comments of every entity (who watches is per record)."""
    return [(app, key, kind) for app, key, _ in entities(registry) for kind in TOLD]


events.subscribe(tell_watchers, interest=interest)
