"""The job kind that mails one notification, in its recipient's language, with a link.

The notification row is marked `emailed_at` in the job's transaction before the mail goes
out: a mail server that refuses rolls the mark back and the job is retried with backoff; a
crash after the server accepted and before the commit can send it twice (at least once).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.messages import ENGLISH, Mp
from flowdeck.engine.notifications import MAIL_COLUMNS, MAIL_JOB, compose_mail
from flowdeck.engine.smtp import open_smtp

_N = models.notifications


def send_notification_mail(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    notice_id = payload.get("notification")
    if not isinstance(notice_id, int):
        raise PermanentError("the payload names no notification")
    query = sa.select(*MAIL_COLUMNS, _N.c.emailed_at).join(models.users, models.users.c.id == _N.c.user_id).where(_N.c.id == notice_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=_N)
    row = conn.execute(query).first()
    if row is None:
        return {"skipped": "notification_deleted"}
    if row.emailed_at is not None:
        return {"skipped": "already_mailed"}
    if not row.email:
        return {"skipped": "no_email_address"}
    smtp = context.settings.get("FLOWDECK_SMTP")
    if smtp is None:
        return {"skipped": "mail_off"}
    conn.execute(_N.update().where(_N.c.id == notice_id).values(emailed_at=context.now))
    language = row.locale or "en"
    translator = context.translator(language) if context.translator else ENGLISH
    message = compose_mail(row, smtp, base_url=context.settings.get("FLOWDECK_BASE_URL", ""), translator=translator)
    with open_smtp(smtp) as client:
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)
    return {"to": row.email}


register(JobKind(MAIL_JOB, Mp("a kind of job", "Notification mail"), send_notification_mail, max_attempts=8))
