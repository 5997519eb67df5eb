"""The mail that gathers several notifications: the daily digest (`mail.digest`) and the
mail held through quiet hours (`mail.held`), both in the recipient's language.

What they list: the user's notifications in the window that are still unread and not
mailed yet, and that the user may still read (the app and entity still exist, a role still
lets them read it, the record is still there). They are grouped by app and record, each
group with its link, and marked `emailed_at` in the job's transaction, so neither the
digest nor a late single mail job repeats them. Nothing to list sends nothing. Mailed once
when jobs race: on PostgreSQL the rows are read `FOR UPDATE SKIP LOCKED` (a row another
mail job is sending is its own), and the mark only takes rows still unmailed (`emailed_at
IS NULL ... RETURNING id`); the mail lists only the rows this job marked.

Exactly once per user and day: the digest job first inserts its `fd_digest_runs` row
(unique per user and local day) with `ON CONFLICT DO NOTHING`; a second job for the same
day, on any worker, inserts nothing and stops. The job arms the next digest in the same
transaction, after the later of its moment and now, so a tick after days of downtime sends
one digest and arms the next one ahead. A digest that still fails at the last attempt (the
mail server refuses, or gathering the list fails) is recorded `failed` in a savepoint's
rollback and the next one is armed all the same. A job whose moment no longer fits the
user's time or zone (the instance's zone changed) arms the moment that does; and each new
notification of a digest user arms the next digest too (a no-op while it is armed), so a
lost arm never stops a user's digests for good.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from babel import UnknownLocaleError
from babel.dates import format_skeleton
from sqlalchemy.engine import Connection

from flowdeck.engine import mailprefs, models
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.mailprefs import DIGEST_JOB, HELD_JOB, MailPrefs
from flowdeck.engine.messages import ENGLISH, M, Message, Mn, Mp, Translator, plain, render
from flowdeck.engine.notifications import MAIL_COLUMNS, SmtpSettings, compose_mail
from flowdeck.engine.permissions import Actor, can
from flowdeck.engine.registry import registry_for
from flowdeck.engine.smtp import open_smtp
from flowdeck.engine.timers import insert_once

_N = models.notifications
R = models.digest_runs
MAX_ATTEMPTS = 6
LOOK_BACK = dt.timedelta(days=7)
"""A digest lists at most this far back (a user who switched to digests after a long time)."""
_COLUMNS = (*MAIL_COLUMNS, _N.c.created_at)


def pending(conn: Connection, user_id: int, since: dt.datetime, until: dt.datetime) -> list[Any]:
    """The user's unread, unmailed notifications created in (since, until] that they may still read."""
    query = (
        sa.select(*_COLUMNS)
        .join(models.users, models.users.c.id == _N.c.user_id)
        .where((_N.c.user_id == user_id) & _N.c.read_at.is_(None) & _N.c.emailed_at.is_(None))
        .where((_N.c.created_at > since) & (_N.c.created_at <= until))
        .order_by(_N.c.id)
    )
    if conn.dialect.name == "postgresql":  # a row another mail job holds is its to send (SQLite writers queue)
        query = query.with_for_update(of=_N, skip_locked=True)
    rows = conn.execute(query).all()
    return readable(conn, user_id, rows) if rows else []


def readable(conn: Connection, user_id: int, rows: Sequence[Any]) -> list[Any]:
    """The rows about things the user may still read (an inactive user reads nothing)."""
    from flowdeck.engine.users import user_with_roles

    user, roles = user_with_roles(conn, user_id=user_id)
    if user is None or not user.is_active:
        return []
    actor = Actor(user_id=user.id, username=user.username, is_admin=user.is_admin, roles=roles)
    apps = registry_for(conn).apps
    kept = []
    for row in rows:
        if row.app is None:
            kept.append(row)
            continue
        tables = apps.get(row.app)
        if tables is None or not actor.in_app(row.app):
            continue
        if row.entity is None:
            kept.append(row)
            continue
        et = tables.entities.get(row.entity)
        if et is None or not can(actor, et.entity, "read"):
            continue
        if row.record_id is not None and conn.execute(sa.select(et.table.c.id).where(et.table.c.id == row.record_id)).first() is None:
            continue
        kept.append(row)
    return kept


def _heading(conn: Connection, row: Any) -> Message | str:
    if row.app is None:
        return M("Other notifications")
    tables = registry_for(conn).apps.get(row.app)
    app_label = tables.app.label if tables is not None else row.app
    et = tables.entities.get(row.entity) if tables is not None and row.entity else None
    if et is None:
        return plain(app_label)
    if row.record_id is None:
        return M("%(app)s · %(entity)s", app=app_label, entity=et.entity.label)
    return M("%(app)s · %(entity)s #%(id)s", app=app_label, entity=et.entity.label, id=row.record_id)


