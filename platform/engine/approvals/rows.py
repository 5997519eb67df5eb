"""What every approval service starts from: the request row (locked for a decision), its
transition and approval block, its current step, and the answers for a request that is
already closed."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import clock, events
from flowdeck.engine.approval_core import APPROVED, CANCELLED, REJECTED, RESET, WITHDRAWN, R, RoundContext, S, T
from flowdeck.engine.errors import FlowdeckError, NotFound, TransitionRefused
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import Record, fetch_record
from flowdeck.engine.schema.model import Approval, Transition
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import apply_transition, check_transition


class ApprovalClosed(FlowdeckError):
    """The request or step was already decided (or withdrawn); nothing was changed."""


@dataclass(frozen=True)
class Outcome:
    request_id: int | None
    status: str
    record: Record | None = None
    duplicate: bool = False
    late: bool = False
    """The decision came after the step was decided against: kept in history, no effect."""


@dataclass(frozen=True)
class RequestRow:
    id: int
    app: str
    entity: str
    record_id: int
    transition: str
    round: int
    status: str
    requester_id: int | None
    from_state: str | None
    snapshot: dict[str, Any]
    snapshot_version: int
    current_step: int
    comment: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


REQUEST_COLUMNS = (
    R.c.id, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.round, R.c.status, R.c.requester_id,
    R.c.from_state, R.c.snapshot, R.c.snapshot_version, R.c.current_step, R.c.comment, R.c.created_at, R.c.decided_at,
)  # fmt: skip


def now_or(now: dt.datetime | None) -> dt.datetime:
    return now or clock.now()


def approval_of(et: EntityTables, transition_key: str) -> tuple[Transition, Approval]:
    workflow = et.entity.workflow
    transition = workflow.transition(transition_key) if workflow else None
    if transition is None or transition.approval is None:
        raise TransitionRefused(M("“%(key)s” is not a transition that needs approval", key=transition_key))
    return transition, transition.approval


def context(et: EntityTables, transition: Transition, approval: Approval, record: Record, requester: int | None) -> RoundContext:
    return RoundContext(
        app=et.entity.app, entity=et.entity, transition=transition, approval=approval, record_id=record.id,
        title=record.title or f"#{record.id}", values=record.values, requester=requester,
    )  # fmt: skip


def tell(conn: Connection, ctx: RoundContext, kind: str, *, request_id: int, actor: Actor, at: dt.datetime, **data: Any) -> None:
    """Record an approval event of this round: every one names the same app, entity, record,
    request and transition, so a listener can always find its way back to them."""
    events.approval_event(
        conn, kind, app=ctx.app, entity=ctx.entity.key, model=ctx.entity, record_id=ctx.record_id, actor_id=actor.user_id, at=at,
        request_id=request_id, transition=ctx.transition.key, **data,
    )  # fmt: skip


def complete(
    conn: Connection, et: EntityTables, transition: Transition, record_id: int, *, actor: Actor, requester: int | None, now: dt.datetime
) -> Record:
    """Run the approved transition, re-checking its guard and required fields now. A comment
    it requires was asked for when approval was requested: it is not asked for again. The
    guard reads `me` as the requester: it was the requester's transition that was approved
    ("only the requester submits" must not refuse the last approver)."""
    record = fetch_record(conn, et, record_id, for_update=True)
    if not transition.allowed_from(record.state or ""):
        state = et.entity.workflow.state(record.state or "") if et.entity.workflow else None
        raise TransitionRefused(
            M(
                "the record moved to %(state_key)s meanwhile; this approval can no longer complete",
                state_key=state.label if state else record.state,
            )
        )
    system = Actor(user_id=actor.user_id, username=actor.username, is_admin=True, roles=actor.roles)
    given, _ = check_transition(
        conn, et, record, dataclasses.replace(transition, comment="none"), actor=system, values=None, comment=None, me=requester
    )
    return apply_transition(conn, et, record, transition, given, actor=actor, comment=None, expected_version=None, now=now, me=requester)


def lock_request(conn: Connection, et: EntityTables, request_id: int) -> RequestRow:
    query = sa.select(*REQUEST_COLUMNS).where(R.c.id == request_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row.app != et.entity.app or row.entity != et.entity.key:
        raise NotFound(M("there is no approval request %(id)s", id=request_id))
    return RequestRow(*row)


@dataclass(frozen=True)
class Step:
    id: int
    position: int
    key: str
    mode: str
    quorum: int | None
    status: str


def current_step(conn: Connection, request: RequestRow) -> Step:
    row = conn.execute(
        sa.select(S.c.id, S.c.position, S.c.key, S.c.mode, S.c.quorum, S.c.status).where(
            (S.c.request_id == request.id) & (S.c.position == request.current_step)
        )
    ).first()
    assert row is not None
    return Step(*row)


def task_of(conn: Connection, step_id: int, user_id: int | None) -> Any:
    return conn.execute(sa.select(T.c.id, T.c.status, T.c.comment).where((T.c.step_id == step_id) & (T.c.approver_id == user_id))).first()


STEP_CLOSED = M("already decided: this step no longer needs your decision")
_CLOSED = {
    APPROVED: M("already decided: this request was approved"),
    REJECTED: M("already decided: this request was rejected"),
    WITHDRAWN: M("already decided: this request was withdrawn"),
    RESET: M("already decided: this request was reset by an edit"),
    CANCELLED: M("already decided: this request was cancelled"),
}


def closed_message(request: RequestRow) -> Message:
    return _CLOSED.get(request.status, STEP_CLOSED)
