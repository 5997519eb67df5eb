"""The audit log: who did what outside records, from where, and when.

Records keep their own history (`history.py`); this log is for what an auditor asks about
the instance itself: sign-ins (successful and failed, with the client address), sign-outs,
password changes and resets, users, roles and departments, applied and rolled-back app
documents, bundle exports and imports, CSV exports. Each entry's description is a
`Message` (stored as JSON), worded in the reader's language when shown.

Entries are written in the transaction of the change they describe (a rolled-back change
leaves none) and never changed: no function here updates or deletes, and the table's
triggers (migration 0008) refuse UPDATE and DELETE from anyone.

The client address comes from the web request (`client_address`, set per request by the
views); engine code that records an event does not need to know it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, models
from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.paging import Paged, clamp
from flowdeck.engine.permissions import Actor
from flowdeck.engine.textinput import search_text

_A = models.audit
_ADDRESS: ContextVar[str | None] = ContextVar("flowdeck_client_address", default=None)

# Every action the log records, with its name for the filter (both languages).
ACTIONS: dict[str, Message] = {
    "signin": Mp("audit action", "sign-in"),
    "signin.failed": Mp("audit action", "failed sign-in"),
    "signout": Mp("audit action", "sign-out"),
    "password.changed": Mp("audit action", "password changed"),
    "password.reset": Mp("audit action", "password reset"),
    "user.created": Mp("audit action", "user created"),
    "user.changed": Mp("audit action", "user changed"),
    "user.roles": Mp("audit action", "roles changed"),
    "department.changed": Mp("audit action", "department changed"),
    "schema.applied": Mp("audit action", "app document applied"),
    "schema.rollback": Mp("audit action", "app rolled back"),
    "bundle.exported": Mp("audit action", "bundle exported"),
    "bundle.imported": Mp("audit action", "bundle imported"),
    "records.exported": Mp("audit action", "records exported"),
    "instance.backup": Mp("audit action", "backup written"),
    "calendar.changed": Mp("audit action", "business calendar changed"),
}


@dataclass(frozen=True)
class Entry:
    id: int
    at: dt.datetime
    action: str
    actor_id: int | None
    actor_name: str | None
    address: str | None
    target: str | None
    message: Message


@contextmanager
def client_address(address: str | None) -> Iterator[None]:
    """Entries recorded inside this block name `address` as where the request came from."""
    token = _ADDRESS.set(address)
    try:
        yield
    finally:
        _ADDRESS.reset(token)


def set_client_address(address: str | None) -> None:
    """For a web request: the address of its client (the proxy-corrected remote address)."""
    _ADDRESS.set(address)


def record(
    conn: Connection,
    action: str,
    message: Message,
    *,
    actor: Actor | None = None,
    actor_name: str | None = None,
    target: str | None = None,
    address: str | None = None,
) -> None:
    """Add one entry in the caller's transaction. `actor` None is the system (the command
    line, a scheduled job) unless `actor_name` names who tried (a failed sign-in)."""
    if action not in ACTIONS:
        raise KeyError(action)
    name = actor_name if actor_name is not None else (actor.username if actor is not None and actor.user_id is not None else None)
    conn.execute(
        _A.insert().values(
            at=clock.now(),
            action=action,
            actor_id=actor.user_id if actor is not None else None,
            actor_name=(name or None) and name[:60],
            address=((address or _ADDRESS.get()) or "")[:64] or None,
            target=(target or "")[:200] or None,
            message=message.to_json(),
        )
    )


def schema_applied(conn: Connection, actor: Actor, app: str, version: int, reason: Message | str | None) -> None:
    """An app document applied as a new version (the call `apps.apply_document` makes)."""
    if reason:
        message = M("applied version %(version)s of app %(app)s: %(reason)s", version=version, app=app, reason=reason)
    else:
        message = M("applied version %(version)s of app %(app)s", version=version, app=app)
    record(conn, "schema.applied", message, actor=actor, target=f"app:{app}")


def schema_rolled_back(conn: Connection, actor: Actor, app: str, to_version: int, version: int) -> None:
    record(
        conn,
        "schema.rollback",
        M("rolled app %(app)s back to version %(to)s (as version %(version)s)", app=app, to=to_version, version=version),
        actor=actor,
        target=f"app:{app}",
    )


def bundle_imported(conn: Connection, actor: Actor, app: str, source: str, version: int, kind: str) -> None:
    record(
        conn,
        "bundle.imported",
        M(
            "imported a bundle from %(source)s into app %(app)s (%(kind)s) as version %(version)s",
            source=source,
            app=app,
            kind=kind,
            version=version,
        ),
        actor=actor,
        target=f"app:{app}",
    )


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What the admin page filters by; empty values filter nothing. `until` is inclusive
    of its whole day; both are UTC datetimes made by the caller from local days."""

    action: str = ""
    who: str = ""
    text: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class Page(Paged):
    entries: list[Entry]
    total: int
    page: int
    per_page: int


def _where(filters: Filters) -> sa.ColumnElement[bool]:
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.action:
        clauses.append(_A.c.action == filters.action)
    if filters.who:
        clauses.append(_A.c.actor_name == filters.who.strip().lower())
    if filters.text:
        text = search_text(filters.text)
        clauses.append(sa.or_(_A.c.target.contains(text, autoescape=True), _A.c.address.contains(text, autoescape=True)))
    if filters.since is not None:
        clauses.append(_A.c.at >= filters.since)
    if filters.until is not None:
        clauses.append(_A.c.at < filters.until)
    return sa.and_(sa.true(), *clauses)


def _entry(row: sa.Row) -> Entry:
    return Entry(row.id, row.at, row.action, row.actor_id, row.actor_name, row.address, row.target, Message.from_json(row.message))


_COLUMNS = (_A.c.id, _A.c.at, _A.c.action, _A.c.actor_id, _A.c.actor_name, _A.c.address, _A.c.target, _A.c.message)


def search(conn: Connection, filters: Filters, *, page: int = 1, per_page: int = 50) -> Page:
    """A page of entries, newest first."""
    where = _where(filters)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(_A).where(where)).scalar_one())
    page = clamp(page, total, per_page)
    rows = conn.execute(sa.select(*_COLUMNS).where(where).order_by(_A.c.id.desc()).limit(per_page).offset((page - 1) * per_page))
    return Page([_entry(row) for row in rows], total, page, per_page)


def every(conn: Connection, filters: Filters, *, limit: int = 100_000) -> list[Entry]:
    """The matching entries, newest first, up to `limit` (for the CSV export)."""
    rows = conn.execute(sa.select(*_COLUMNS).where(_where(filters)).order_by(_A.c.id.desc()).limit(limit))
    return [_entry(row) for row in rows]
