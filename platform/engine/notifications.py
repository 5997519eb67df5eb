"""In-app notifications, and the mail that copies them when SMTP is configured.

A notification carries a `dedupe_key` where its cause could repeat (a double-clicked
decision, a retried request): the unique key makes the second insert a no-op, so each
cause notifies each recipient once. Each notification of a user with an email address
decides its mail in the same transaction (`engine/mailprefs.py`: a mail job now, one mail
gathering what came in during the user's quiet hours, their daily digest, or none when they
turned mail off), so a rolled-back action never sends mail and a mail server that is down
only delays it (the job is retried).

What a notification says is a `Message` (stored as JSON), worded when it is read: on the
notifications page in the reader's language, in mail in the recipient's (`users.locale`).
The engine does not know the catalogs: whoever sends mail passes a translator factory
(`flowdeck.catalogs.translator`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, mailprefs, models
from flowdeck.engine.messages import ENGLISH, Message, Translator, render
from flowdeck.engine.smtp import open_smtp

_N = models.notifications
MAIL_JOB = "mail.notification"
"""The job kind that mails one notification (`engine/jobs/mail.py`), enqueued with it."""


@dataclass(frozen=True)
class Notice:
    id: int
    kind: str
    app: str | None
    entity: str | None
    record_id: int | None
    actor_id: int | None
    message: Message | str
    """A `Message`; the text as it was stored for notifications made before messages were data."""
    created_at: dt.datetime
    read_at: dt.datetime | None


def _said(message_json: Any, text: str | None) -> Message | str:
    return Message.from_json(message_json) if message_json else (text or "")


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
    """Notify each user once; returns how many notifications were created. `message` is a
    `Message`; a `str` (callers not converted yet) is stored as text and shown as it is."""
    said = {"message": None, "message_json": message.to_json()} if isinstance(message, Message) else {"message": message[:2000]}
    created = 0
    moment = clock.now()
    for user_id in dict.fromkeys(u for u in user_ids if u is not None):
        key = f"{dedupe}:{user_id}"[:200] if dedupe else None
        if key is not None and conn.execute(sa.select(_N.c.id).where(_N.c.dedupe_key == key)).first() is not None:
            continue
        notice_id = conn.execute(
            _N.insert()
            .values(
                user_id=user_id,
                kind=kind,
                app=app,
                entity=entity,
                record_id=record_id,
                actor_id=actor_id,
                dedupe_key=key,
                created_at=moment,
                **said,
            )
            .returning(_N.c.id)
        ).scalar_one()
        recipient = conn.execute(_RECIPIENT, {"user_id": user_id}).first()
        if recipient is not None and recipient.email and recipient.mail_notifications:
            mailprefs.route(conn, user_id, notice_id, mailprefs.from_row(recipient), now=moment)
        created += 1
    return created


_U = models.users
_RECIPIENT = (
    sa.select(_U.c.email, _U.c.mail_notifications, *mailprefs.PREF_COLUMNS)
    .select_from(_U.outerjoin(mailprefs.P, mailprefs.P.c.user_id == _U.c.id))
    .where(_U.c.id == sa.bindparam("user_id"))
)
"""Where and how a notification's mail goes (built once)."""

_LIST = sa.select(
    _N.c.id, _N.c.kind, _N.c.app, _N.c.entity, _N.c.record_id, _N.c.actor_id, _N.c.message_json, _N.c.message, _N.c.created_at, _N.c.read_at
)


def list_notifications(conn: Connection, user_id: int, *, limit: int = 50) -> list[Notice]:
    rows = conn.execute(_LIST.where(_N.c.user_id == user_id).order_by(_N.c.id.desc()).limit(limit))
    return [Notice(*row[:6], _said(row[6], row[7]), *row[8:]) for row in rows]


UNREAD_COUNT = sa.select(sa.func.count()).where((_N.c.user_id == sa.bindparam("user_id")) & _N.c.read_at.is_(None))
"""How many notifications of `:user_id` are unread (the top bar's badge; built once)."""


def unread_count(conn: Connection, user_id: int) -> int:
    return int(conn.execute(UNREAD_COUNT, {"user_id": user_id}).scalar() or 0)


def mark_read(conn: Connection, user_id: int, ids: Iterable[int] | None = None) -> None:
    statement = _N.update().where((_N.c.user_id == user_id) & _N.c.read_at.is_(None))
    if ids is not None:
        statement = statement.where(_N.c.id.in_(list(ids)))
    conn.execute(statement.values(read_at=clock.now()))


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "flowdeck@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0
    ssl: bool = False
    cafile: str | None = None


def english(language: str) -> Translator:
    """The translator factory of an instance without catalogs: English for everyone."""
    return ENGLISH


def send_pending_mail(
    conn: Connection,
    smtp: SmtpSettings,
    *,
    base_url: str = "",
    limit: int = 100,
    translator: Callable[[str], Translator] = english,
    language: str = "en",
) -> int:
    """Mail unsent notifications of the last day to users with an email address; returns
    the number sent. Each is marked before sending, inside the caller's transaction. Each
    mail is worded in its recipient's language (`users.locale`, else `language`, the
    instance's), with the catalog `translator(language)` gives."""
    since = clock.now() - dt.timedelta(days=1)
    u = models.users
    rows = conn.execute(
        sa.select(*MAIL_COLUMNS)
        .join(u, u.c.id == _N.c.user_id)
        .where(_N.c.emailed_at.is_(None) & _N.c.created_at.is_not(None) & (_N.c.created_at >= since) & u.c.email.is_not(None))
        .order_by(_N.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_N)
    ).all()
    if not rows:
        return 0
    now = clock.now()
    conn.execute(_N.update().where(_N.c.id.in_([r.id for r in rows])).values(emailed_at=now))
    with open_smtp(smtp) as client:
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        for row in rows:
            client.send_message(compose_mail(row, smtp, base_url=base_url, translator=translator(row.locale or language)))
    return len(rows)


MAIL_COLUMNS = (
    _N.c.id,
    _N.c.message_json,
    _N.c.message,
    _N.c.app,
    _N.c.entity,
    _N.c.record_id,
    models.users.c.email,
    models.users.c.locale,
)
"""What a notification's mail is made of (the rows `compose_mail` takes)."""


def compose_mail(row: Any, smtp: SmtpSettings, *, base_url: str, translator: Translator) -> EmailMessage:
    """The mail copying one notification (a row of MAIL_COLUMNS), with a link to its record."""
    text = render(_said(row.message_json, row.message), translator)
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = row.email
    message["Subject"] = "[Flowdeck] " + (text.splitlines() or [""])[0][:150]
    link = f"\n\n{base_url}/a/{row.app}/{row.entity}/{row.record_id}" if base_url and row.record_id else ""
    message.set_content(text + link)
    return message
