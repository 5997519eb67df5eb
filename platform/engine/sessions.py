"""Sign-in sessions kept in the database, so signing out (or an admin deactivating a
user) ends them everywhere, and idle and absolute timeouts hold on every worker.

The browser only ever holds the random token; `fd_sessions.id` is its SHA-256, so a copy
of the table cannot be replayed as cookies. Checking a session is a read (`check_session`);
the write that refreshes the idle clock happens at most once a minute (`touch_session`),
so an ordinary page view does not take SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models

TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta = dt.timedelta(hours=2)
    absolute: dt.timedelta = dt.timedelta(hours=12)


@dataclass(frozen=True)
class SessionCheck:
    """What `check_session` found. `user_id` is set only for a live session; `expired` means
    a row exists but must be ended (timed out, or its user was deactivated)."""

    user_id: int | None
    expired: bool = False
    needs_touch: bool = False


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or clock.now()


def start_session(conn: Connection, user_id: int, *, ip: str | None, user_agent: str | None, now: dt.datetime | None = None) -> str:
    """A new random session token for `user_id` (the cookie gets the token, never the row id)."""
    now = _now(now)
    token = secrets.token_urlsafe(32)
    conn.execute(
        models.login_sessions.insert().values(
            id=_key(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:255],
        )
    )
    return token


_CHECK = (
    sa.select(
        models.login_sessions.c.user_id, models.login_sessions.c.created_at, models.login_sessions.c.last_seen_at, models.users.c.is_active
    )
    .join(models.users, models.users.c.id == models.login_sessions.c.user_id)
    .where(models.login_sessions.c.id == sa.bindparam("key"))
)


def check_session(conn: Connection, token: str, timeouts: Timeouts, now: dt.datetime | None = None) -> SessionCheck:
    """Read-only: is the session behind `token` live, timed out, or unknown?"""
    now = _now(now)
    row = conn.execute(_CHECK, {"key": _key(token)}).first()
    if row is None:
        return SessionCheck(user_id=None)
    if not row.is_active or now - row.last_seen_at > timeouts.idle or now - row.created_at > timeouts.absolute:
        return SessionCheck(user_id=None, expired=True)
    return SessionCheck(user_id=int(row.user_id), needs_touch=now - row.last_seen_at > TOUCH_EVERY)


def touch_session(conn: Connection, token: str, now: dt.datetime | None = None) -> None:
    """Restart the idle clock of a session that is in use."""
    s = models.login_sessions
    conn.execute(s.update().where(s.c.id == _key(token)).values(last_seen_at=_now(now)))


def resume_session(conn: Connection, token: str, timeouts: Timeouts, now: dt.datetime | None = None) -> int | None:
    """The user of a live session, or None (and the session is ended) if it timed out or the
    user is no longer active. Refreshes the idle clock at most once a minute."""
    check = check_session(conn, token, timeouts, now)
    if check.expired:
        end_session(conn, token)
    elif check.needs_touch:
        touch_session(conn, token, now)
    return check.user_id


def end_session(conn: Connection, token: str) -> None:
    conn.execute(models.login_sessions.delete().where(models.login_sessions.c.id == _key(token)))


def end_user_sessions(conn: Connection, user_id: int, *, keep: str | None = None) -> None:
    """Sign `user_id` out everywhere, except the browser holding `keep` (an admin who changes
    their own password stays signed in where they did it)."""
    s = models.login_sessions
    where = s.c.user_id == user_id
    if keep is not None:
        where = where & (s.c.id != _key(keep))
    conn.execute(s.delete().where(where))


def count_user_sessions(conn: Connection, user_id: int) -> int:
    s = models.login_sessions
    return int(conn.execute(sa.select(sa.func.count()).select_from(s).where(s.c.user_id == user_id)).scalar_one())


def purge_expired(conn: Connection, timeouts: Timeouts, now: dt.datetime | None = None) -> int:
    now = _now(now)
    s = models.login_sessions
    result = conn.execute(s.delete().where((s.c.last_seen_at < now - timeouts.idle) | (s.c.created_at < now - timeouts.absolute)))
    return int(result.rowcount or 0)
