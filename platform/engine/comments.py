"""Comments on records, and `@username` mentions that notify the people named.

A browser that submits twice (a double click, a resend after a slow answer) must not post
twice or notify twice. Comments are therefore written with the record row locked, and a
comment whose author, record and text equal one written in the last `DEDUPE_SECONDS` is
answered with that earlier comment instead of a new one. Each notification carries the
dedupe key `mention:<comment id>:<user id>` (`notifications.notify`), which the database
keeps unique, so one comment never notifies a person twice however it is retried.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, events, models, notifications, users
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, can, require
from flowdeck.engine.records import fetch_record
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.textinput import controls_refusal, has_controls

DEDUPE_SECONDS = 10
MAX_BODY = 10_000
EXCERPT = 140
# Usernames as `engine.users` allows them; a sentence's final dot or dash is not part of one.
MENTION = re.compile(r"(?<![\w@.])@([a-z0-9][a-z0-9._-]{0,58}[a-z0-9_])", re.IGNORECASE)


@dataclass(frozen=True)
class Comment:
    id: int
    author_id: int | None
    body: str
    created_at: dt.datetime


def mentioned_names(body: str) -> list[str]:
    """Usernames mentioned in `body`, lowercased, each once, in order of appearance."""
    return list(dict.fromkeys(match.group(1).lower() for match in MENTION.finditer(body)))


_c = models.comments
_LIST = (
    sa.select(_c.c.id, _c.c.author_id, _c.c.body, _c.c.created_at)
    .where((_c.c.app == sa.bindparam("app")) & (_c.c.entity == sa.bindparam("entity")) & (_c.c.record_id == sa.bindparam("record_id")))
    .order_by(_c.c.id)
)


def list_comments(conn: Connection, app: str, entity: str, record_id: int) -> list[Comment]:
    rows = conn.execute(_LIST, {"app": app, "entity": entity, "record_id": record_id})
    return [Comment(*row) for row in rows]


def add_comment(conn: Connection, et: EntityTables, record_id: int, body: str, *, actor: Actor, now: dt.datetime | None = None) -> Comment:
    """Post a comment (or return the same one posted moments ago) and notify each mentioned
    user who may read the record. Commenting needs the update permission.

    Raises Forbidden, NotFound (no such record) or RecordInvalid (`body`: empty or too long).
    """
    entity = et.entity
    require(actor, entity, "update")
    text = body.strip()
    if not text:
        raise RecordInvalid({"body": [M("is required")]})
    if has_controls(text, multiline=True):
        raise RecordInvalid({"body": [controls_refusal()]})
    if len(text) > MAX_BODY:
        raise RecordInvalid({"body": [M("must be at most %(max)s characters (got %(got)s)", max=MAX_BODY, got=len(text))]})
    now = now or clock.now()
    fetch_record(conn, et, record_id, for_update=True)
    earlier = _recent_same(conn, et, record_id, actor.user_id, text, now)
    if earlier is not None:
        return earlier
    c = models.comments
    comment_id = int(
        conn.execute(
            c.insert().values(app=entity.app, entity=entity.key, record_id=record_id, author_id=actor.user_id, body=text, created_at=now)
        ).inserted_primary_key[0]
    )
    comment = Comment(comment_id, actor.user_id, text, now)
    _notify_mentions(conn, et, record_id, comment, actor)
    events.emit(
        conn,
        events.Event(
            "comment.added",
            entity.app,
            entity.key,
            record_id,
            actor.user_id,
            now,
            data={"comment_id": comment_id, "body": text},
            model=entity,
        ),
    )
    return comment


def _recent_same(conn: Connection, et: EntityTables, record_id: int, author_id: int | None, text: str, now: dt.datetime) -> Comment | None:
    c = models.comments
    author = c.c.author_id.is_(None) if author_id is None else c.c.author_id == author_id
    row = conn.execute(
        sa.select(c.c.id, c.c.author_id, c.c.body, c.c.created_at)
        .where(
            (c.c.app == et.entity.app)
            & (c.c.entity == et.entity.key)
            & (c.c.record_id == record_id)
            & author
            & (c.c.created_at >= now - dt.timedelta(seconds=DEDUPE_SECONDS))
        )
        .order_by(c.c.id.desc())
        .limit(20)
    ).all()
    return next((Comment(*r) for r in row if r.body == text), None)


def _notify_mentions(conn: Connection, et: EntityTables, record_id: int, comment: Comment, actor: Actor) -> None:
    names = mentioned_names(comment.body)
    if not names:
        return
    u = models.users
    found = conn.execute(sa.select(u.c.id).where(u.c.username.in_(names) & u.c.is_active.is_(True))).scalars().all()
    readers = [uid for uid in found if uid != actor.user_id and can(users.actor_for(conn, uid), et.entity, "read")]
    notifications.notify(
        conn,
        readers,
        kind="mention",
        message=mention_message(actor.username, et, record_id, comment.body),
        app=et.entity.app,
        entity=et.entity.key,
        record_id=record_id,
        actor_id=actor.user_id,
        dedupe=f"mention:{comment.id}",
    )


def mention_message(username: str, et: EntityTables, record_id: int, body: str) -> Message:
    """What a mentioned person is told: who, where, and the start of the comment (the
    commenter's own words, shown as written)."""
    excerpt = body if len(body) <= EXCERPT else body[: EXCERPT - 1] + "…"
    return M(
        "%(user)s mentioned you on %(entity)s #%(id)s: %(excerpt)s", user=username, entity=et.entity.label, id=record_id, excerpt=excerpt
    )


def users_named(conn: Connection, bodies: Iterable[str]) -> dict[str, users.UserInfo]:
    """The users mentioned anywhere in `bodies`, by lowercase username (one query)."""
    names = {name for body in bodies for name in mentioned_names(body)}
    if not names:
        return {}
    return {info.username: info for info in _users_by_name(conn, names)}


def _users_by_name(conn: Connection, names: set[str]) -> list[users.UserInfo]:
    u = models.users
    columns = (u.c.id, u.c.username, u.c.display_name, u.c.email, u.c.is_admin, u.c.is_active, u.c.locale)
    return [users.UserInfo(*row) for row in conn.execute(sa.select(*columns).where(u.c.username.in_(names)))]
