"""How a user's notification mail is delivered: immediately, in a daily digest, or not at
all, and the quiet hours during which no mail goes to them.

The in-app notification is always stored; this module only decides when its mail goes.
- `off`: no mail (`fd_users.mail_notifications` false, as before).
- `immediate`: one mail per notification, as it happens; during quiet hours (a daily window
  such as 22:00-08:00 and, if chosen, all of Saturday and Sunday, in the user's time zone)
  the mail is held and one `mail.held` job, armed for the end of the quiet period with a
  key per user and end (`mailheld:{user}:{end}`), sends one mail gathering what came in
  and is still unread. A second notification in the same night arms nothing new.
- `digest`: no mail per notification; one `mail.digest` job armed for the next digest
  moment (`digest:{user}:{moment}`) sends the day's unread notifications in one mail. The
  digest goes at the moment the user chose, even inside their quiet hours: they asked for it.

Times are minutes after local midnight; the zone is the user's or the instance's
(`clock.zone()`). Moments at a DST gap or overlap resolve the way `zoneinfo` does (fold 0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.timers import arm, stamp

P = models.mail_prefs
DELIVERIES = ("immediate", "digest", "off")
DIGEST_JOB = "mail.digest"
HELD_JOB = "mail.held"
DEFAULT_DIGEST_AT = 18 * 60


@dataclass(frozen=True)
class MailPrefs:
    """One user's choice. `delivery` is one of DELIVERIES; times are minutes after midnight."""

    delivery: str = "immediate"
    digest_at: int = DEFAULT_DIGEST_AT
    quiet_from: int | None = None
    quiet_to: int | None = None
    quiet_weekends: bool = False
    time_zone: str | None = None

    def zone(self) -> ZoneInfo:
        if self.time_zone:
            try:
                return ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                pass
        return clock.zone()

    @property
    def has_quiet_hours(self) -> bool:
        return self.quiet_weekends or (self.quiet_from is not None and self.quiet_to is not None and self.quiet_from != self.quiet_to)


PREF_COLUMNS = (P.c.delivery, P.c.digest_at, P.c.quiet_from, P.c.quiet_to, P.c.quiet_weekends, P.c.time_zone)


def from_row(row: Any) -> MailPrefs:
    """The choice from a row with `mail_notifications` and PREF_COLUMNS (outer-joined: a user
    without a prefs row has None in them)."""
    if not row.mail_notifications:
        return MailPrefs(delivery="off") if row.delivery is None else _stored(row, "off")
    return MailPrefs() if row.delivery is None else _stored(row, row.delivery)


def _stored(row: Any, delivery: str) -> MailPrefs:
    return MailPrefs(delivery, row.digest_at, row.quiet_from, row.quiet_to, bool(row.quiet_weekends), row.time_zone)


def load(conn: Connection, user_id: int) -> MailPrefs:
    """The user's choice (defaults when they never changed it)."""
    u = models.users
    row = conn.execute(
        sa.select(u.c.mail_notifications, *PREF_COLUMNS).select_from(u.outerjoin(P, P.c.user_id == u.c.id)).where(u.c.id == user_id)
    ).first()
    return MailPrefs(delivery="off") if row is None else from_row(row)


def parse_time(text: str | None) -> int | None:
    """`HH:MM` as minutes after midnight; None when empty or not a time."""
    try:
        hours, minutes = (text or "").strip().split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        return None
    return value if 0 <= int(hours) < 24 and 0 <= int(minutes) < 60 else None


