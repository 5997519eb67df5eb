"""Self-service passwords: a user changes their own; an admin resets someone's with a
temporary password (which must be changed at the next sign-in) or a one-time link.

A reset link's token is shown once (in the mail or to the admin); only its SHA-256 is kept,
it works once and for `LINK_HOURS`. Every change ends the user's other sessions and is
written to the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import audit, clock, models, sessions, users
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor

LINK_HOURS = 24
_U = models.users
_R = models.password_resets


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _policy(password: str, field: str = "password") -> None:
    errors: dict[str, list[str]] = {}
    users._check_password(password, errors)
    if errors:
        raise RecordInvalid({field: errors["password"]})


def must_change_password(conn: Connection, user_id: int) -> bool:
    return bool(conn.execute(sa.select(_U.c.must_change_password).where(_U.c.id == user_id)).scalar())


def _set_password(conn: Connection, user_id: int, password: str, *, must_change: bool) -> None:
    conn.execute(
        _U.update().where(_U.c.id == user_id).values(password_hash=users.hash_password(password), must_change_password=must_change)
    )


def change_own_password(conn: Connection, actor: Actor, current: str, new: str, *, keep_session: str | None) -> None:
    """The signed-in user's new password, after the current one; other browsers are signed out."""
    assert actor.user_id is not None
    user = users.get_user(conn, actor.user_id)
    if users.authenticate(conn, user.username, current) is None:
        raise RecordInvalid({"current": [M("is not your current password")]})  # type: ignore[list-item, dict-item]
    _policy(new, "new")
    if new == current:
        raise RecordInvalid({"new": [M("must differ from the current password")]})  # type: ignore[list-item]
    _set_password(conn, user.id, new, must_change=False)
    sessions.end_user_sessions(conn, user.id, keep=keep_session)
    audit.record(conn, "password.changed", M("changed their own password"), actor=actor, target=f"user:{user.username}")


def set_temporary_password(conn: Connection, user_id: int, *, actor: Actor) -> str:
    """A random password for `user_id`, to be changed at their next sign-in (returned once,
    for the admin to pass on); their sessions end."""
    user = users.get_user(conn, user_id)
    password = secrets.token_urlsafe(9)
    _set_password(conn, user_id, password, must_change=True)
    sessions.end_user_sessions(conn, user_id, keep=None)
    audit.record(
        conn, "password.reset", M("set a temporary password for %(user)s", user=user.username), actor=actor, target=f"user:{user.username}"
    )
    return password


def start_reset(conn: Connection, user_id: int, *, actor: Actor, now: dt.datetime | None = None) -> str:
    """A one-time link token for `user_id` (earlier unused links of theirs stop working)."""
    now = now or clock.now()
    user = users.get_user(conn, user_id)
    conn.execute(_R.delete().where((_R.c.user_id == user_id) & _R.c.used_at.is_(None)))
    token = secrets.token_urlsafe(32)
    conn.execute(
        _R.insert().values(
            id=_digest(token), user_id=user_id, created_by=actor.user_id, created_at=now, expires_at=now + dt.timedelta(hours=LINK_HOURS)
        )
    )
    audit.record(
        conn, "password.reset", M("sent a password reset link to %(user)s", user=user.username), actor=actor, target=f"user:{user.username}"
    )
    return token


def reset_user(conn: Connection, token: str, now: dt.datetime | None = None) -> users.UserInfo | None:
    """The active user a live, unused link is for; None for anything else."""
    now = now or clock.now()
    row = conn.execute(
        sa.select(_R.c.user_id).where((_R.c.id == _digest(token)) & _R.c.used_at.is_(None) & (_R.c.expires_at > now))
    ).first()
    if row is None:
        return None
    user = users.get_user(conn, row.user_id)
    return user if user.is_active else None


def finish_reset(conn: Connection, token: str, password: str, now: dt.datetime | None = None) -> users.UserInfo | None:
    """Set the new password through a link (which is then used up); None if the link is not valid."""
    now = now or clock.now()
    user = reset_user(conn, token, now)
    if user is None:
        return None
    _policy(password)
    used = conn.execute(_R.update().where((_R.c.id == _digest(token)) & _R.c.used_at.is_(None)).values(used_at=now))
    if used.rowcount != 1:
        return None
    _set_password(conn, user.id, password, must_change=False)
    sessions.end_user_sessions(conn, user.id, keep=None)
    who = Actor(user_id=user.id, username=user.username)
    audit.record(conn, "password.changed", M("set a new password with a reset link"), actor=who, target=f"user:{user.username}")
    return user
