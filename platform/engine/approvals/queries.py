"""Reading approvals: the rounds of a record (the approval panel), the inbox's three lists,
the top bar's counts, and the display names they show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import models, users
from flowdeck.engine.approval_core import APPROVED, AUTO_APPROVED, DELEGATED, HANDED_OVER, PENDING, REJECTED, R, S, T
from flowdeck.engine.approvals.rows import REQUEST_COLUMNS, RequestRow
from flowdeck.engine.errors import NotFound
from flowdeck.engine.messages import M, Message
from flowdeck.engine.system import GENERATION, schema_generation


@dataclass(frozen=True)
class TaskView:
    id: int
    approver_id: int
    status: str
    origin: str
    note: Message | str | None
    """Why the task is there or ended: a `Message`; the text of a note written before that."""
    comment: str | None
    decided_at: dt.datetime | None


@dataclass(frozen=True)
class StepView:
    key: str
    position: int
    mode: str
    quorum: int | None
    status: str
    due_at: dt.datetime | None
    tasks: list[TaskView] = field(default_factory=list)


@dataclass(frozen=True)
class RequestView:
    request: RequestRow
    steps: list[StepView]

    @property
    def current(self) -> StepView | None:
        """The step deciding now (None once the request is closed)."""
        if self.request.status != PENDING:
            return None
        return next((s for s in self.steps if s.status == PENDING), None)


def get_request(conn: Connection, request_id: int) -> RequestRow:
    row = conn.execute(sa.select(*REQUEST_COLUMNS).where(R.c.id == request_id)).first()
    if row is None:
        raise NotFound(M("there is no approval request %(id)s", id=request_id))
    return RequestRow(*row)


def _note(message_json: Any, text: str | None) -> Message | str | None:
    return Message.from_json(message_json) if message_json else text


def timeline(conn: Connection, app: str, entity: str, record_id: int) -> list[RequestView]:
    """Every round of approval of a record, newest first, with steps and each approver."""
    requests = [
        RequestRow(*r)
        for r in conn.execute(
            sa.select(*REQUEST_COLUMNS)
            .where((R.c.app == app) & (R.c.entity == entity) & (R.c.record_id == record_id))
            .order_by(R.c.id.desc())
        )
    ]
    if not requests:
        return []
    ids = [r.id for r in requests]
    steps: dict[int, list[StepView]] = {i: [] for i in ids}
    by_step: dict[int, StepView] = {}
    for row in conn.execute(
        sa.select(S.c.id, S.c.request_id, S.c.key, S.c.position, S.c.mode, S.c.quorum, S.c.status, S.c.due_at)
        .where(S.c.request_id.in_(ids))
        .order_by(S.c.position)
    ):
        view = StepView(row.key, row.position, row.mode, row.quorum, row.status, row.due_at)
        steps[row.request_id].append(view)
        by_step[row.id] = view
    for row in conn.execute(
        sa.select(T.c.id, T.c.step_id, T.c.approver_id, T.c.status, T.c.origin, T.c.note_json, T.c.note, T.c.comment, T.c.decided_at)
        .where(T.c.request_id.in_(ids))
        .order_by(T.c.id)
    ):
        note = _note(row.note_json, row.note)
        by_step[row.step_id].tasks.append(TaskView(row.id, row.approver_id, row.status, row.origin, note, row.comment, row.decided_at))
    return [RequestView(r, steps[r.id]) for r in requests]


# -- the inbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxItem:
    request: RequestRow
    step_key: str | None
    task_status: str | None
    due_at: dt.datetime | None = None
    """When the step waiting for the user must be decided (its `time_limit`; None: no limit
    or not asked for)."""

    @property
    def can_decide(self) -> bool:
        """The user's task in the request's current step still waits for their decision."""
        return self.task_status == PENDING and self.request.status == PENDING


def waiting_for(conn: Connection, user_id: int, limit: int = 200) -> list[InboxItem]:
    """The requests whose current step waits for this user's decision, oldest first, each with
    the step's due time."""
    rows = conn.execute(
        sa.select(*REQUEST_COLUMNS, S.c.key, T.c.status, S.c.due_at)
        .join(T, T.c.request_id == R.c.id)
        .join(S, S.c.id == T.c.step_id)
        .where((T.c.approver_id == user_id) & (T.c.status == PENDING) & (S.c.status == PENDING) & (R.c.status == PENDING))
        .order_by(R.c.created_at)
        .limit(limit)
    )
    return [InboxItem(RequestRow(*row[:15]), row[15], row[16], row[17]) for row in rows]


def requested_by(conn: Connection, user_id: int, limit: int = 100) -> list[RequestRow]:
    rows = conn.execute(sa.select(*REQUEST_COLUMNS).where(R.c.requester_id == user_id).order_by(R.c.id.desc()).limit(limit))
    return [RequestRow(*row) for row in rows]


