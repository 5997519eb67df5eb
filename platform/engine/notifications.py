"""In-app notifications, and the mail that copies them when SMTP is configured.

A notification carries a `dedupe_key` where its cause could repeat (a double-clicked
decision, a retried request): the unique key makes the second insert a no-op, so each
cause notifies each recipient once. Mail is sent after the transaction commits, from the
notifications not yet emailed, so a rolled-back action never sends mail.
"""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.messages import Message

_N = models.notifications


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    app: str | None
    entity: str | None
    record_id: int | None
    actor_id: int | None
    message: str
    created_at: dt.datetime
    read_at: dt.datetime | None


def notify(
    conn: Connection,
    user_ids: Iterable[int | None],
    *,
    kind: str,
    message: Message | str,
    app: str | None = None,
    entity: str | None = None,
    record_id: int | None = None,
    actor_id: int | None = None,
    dedupe: str | None = None,
) -> int:
    """Notify each user once; returns how many notifications were created."""
    created = 0
    for user_id in dict.fromkeys(u for u in user_ids if u is not None):
        key = f"{dedupe}:{user_id}"[:200] if dedupe else None
        if key is not None and conn.execute(sa.select(_N.c.id).where(_N.c.dedupe_key == key)).first() is not None:
            continue
        conn.execute(
            _N.insert().values(
                user_id=user_id,
                kind=kind,
                app=app,
                entity=entity,
                record_id=record_id,
                actor_id=actor_id,
                message=str(message)[:2000],
                dedupe_key=key,
            )
        )
        created += 1
    return created


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(_N.c.id, _N.c.kind, _N.c.app, _N.c.entity, _N.c.record_id, _N.c.actor_id, _N.c.message, _N.c.created_at, _N.c.read_at)


def list_notifications(conn: Connection, user_id: int, *, limit: int = 50) -> list[Notice]:
    rows = conn.execute(_select().where(_N.c.user_id == user_id).order_by(_N.c.id.desc()).limit(limit))
    return [Notice(*row) for row in rows]


UNREAD_COUNT = sa.select(sa.func.count()).where((_N.c.user_id == sa.bindparam("user_id")) & _N.c.read_at.is_(None))
"""How many notifications of `:user_id` are unread (the top bar's badge; built once)."""


def unread_count(conn: Connection, user_id: int) -> int:
    return int(conn.execute(UNREAD_COUNT, {"user_id": user_id}).scalar() or 0)


def mark_read(conn: Connection, user_id: int, ids: Iterable[int] | None = None) -> None:
    statement = _N.update().where((_N.c.user_id == user_id) & _N.c.read_at.is_(None))
    if ids is not None:
        statement = statement.where(_N.c.id.in_(list(ids)))
    conn.execute(statement.values(read_at=dt.datetime.now(dt.UTC)))


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "flowdeck@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


def send_pending_mail(conn: Connection, smtp: SmtpSettings, *, base_url: str = "", limit: int = 100) -> int:
    """Mail unsent notifications of the last day to users with an email address; returns
    the number sent. Each is marked before sending, inside the caller's transaction."""
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    u = models.users
    rows = conn.execute(
        sa.select(_N.c.id, _N.c.message, _N.c.app, _N.c.entity, _N.c.record_id, u.c.email)
        .join(u, u.c.id == _N.c.user_id)
        .where(_N.c.emailed_at.is_(None) & _N.c.created_at.is_not(None) & (_N.c.created_at >= since) & u.c.email.is_not(None))
        .order_by(_N.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_N)
    ).all()
    if not rows:
        return 0
    now = dt.datetime.now(dt.UTC)
    conn.execute(_N.update().where(_N.c.id.in_([r.id for r in rows])).values(emailed_at=now))
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        for row in rows:
            message = EmailMessage()
            message["From"] = smtp.sender
            message["To"] = row.email
            message["Subject"] = "[Flowdeck] " + row.message.splitlines()[0][:150]
            link = f"\n\n{base_url}/a/{row.app}/{row.entity}/{row.record_id}" if base_url and row.record_id else ""
            message.set_content(row.message + link)
            client.send_message(message)
    return len(rows)