def hhmm(minutes: int | None) -> str:
    """Minutes after midnight as `HH:MM`; empty for none or a refused one (the form shows it empty)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if minutes is not None and 0 <= minutes < 24 * 60 else ""


def zone_names() -> list[str]:
    return sorted(available_timezones())


def check(prefs: MailPrefs) -> dict[str, list[Any]]:
    """What is wrong with a choice, per form field (messages)."""
    errors: dict[str, list[Any]] = {}
    if prefs.delivery not in DELIVERIES:
        errors["delivery"] = [M("choose immediately, a daily digest or no mail")]
    if not 0 <= prefs.digest_at < 24 * 60:
        errors["digest_at"] = [M("must be a time of day (HH:MM)")]
    for key in ("quiet_from", "quiet_to"):
        value = getattr(prefs, key)
        if value is not None and not 0 <= value < 24 * 60:
            errors[key] = [M("must be a time of day (HH:MM)")]
    if not errors.keys() & {"quiet_from", "quiet_to"}:
        if (prefs.quiet_from is None) != (prefs.quiet_to is None):
            errors["quiet_to" if prefs.quiet_to is None else "quiet_from"] = [M("quiet hours need a start and an end")]
        elif prefs.quiet_from is not None and prefs.quiet_from == prefs.quiet_to:
            errors["quiet_to"] = [M("quiet hours must end at another time than they start")]
    if prefs.time_zone and prefs.time_zone not in available_timezones():
        errors["time_zone"] = [M("is not a known time zone")]
    return errors


def save(conn: Connection, user_id: int, prefs: MailPrefs, *, now: dt.datetime | None = None) -> MailPrefs:
    """Store the user's choice and arm their next digest (a changed time arms the new moment;
    the job for the old one finds the time moved and does nothing). Raises RecordInvalid."""
    errors = check(prefs)
    if errors:
        raise RecordInvalid(errors)
    now = now or clock.now()
    conn.execute(models.users.update().where(models.users.c.id == user_id).values(mail_notifications=prefs.delivery != "off"))
    kept = conn.execute(sa.select(P.c.delivery).where(P.c.user_id == user_id)).scalar()
    values = {
        "delivery": prefs.delivery if prefs.delivery != "off" else (kept or "immediate"),
        "digest_at": prefs.digest_at,
        "quiet_from": prefs.quiet_from,
        "quiet_to": prefs.quiet_to,
        "quiet_weekends": prefs.quiet_weekends,
        "time_zone": prefs.time_zone or None,
        "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(P).values(user_id=user_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))
    if prefs.delivery == "digest":
        arm_digest(conn, user_id, prefs, after=now)
    return prefs


def local_moment(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """`minutes` after midnight of the local `day`, as an aware UTC moment."""
    local = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(dt.UTC)


def next_digest(prefs: MailPrefs, after: dt.datetime) -> dt.datetime:
    """The first digest moment strictly after `after`."""
    zone = prefs.zone()
    day = after.astimezone(zone).date()
    for offset in range(3):
        moment = local_moment(day + dt.timedelta(days=offset), prefs.digest_at, zone)
        if moment > after:
            return moment
    raise AssertionError("a digest moment within three days")  # a daily time always falls in the next two days


def digest_day(prefs: MailPrefs, moment: dt.datetime) -> dt.date:
    """The local day a digest moment belongs to (the lock's day)."""
    return moment.astimezone(prefs.zone()).date()


def digest_key(user_id: int, moment: dt.datetime) -> str:
    return f"digest:{user_id}:{stamp(moment)}"


def arm_digest(conn: Connection, user_id: int, prefs: MailPrefs, *, after: dt.datetime) -> dt.datetime:
    """Arm the user's next digest after `after` (a no-op when armed already); its moment."""
    moment = next_digest(prefs, after)
    arm(conn, DIGEST_JOB, [(digest_key(user_id, moment), {"user": user_id, "at": moment.isoformat()}, moment)])
    return moment


# -- quiet hours -------------------------------------------------------------------------------


def _quiet_at(prefs: MailPrefs, local: dt.datetime) -> bool:
    if prefs.quiet_weekends and local.weekday() >= 5:
        return True
    start, end = prefs.quiet_from, prefs.quiet_to
    if start is None or end is None or start == end:
        return False
    minute = local.hour * 60 + local.minute
    return start <= minute < end if start < end else minute >= start or minute < end


def _boundaries(prefs: MailPrefs, around: dt.datetime) -> list[dt.datetime]:
    """Every moment near `around` where being quiet can change: local midnights and the
    quiet window's two ends, five days either side (the longest quiet stretch, Friday night
    to Monday morning, is shorter)."""
    zone = prefs.zone()
    day = around.astimezone(zone).date()
    marks = {0} | {m for m in (prefs.quiet_from, prefs.quiet_to) if m is not None}
    return sorted({local_moment(day + dt.timedelta(days=d), m, zone) for d in range(-5, 6) for m in marks})


def quiet_window(prefs: MailPrefs, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The quiet period `now` falls in, (start, end), or None when mail may go now."""
    if not prefs.has_quiet_hours:
        return None
    zone = prefs.zone()
    if not _quiet_at(prefs, now.astimezone(zone)):
        return None
    marks = _boundaries(prefs, now)
    later = [m for m in marks if m > now]
    end = later[-1]
    for mark in later:
        if not _quiet_at(prefs, mark.astimezone(zone)):
            end = mark
            break
    start = marks[0]
    for mark in reversed([m for m in marks if m <= now]):
        if not _quiet_at(prefs, (mark - dt.timedelta(minutes=1)).astimezone(zone)):
            start = mark
            break
    return start, end


def hold_key(user_id: int, end: dt.datetime) -> str:
    return f"mailheld:{user_id}:{stamp(end)}"


def route(conn: Connection, user_id: int, notice_id: int, prefs: MailPrefs, *, now: dt.datetime) -> str:
    """Decide the mail of a new notification (in its transaction): `immediate` (its own mail
    job queued), `held` (one gathering job armed for the end of the quiet period), `digest`
    (the daily digest will list it) or `off`."""
    from flowdeck.engine.jobs.queue import enqueue
    from flowdeck.engine.notifications import MAIL_JOB

    if prefs.delivery == "off":
        return "off"
    if prefs.delivery == "digest":
        arm_digest(conn, user_id, prefs, after=now)  # keyed: a no-op while the next one is armed; re-arms a lost one
        return "digest"
    window = quiet_window(prefs, now)
    if window is None:
        enqueue(conn, MAIL_JOB, {"notification": notice_id}, dedupe_key=f"mail:{notice_id}")
        return "immediate"
    start, end = window
    arm(conn, HELD_JOB, [(hold_key(user_id, end), {"user": user_id, "since": start.isoformat(), "until": end.isoformat()}, end)])
    return "held"