def decided_by(conn: Connection, user_id: int, limit: int = 100) -> list[InboxItem]:
    rows = conn.execute(
        sa.select(*REQUEST_COLUMNS, S.c.key, T.c.status)
        .join(T, T.c.request_id == R.c.id)
        .join(S, S.c.id == T.c.step_id)
        .where((T.c.approver_id == user_id) & T.c.status.in_([APPROVED, REJECTED, AUTO_APPROVED, DELEGATED, HANDED_OVER]))
        .order_by(T.c.decided_at.desc())
        .limit(limit)
    )
    return [InboxItem(RequestRow(*row[:15]), row[15], row[16]) for row in rows]


INBOX_TABS = ("waiting", "mine", "decided")


@dataclass(frozen=True)
class Inbox:
    items: list[InboxItem]
    names: dict[int, str]
    """Display names of the requesters and of the people the requests' values name."""


def inbox(conn: Connection, user_id: int, tab: str) -> Inbox:
    """One tab of the inbox: waiting for the user's decision, asked by the user, decided by
    the user (see INBOX_TABS)."""
    if tab == "mine":
        items = [InboxItem(r, None, None) for r in requested_by(conn, user_id)]
    elif tab == "decided":
        items = decided_by(conn, user_id)
    else:
        items = waiting_for(conn, user_id)
    wanted: set[int | None] = set()
    for item in items:
        wanted.add(item.request.requester_id)
        for value in item.request.snapshot.values():
            # A user field's value in the snapshot is the user's id (or a list of ids).
            values = value if isinstance(value, list) else [value]
            wanted.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
    return Inbox(items, display_names(conn, wanted))


def display_names(conn: Connection, ids: Iterable[int | None]) -> dict[int, str]:
    """User id -> display name, for the ids given (one query)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    u = models.users
    return {int(i): str(n) for i, n in conn.execute(sa.select(u.c.id, u.c.display_name).where(u.c.id.in_(wanted)))}


# -- counts and the request's context ------------------------------------------------------------


def _waiting(user: sa.ColumnElement[Any]) -> sa.Select[tuple[int]]:
    return (
        sa.select(sa.func.count())
        .select_from(T.join(S, S.c.id == T.c.step_id).join(R, R.c.id == T.c.request_id))
        .where((T.c.approver_id == user) & (T.c.status == PENDING) & (S.c.status == PENDING) & (R.c.status == PENDING))
    )


WAITING_COUNT = _waiting(sa.bindparam("user_id"))
"""How many decisions wait on `:user_id` (the top bar's badge; built once)."""


def waiting_count(conn: Connection, user_id: int) -> int:
    return int(conn.execute(WAITING_COUNT, {"user_id": user_id}).scalar() or 0)


@dataclass(frozen=True)
class RequestContext:
    """What every request needs to know first, read in one statement (`request_context`)."""

    user: users.UserInfo | None
    roles: dict[str, frozenset[str]]
    generation: int
    waiting: int
    """Approval decisions waiting on the user (the top bar's badge)."""
    unread: int
    """The user's unread notifications (the other badge)."""


_U, _G, _N = models.users, models.role_grants, models.notifications
_CONTEXT = (
    sa.select(
        *users.USER_COLUMNS,
        _G.c.app,
        _G.c.role,
        GENERATION.scalar_subquery(),
        _waiting(_U.c.id).scalar_subquery(),
        sa.select(sa.func.count()).where((_N.c.user_id == _U.c.id) & _N.c.read_at.is_(None)).scalar_subquery(),
    )
    .select_from(_U.outerjoin(_G, _G.c.user_id == _U.c.id))
    .order_by(_G.c.id)
)
_CONTEXT_BY_ID = _CONTEXT.where(_U.c.id == sa.bindparam("user_id"))
_CONTEXT_BY_USERNAME = _CONTEXT.where(_U.c.username == sa.bindparam("username"))


def request_context(conn: Connection, *, user_id: int | None = None, username: str | None = None) -> RequestContext:
    """A user (by id or username) with its roles per app, the schema generation and the
    top bar's two counts, in one statement (one row per role)."""
    if user_id is not None:
        rows = conn.execute(_CONTEXT_BY_ID, {"user_id": user_id}).all()
    else:
        assert username is not None
        rows = conn.execute(_CONTEXT_BY_USERNAME, {"username": username.strip().lower()}).all()
    if not rows:
        return RequestContext(None, {}, schema_generation(conn), 0, 0)
    grants: dict[str, set[str]] = {}
    for row in rows:
        if row[7] is not None:
            grants.setdefault(row[7], set()).add(row[8])
    first = rows[0]
    return RequestContext(
        users.UserInfo(*first[:7]),
        {app: frozenset(roles) for app, roles in grants.items()},
        int(first[9] or 0),
        int(first[10] or 0),
        int(first[11] or 0),
    )