def listing(conn: Connection, rows: Sequence[Any], *, zone: Any, base_url: str, translator: Translator) -> str:
    """The body's list: one block per app and record (first come first), each notification
    with its local time (and day, when the rows span several), the record's link under the block."""
    groups: dict[tuple[Any, Any, Any], list[Any]] = {}
    for row in rows:
        groups.setdefault((row.app, row.entity, row.record_id), []).append(row)
    dated = len({row.created_at.astimezone(zone).date() for row in rows}) > 1
    blocks = []
    for (app, entity, record_id), members in groups.items():
        lines = [render(_heading(conn, members[0]), translator)]
        for row in members:
            said = Message.from_json(row.message_json) if row.message_json else (row.message or "")
            lines.append(f"  {_when(row.created_at.astimezone(zone), dated, translator.language)}  {render(said, translator)}")
        if base_url and record_id is not None:
            lines.append(f"  {base_url}/a/{app}/{entity}/{record_id}")
        elif base_url and app is not None:
            lines.append(f"  {base_url}/a/{app}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _when(local: dt.datetime, dated: bool, language: str) -> str:
    """A line's local time, after its day in the reader's language ("Sat, Dec 12", "12月12日周六")
    when the mail spans more than one day (a weekend's held mail, a digest after days)."""
    if not dated:
        return f"{local:%H:%M}"
    try:
        day = format_skeleton("MMMEd", local.date(), locale=(language or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        day = local.date().isoformat()
    return f"{day} {local:%H:%M}"


def compose_gathered(
    conn: Connection, rows: Sequence[Any], smtp: SmtpSettings, *, subject: Message, intro: Message, prefs: MailPrefs, base_url: str,
    translator: Translator,
) -> EmailMessage:  # fmt: skip
    """One mail listing `rows` (all of one recipient)."""
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = rows[0].email
    message["Subject"] = "[Flowdeck] " + render(subject, translator)
    body = [render(intro, translator), "", listing(conn, rows, zone=prefs.zone(), base_url=base_url, translator=translator), ""]
    settings = f"{base_url}/notifications" if base_url else "/notifications"
    body.append(render(M("Change how and when you get mail on your notifications page: %(link)s", link=settings), translator))
    message.set_content("\n".join(body))
    return message


def _send(smtp: SmtpSettings, message: EmailMessage) -> None:
    with open_smtp(smtp) as client:
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(message)


def _mark(conn: Connection, rows: Sequence[Any], now: dt.datetime) -> list[Any]:
    """Mark the rows mailed, each only if no other job mailed it meanwhile; the rows this job
    marked, the only ones its mail may list."""
    statement = _N.update().where(_N.c.id.in_([row.id for row in rows]) & _N.c.emailed_at.is_(None)).values(emailed_at=now)
    marked = set(conn.execute(statement.returning(_N.c.id)).scalars())
    return [row for row in rows if row.id in marked]


def _translator(context: JobContext, rows: Sequence[Any]) -> Translator:
    return context.translator(rows[0].locale or "en") if context.translator else ENGLISH


def _user(payload: dict[str, Any]) -> int:
    user_id = payload.get("user")
    if not isinstance(user_id, int):
        raise PermanentError("the payload names no user")
    return user_id


def _moment(payload: dict[str, Any], key: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(payload.get(key)))
    except ValueError as exc:
        raise PermanentError("the payload names no digest or quiet hours moment") from exc


# -- the daily digest ------------------------------------------------------------------------------


def _lock(conn: Connection, user_id: int, day: dt.date, now: dt.datetime, job_id: int) -> bool:
    values = {"user_id": user_id, "day": day, "status": "running", "notifications": 0, "covered_until": now, "job_id": job_id,
              "finished_at": now}  # fmt: skip
    return insert_once(conn, R, values, ("user_id", "day"))


def _since(conn: Connection, user_id: int, day: dt.date, at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """Where the listing starts: where the last digest's ended, else a day before its moment."""
    last = conn.execute(sa.select(sa.func.max(R.c.covered_until)).where((R.c.user_id == user_id) & (R.c.day != day))).scalar()
    return max(last or (at - dt.timedelta(days=1)), now - LOOK_BACK)


def _finish(conn: Connection, user_id: int, day: dt.date, status: str, count: int, *, covered_until: dt.datetime | None = None) -> None:
    """Record the run's outcome; a failed run covers only up to where it started (`covered_until`)."""
    values: dict[str, Any] = {"status": status, "notifications": count}
    if covered_until is not None:
        values["covered_until"] = covered_until
    conn.execute(R.update().where((R.c.user_id == user_id) & (R.c.day == day)).values(**values))


def run_digest(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one user's digest moment."""
    user_id, at = _user(payload), _moment(payload, "at")
    prefs = mailprefs.load(conn, user_id)
    if prefs.delivery != "digest":
        return {"skipped": "no_digest_chosen"}
    now = context.now
    if mailprefs.next_digest(prefs, at - dt.timedelta(minutes=1)) != at:
        # the time or the zone (the user's, or the instance's) moved: the moment now due is armed
        following = mailprefs.arm_digest(conn, user_id, prefs, after=max(now, at))
        return {"skipped": "time_changed", "next": following.isoformat()}
    following = mailprefs.arm_digest(conn, user_id, prefs, after=max(now, at))
    day = mailprefs.digest_day(prefs, at)
    if not _lock(conn, user_id, day, now, context.job_id):
        return {"skipped": "already_sent", "next": following.isoformat()}
    since = _since(conn, user_id, day, at, now)
    gathered: list[Any] = []
    try:
        with conn.begin_nested():  # a failure at the last attempt rolls back this, never the lock or the next arm
            status = _deliver(conn, user_id, since, prefs, context, gathered)
    except Exception as exc:
        if context.attempt < MAX_ATTEMPTS:
            raise  # rolled back whole (lock and next arm too); retried with backoff
        _finish(conn, user_id, day, "failed", len(gathered), covered_until=since)  # the next digest lists them again
        return {"failed": f"{type(exc).__name__}: {exc}"[:500], "next": following.isoformat()}
    _finish(conn, user_id, day, status, len(gathered))
    if status != "sent":
        return {"sent": 0, "next": following.isoformat()}
    return {"sent": len(gathered), "to": gathered[0].email, "next": following.isoformat()}


def _deliver(conn: Connection, user_id: int, since: dt.datetime, prefs: MailPrefs, context: JobContext, gathered: list[Any]) -> str:
    """Gather, mark and mail the digest (`gathered` gets its rows); its status."""
    now = context.now
    rows = pending(conn, user_id, since, now)
    smtp = context.settings.get("FLOWDECK_SMTP")
    if not rows or smtp is None or not rows[0].email:
        return "empty" if not rows else "mail_off"
    rows = _mark(conn, rows, now)
    if not rows:
        return "empty"
    gathered.extend(rows)
    translator = _translator(context, rows)
    subject = Mn("Your daily digest: %(num)s unread notification", "Your daily digest: %(num)s unread notifications", len(rows))
    intro = M("What happened since your last digest, grouped by record:")
    message = compose_gathered(
        conn, rows, smtp, subject=subject, intro=intro, prefs=prefs, base_url=context.settings.get("FLOWDECK_BASE_URL", ""),
        translator=translator,
    )  # fmt: skip
    _send(smtp, message)
    return "sent"


# -- mail held through quiet hours ---------------------------------------------------------------


def run_held(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job at the end of a user's quiet period: one mail with what came in meanwhile."""
    user_id, since, until = _user(payload), _moment(payload, "since"), _moment(payload, "until")
    prefs = mailprefs.load(conn, user_id)
    if prefs.delivery != "immediate":
        return {"skipped": f"delivery_{prefs.delivery}"}
    rows = pending(conn, user_id, since - dt.timedelta(microseconds=1), until)
    smtp = context.settings.get("FLOWDECK_SMTP")
    if not rows or not rows[0].email:
        return {"sent": 0}
    if smtp is None:
        return {"skipped": "mail_off"}
    rows = _mark(conn, rows, context.now)
    if not rows:
        return {"sent": 0}
    translator = _translator(context, rows)
    base_url = context.settings.get("FLOWDECK_BASE_URL", "")
    if len(rows) == 1:
        message = compose_mail(rows[0], smtp, base_url=base_url, translator=translator)
    else:
        subject = Mn("%(num)s notification during your quiet hours", "%(num)s notifications during your quiet hours", len(rows))
        intro = M("These came in during your quiet hours, grouped by record:")
        message = compose_gathered(
            conn, rows, smtp, subject=subject, intro=intro, prefs=prefs, base_url=base_url, translator=translator
        )  # fmt: skip
    _send(smtp, message)
    return {"sent": len(rows), "to": rows[0].email}


register(JobKind(DIGEST_JOB, Mp("a kind of job", "Daily digest mail"), run_digest, max_attempts=MAX_ATTEMPTS))
register(JobKind(HELD_JOB, Mp("a kind of job", "Mail held through quiet hours"), run_held, max_attempts=8))
