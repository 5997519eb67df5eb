"""Users and their roles per app. Passwords are hashed with Argon2 (argon2-cffi)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from flowdeck.engine import models, sessions
from flowdeck.engine.errors import NotFound, RecordInvalid
from flowdeck.engine.messages import M
from flowdeck.engine.paging import Paged, clamp
from flowdeck.engine.permissions import Actor
from flowdeck.engine.textinput import search_text

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,59}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 120

_hasher = PasswordHasher()


def set_hasher(hasher: PasswordHasher) -> None:
    """Tests use cheaper hashing parameters; production keeps argon2-cffi's defaults."""
    global _hasher
    _hasher = hasher


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    display_name: str
    email: str | None
    is_admin: bool
    is_active: bool
    locale: str | None


USER_COLUMNS = _COLUMNS = (
    models.users.c.id,
    models.users.c.username,
    models.users.c.display_name,
    models.users.c.email,
    models.users.c.is_admin,
    models.users.c.is_active,
    models.users.c.locale,
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_email(conn: Connection, email: str | None, *, user_id: int | None, errors: dict[str, list[str]]) -> str | None:
    """The normalised email (None when empty); problems go into `errors`."""
    email = (email or "").strip().lower() or None
    if email is None:
        return None
    u = models.users
    if len(email) > 254 or not _EMAIL.match(email):
        errors["email"] = ["is not a valid email address"]
    else:
        query = sa.select(u.c.id).where(u.c.email == email)
        if user_id is not None:
            query = query.where(u.c.id != user_id)
        if conn.execute(query).first():
            errors["email"] = [f'"{email}" is used by another user']
    return email


def _check_password(password: str | None, errors: dict[str, list[str]]) -> None:
    if password is not None and len(password) < MIN_PASSWORD:
        errors["password"] = [f"must be at least {MIN_PASSWORD} characters"]
    elif password is not None and len(password) > MAX_PASSWORD:
        errors["password"] = [f"must be at most {MAX_PASSWORD} characters"]


def _write_unique(conn: Connection, statement: sa.Executable) -> sa.CursorResult:
    """Run an insert/update whose username or email may have been taken by a concurrent
    transaction since we checked: the unique index then answers, as a field error."""
    try:
        with conn.begin_nested():
            return conn.execute(statement)
    except sa.exc.IntegrityError:
        raise RecordInvalid({"_record": ["the username or email was just taken by another user; try again"]}) from None


def create_user(
    conn: Connection,
    username: str,
    *,
    password: str | None,
    display_name: str | None = None,
    email: str | None = None,
    is_admin: bool = False,
    locale: str | None = None,
) -> int:
    """Validate everything, then insert; `RecordInvalid` lists every problem by field.
    `password=None` makes a user who cannot sign in with a password."""
    errors: dict[str, list[str]] = {}
    username = username.strip().lower()
    if not _USERNAME.match(username):
        errors["username"] = ["use 2-60 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"]
    elif conn.execute(sa.select(models.users.c.id).where(models.users.c.username == username)).first():
        errors["username"] = [f'"{username}" is taken']
    if display_name is not None and len(display_name.strip()) > MAX_DISPLAY_NAME:
        errors["display_name"] = [f"must be at most {MAX_DISPLAY_NAME} characters"]
    email = _check_email(conn, email, user_id=None, errors=errors)
    _check_password(password, errors)
    if errors:
        raise RecordInvalid(errors)
    result = _write_unique(
        conn,
        models.users.insert().values(
            username=username,
            display_name=(display_name or "").strip() or username,
            email=email,
            password_hash=hash_password(password) if password else None,
            is_admin=is_admin,
            is_active=True,
            locale=locale,
        ),
    )
    return int(result.inserted_primary_key[0])


def set_password(conn: Connection, user_id: int, password: str) -> None:
    """Set a new password. Callers that reset someone's password should also end their
    sessions (`update_user` does both)."""
    errors: dict[str, list[str]] = {}
    _check_password(password, errors)
    if errors:
        raise RecordInvalid(errors)
    conn.execute(models.users.update().where(models.users.c.id == user_id).values(password_hash=hash_password(password)))


def authenticate(conn: Connection, username: str, password: str) -> UserInfo | None:
    """The active user with this username and password, or None. Takes the same time for
    unknown users as for wrong passwords, so usernames cannot be probed by timing."""
    row = conn.execute(
        sa.select(*_COLUMNS, models.users.c.password_hash).where(models.users.c.username == username.strip().lower())
    ).first()
    stored = row.password_hash if row is not None and row.password_hash else None
    try:
        if stored is None:
            _hasher.verify(_DUMMY_HASH, password + "x")
            return None
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if not row.is_active:
        return None
    if _hasher.check_needs_rehash(stored):
        conn.execute(models.users.update().where(models.users.c.id == row.id).values(password_hash=hash_password(password)))
    return UserInfo(*row[:7])


_DUMMY_HASH = PasswordHasher().hash("not a password of anyone")


# Statements run on every request, built once (SQLAlchemy then reuses their cache key and
# compiled form instead of building and hashing a new statement per call).
_BY_ID = sa.select(*_COLUMNS).where(models.users.c.id == sa.bindparam("user_id"))
_BY_USERNAME = sa.select(*_COLUMNS).where(models.users.c.username == sa.bindparam("username"))
_WITH_ROLES = (
    sa.select(*_COLUMNS, models.role_grants.c.app, models.role_grants.c.role)
    .select_from(models.users.outerjoin(models.role_grants, models.role_grants.c.user_id == models.users.c.id))
    .order_by(models.role_grants.c.id)
)
_WITH_ROLES_BY_ID = _WITH_ROLES.where(models.users.c.id == sa.bindparam("user_id"))
_WITH_ROLES_BY_USERNAME = _WITH_ROLES.where(models.users.c.username == sa.bindparam("username"))
_ROLES = sa.select(models.role_grants.c.app, models.role_grants.c.role).where(models.role_grants.c.user_id == sa.bindparam("user_id"))
_LIST = sa.select(*_COLUMNS).order_by(models.users.c.display_name, models.users.c.id)
_LIST_ACTIVE = _LIST.where(models.users.c.is_active.is_(True))


def get_user(conn: Connection, user_id: int) -> UserInfo:
    row = conn.execute(_BY_ID, {"user_id": user_id}).first()
    if row is None:
        raise NotFound(M("no user %(id)s", id=user_id))
    return UserInfo(*row)


def find_user(conn: Connection, username: str) -> UserInfo | None:
    row = conn.execute(_BY_USERNAME, {"username": username.strip().lower()}).first()
    return UserInfo(*row) if row is not None else None


def user_with_roles(
    conn: Connection, *, user_id: int | None = None, username: str | None = None
) -> tuple[UserInfo | None, dict[str, frozenset[str]]]:
    """A user (by id or username) and its roles per app, in one statement."""
    if user_id is not None:
        rows = conn.execute(_WITH_ROLES_BY_ID, {"user_id": user_id}).all()
    else:
        assert username is not None
        rows = conn.execute(_WITH_ROLES_BY_USERNAME, {"username": username.strip().lower()}).all()
    if not rows:
        return None, {}
    grants: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.app is not None:
            grants[row.app].add(row.role)
    return UserInfo(*rows[0][:7]), {app: frozenset(roles) for app, roles in grants.items()}


def list_users(conn: Connection, *, active_only: bool = False) -> list[UserInfo]:
    return [UserInfo(*row) for row in conn.execute(_LIST_ACTIVE if active_only else _LIST)]


def grant_role(conn: Connection, user_id: int, app: str, role: str) -> None:
    g = models.role_grants
    exists = conn.execute(sa.select(g.c.id).where((g.c.user_id == user_id) & (g.c.app == app) & (g.c.role == role))).first()
    if exists is None:
        conn.execute(g.insert().values(user_id=user_id, app=app, role=role))


def revoke_role(conn: Connection, user_id: int, app: str, role: str) -> None:
    g = models.role_grants
    conn.execute(g.delete().where((g.c.user_id == user_id) & (g.c.app == app) & (g.c.role == role)))


def roles_of(conn: Connection, user_id: int) -> dict[str, frozenset[str]]:
    grants: dict[str, set[str]] = defaultdict(set)
    for app, role in conn.execute(_ROLES, {"user_id": user_id}):
        grants[app].add(role)
    return {app: frozenset(roles) for app, roles in grants.items()}


def users_with_role(conn: Connection, app: str, role: str) -> list[int]:
    g = models.role_grants
    return [row[0] for row in conn.execute(sa.select(g.c.user_id).where((g.c.app == app) & (g.c.role == role)))]


def actor_for(conn: Connection, user_id: int) -> Actor:
    user, roles = user_with_roles(conn, user_id=user_id)
    if user is None:
        raise NotFound(M("no user %(id)s", id=user_id))
    return Actor(user_id=user.id, username=user.username, is_admin=user.is_admin, roles=roles)


def set_mail_notifications(conn: Connection, user_id: int, on: bool) -> None:
    """The user's choice: notifications also by mail (on) or in the app only."""
    conn.execute(models.users.update().where(models.users.c.id == user_id).values(mail_notifications=on))


def mail_notifications(conn: Connection, user_id: int) -> bool:
    return bool(conn.execute(sa.select(models.users.c.mail_notifications).where(models.users.c.id == user_id)).scalar())


def set_locale(conn: Connection, user_id: int, locale: str) -> None:
    conn.execute(models.users.update().where(models.users.c.id == user_id).values(locale=locale))


def update_user(
    conn: Connection,
    user_id: int,
    *,
    display_name: str,
    email: str | None,
    is_active: bool,
    is_admin: bool,
    password: str | None = None,
    actor: Actor,
    keep_session: str | None = None,
) -> UserInfo:
    """Change a user's profile, status, admin flag and (when given) password.

    Everything is checked first and refused as one `RecordInvalid`: an admin may not
    deactivate or un-admin themself (so an instance always keeps the admin doing the
    edit). Deactivating a user or setting their password ends all their sessions, except
    `keep_session` (the browser of an admin changing their own password).
    """
    current = get_user(conn, user_id)
    errors: dict[str, list[str]] = {}
    display_name = display_name.strip()
    if not display_name:
        errors["display_name"] = ["is required"]
    elif len(display_name) > MAX_DISPLAY_NAME:
        errors["display_name"] = [f"must be at most {MAX_DISPLAY_NAME} characters"]
    email = _check_email(conn, email, user_id=user_id, errors=errors)
    if password == "":
        password = None
    _check_password(password, errors)
    if actor.user_id == user_id:
        if current.is_active and not is_active:
            errors["is_active"] = ["you cannot deactivate yourself; ask another admin"]
        if current.is_admin and not is_admin:
            errors["is_admin"] = ["you cannot take away your own admin rights; ask another admin"]
    if errors:
        raise RecordInvalid(errors)
    values: dict[str, object] = {"display_name": display_name, "email": email, "is_active": is_active, "is_admin": is_admin}
    if password is not None:
        values["password_hash"] = hash_password(password)
    _write_unique(conn, models.users.update().where(models.users.c.id == user_id).values(**values))
    if password is not None or (current.is_active and not is_active):
        sessions.end_user_sessions(conn, user_id, keep=keep_session if actor.user_id == user_id else None)
    return get_user(conn, user_id)


@dataclass(frozen=True)
class DirectoryEntry:
    """One row of the user directory: the user, their roles per app, their live sessions."""

    user: UserInfo
    roles: dict[str, frozenset[str]]
    sessions: int
    last_seen: dt.datetime | None


@dataclass(frozen=True)
class DirectoryPage(Paged):
    entries: list[DirectoryEntry]
    total: int
    page: int
    per_page: int


def _directory_filter(text: str) -> sa.ColumnElement[bool]:
    u = models.users
    text = search_text(text).lower()
    if not text:
        return sa.true()
    return sa.or_(
        u.c.username.contains(text, autoescape=True),
        sa.func.lower(u.c.display_name).contains(text, autoescape=True),
        u.c.email.contains(text, autoescape=True),
    )


def search_directory(conn: Connection, *, text: str = "", page: int = 1, per_page: int = 50) -> DirectoryPage:
    """A page of users matching `text` (username, display name or email), with their
    roles and sessions in one query (plus one to count), ordered by username."""
    u, g, s = models.users, models.role_grants, models.login_sessions
    where = _directory_filter(text)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(u).where(where)).scalar_one())
    page = clamp(page, total, per_page)
    chosen = sa.select(*_COLUMNS).where(where).order_by(u.c.username).limit(per_page).offset((page - 1) * per_page).subquery("chosen")
    live = (
        sa.select(s.c.user_id, sa.func.count().label("n"), sa.func.max(s.c.last_seen_at).label("last_seen"))
        .group_by(s.c.user_id)
        .subquery("live")
    )
    rows = conn.execute(
        sa.select(chosen, g.c.app, g.c.role, live.c.n, live.c.last_seen)
        .select_from(chosen.outerjoin(g, g.c.user_id == chosen.c.id).outerjoin(live, live.c.user_id == chosen.c.id))
        .order_by(chosen.c.username, g.c.app, g.c.role)
    )
    entries: dict[int, tuple[UserInfo, dict[str, set[str]], int, dt.datetime | None]] = {}
    for row in rows:
        if row.id not in entries:
            entries[row.id] = (UserInfo(*row[:7]), defaultdict(set), int(row.n or 0), row.last_seen)
        if row.app is not None:
            entries[row.id][1][row.app].add(row.role)
    listed = [
        DirectoryEntry(user=user, roles={app: frozenset(r) for app, r in roles.items()}, sessions=n, last_seen=seen)
        for user, roles, n, seen in entries.values()
    ]
    return DirectoryPage(entries=listed, total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class RoleChanges:
    granted: frozenset[tuple[str, str]]
    revoked: frozenset[tuple[str, str]]


def set_roles(conn: Connection, user_id: int, wanted: Iterable[tuple[str, str]], *, defined: Mapping[str, Iterable[str]]) -> RoleChanges:
    """Make `user_id` hold exactly the (app, role) pairs in `wanted`.

    `defined` maps each installed app to its roles. A wanted pair must be defined there or
    already held (a grant whose role was since removed from its app document stays until
    someone unticks it); anything else raises `RecordInvalid` under `roles` before any
    write, so a forged form changes nothing.
    """
    get_user(conn, user_id)
    wanted_set = set(wanted)
    held = {(app, role) for app, roles in roles_of(conn, user_id).items() for role in roles}
    known = {(app, role) for app, roles in defined.items() for role in roles}
    unknown = sorted(wanted_set - known - held)
    if unknown:
        problems = [f'app "{app}" has no role "{role}"' if app in defined else f'there is no app "{app}"' for app, role in unknown]
        raise RecordInvalid({"roles": problems})
    for app, role in sorted(wanted_set - held):
        grant_role(conn, user_id, app, role)
    for app, role in sorted(held - wanted_set):
        revoke_role(conn, user_id, app, role)
    return RoleChanges(granted=frozenset(wanted_set - held), revoked=frozenset(held - wanted_set))
