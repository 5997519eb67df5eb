"""What a user may do with a record's pending request (decide, withdraw, send back, add an
approver, delegate; and to whom), which board cards wait on them, and which values moved
on since approval was asked: the rules the record page and boards show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import users
from flowdeck.engine.approval_core import PENDING, R, S, T, snapshot_of
from flowdeck.engine.approvals.queries import RequestView
from flowdeck.engine.approvals.rows import REQUEST_COLUMNS, RequestRow
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import Record
from flowdeck.engine.schema.model import Approval, Entity, Field

_OPEN_REQUEST = sa.select(*REQUEST_COLUMNS).where(
    (R.c.app == sa.bindparam("app"))
    & (R.c.entity == sa.bindparam("entity"))
    & (R.c.record_id == sa.bindparam("record_id"))
    & (R.c.status == PENDING)
)
_MY_PENDING_TASK = (
    sa.select(T.c.id)
    .join(S, S.c.id == T.c.step_id)
    .where(
        (T.c.request_id == sa.bindparam("request_id"))
        & (T.c.approver_id == sa.bindparam("user_id"))
        & (T.c.status == PENDING)
        & (S.c.status == PENDING)
    )
)


def open_request_for(conn: Connection, app: str, entity: str, record_id: int) -> RequestRow | None:
    row = conn.execute(_OPEN_REQUEST, {"app": app, "entity": entity, "record_id": record_id}).first()
    return RequestRow(*row) if row is not None else None


def my_pending_task(conn: Connection, request_id: int, user_id: int | None) -> bool:
    """Does this user have a pending decision in the request's current step?"""
    if user_id is None:
        return False
    return conn.execute(_MY_PENDING_TASK, {"request_id": request_id, "user_id": user_id}).first() is not None


@dataclass
class Actions:
    """What the signed-in user may do with the pending request."""

    request_id: int
    decide: bool = False
    withdraw: bool = False
    send_back: list[str] = field(default_factory=list)
    """Keys of the earlier steps of this round it may be sent back to."""
    add: bool = False
    delegate: bool = False
    people: list[tuple[int, str]] = field(default_factory=list)
    """(id, display name) of whom an approver may be added or delegated to."""

    @property
    def more(self) -> bool:
        return bool(self.send_back or self.add or self.delegate)


def actions_for(conn: Connection, pending: RequestView, approval: Approval | None, actor: Actor) -> Actions:
    """The requester (or an admin) may withdraw; a pending approver of the current step may
    decide and, where the flow allows, send back, add an approver or delegate to anyone
    active who is not yet an approver of the step (nor the requester, without self-approval)."""
    row = pending.request
    actions = Actions(request_id=row.id, withdraw=actor.user_id == row.requester_id or actor.is_admin)
    current = pending.current
    if current is None or approval is None:
        return actions
    actions.decide = any(t.approver_id == actor.user_id and t.status == PENDING for t in current.tasks)
    if not actions.decide:
        return actions
    if approval.send_back:
        actions.send_back = [s.key for s in pending.steps if s.position < current.position]
    actions.add = approval.add_approvers
    actions.delegate = approval.delegate
    if actions.add or actions.delegate:
        taken = {
            task_user
            for (task_user,) in conn.execute(
                sa.select(T.c.approver_id)
                .join(S, S.c.id == T.c.step_id)
                .where((S.c.request_id == row.id) & (S.c.position == current.position))
            )
        }
        if not approval.self_approval:
            taken.add(row.requester_id)
        actions.people = [(u.id, u.display_name) for u in users.list_users(conn, active_only=True) if u.id not in taken]
    return actions


def board_marks(conn: Connection, app: str, entity: str, record_ids: Iterable[int], user_id: int | None) -> dict[int, tuple[int, bool]]:
    """For the cards of a board: record id -> (pending request id, whether the user must
    decide it now). One query, whatever the number of cards."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return {}
    mine = (
        sa.exists()
        .where((T.c.request_id == R.c.id) & (T.c.approver_id == user_id) & (T.c.status == PENDING))
        .where(sa.exists().where((S.c.id == T.c.step_id) & (S.c.status == PENDING)))
    )
    rows = conn.execute(
        sa.select(R.c.record_id, R.c.id, mine if user_id is not None else sa.false()).where(
            (R.c.app == app) & (R.c.entity == entity) & R.c.record_id.in_(ids) & (R.c.status == PENDING)
        )
    )
    return {record_id: (request_id, bool(decide)) for record_id, request_id, decide in rows}


def _same(a: Any, b: Any) -> bool:
    if a in (None, "", []) and b in (None, "", []):
        return True
    try:
        if isinstance(a, (int, float, str)) and isinstance(b, (int, float, str)) and not isinstance(a, bool):
            return Decimal(str(a)) == Decimal(str(b))
    except ArithmeticError:
        pass
    return bool(a == b)


def changed_since_asked(entity: Entity, record: Record, snapshot: Mapping[str, Any], hidden: Iterable[str]) -> list[Field]:
    """The fields (stored, not hidden from the reader) whose value differs from the one the
    approvers were shown: approvers decide on the snapshot, not on later edits."""
    now = snapshot_of(entity, record.values, record.state)
    hidden = set(hidden)
    return [
        f
        for f in entity.fields
        if f.key in snapshot and f.key not in hidden and not f.is_computed and not _same(snapshot.get(f.key), now.get(f.key))
    ]
