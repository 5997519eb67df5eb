"""Approval services: request, decide, withdraw, send back, add an approver, delegate,
escalate overdue steps, and the queries behind the inbox and the record timeline.

Exactly once: every decision first locks its request row (PostgreSQL `FOR UPDATE`;
SQLite's `BEGIN IMMEDIATE` already serialises writers), then flips its task from pending
with `UPDATE ... WHERE status = 'pending'`. Decisions racing on one step therefore run
one after the other: the first that completes the step runs the transition, a later one
finds its task voided or the step decided and gets ApprovalClosed ("already decided"),
and a repeated identical decision by the same person is answered as a duplicate with no
second effect or notification.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, models, notifications, users
from flowdeck.engine.approval_core import (
    APPROVED,
    AUTO_APPROVED,
    DELEGATED,
    PENDING,
    REJECTED,
    SENT_BACK,
    VOIDED,
    WAITING,
    WITHDRAWN,
    YES,
    R,
    RoundContext,
    S,
    T,
    _active,
    activate,
    close_round,
    create_round,
    outcome,
    pending_approvers,
    step_statuses,
)
from flowdeck.engine.errors import FlowdeckError, Forbidden, NotFound, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import Actor, FieldAccess
from flowdeck.engine.records import Record, fetch_record, save_values
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import Approval, ApprovalStep, Transition
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.system import GENERATION, schema_generation
from flowdeck.engine.workflow import apply_transition, check_transition, find_transition, refuse_if_pending


class ApprovalClosed(FlowdeckError):
    """The request or step was already decided (or withdrawn); nothing was changed."""


@dataclass(frozen=True)
class Outcome:
    request_id: int | None
    status: str
    record: Record | None = None
    duplicate: bool = False


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


_REQUEST_COLUMNS = (
    R.c.id, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.round, R.c.status, R.c.requester_id,
    R.c.from_state, R.c.snapshot, R.c.snapshot_version, R.c.current_step, R.c.comment, R.c.created_at, R.c.decided_at,
)  # fmt: skip


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _approval_of(et: EntityTables, transition_key: str) -> tuple[Transition, Approval]:
    workflow = et.entity.workflow
    transition = workflow.transition(transition_key) if workflow else None
    if transition is None or transition.approval is None:
        raise TransitionRefused(f'"{transition_key}" is not a transition that needs approval')
    return transition, transition.approval


def _context(et: EntityTables, transition: Transition, approval: Approval, record: Record, requester: int | None) -> RoundContext:
    return RoundContext(
        app=et.entity.app, entity=et.entity, transition=transition, approval=approval, record_id=record.id,
        title=record.title or f"#{record.id}", values=record.values, requester=requester,
    )  # fmt: skip


def _complete(conn: Connection, et: EntityTables, transition: Transition, record_id: int, *, actor: Actor, now: dt.datetime) -> Record:
    """Run the approved transition, re-checking its guard and required fields now."""
    record = fetch_record(conn, et, record_id, for_update=True)
    if not transition.allowed_from(record.state or ""):
        raise TransitionRefused(f"the record moved to {record.state} meanwhile; this approval can no longer complete")
    system = Actor(user_id=actor.user_id, username=actor.username, is_admin=True, roles=actor.roles)
    given, _ = check_transition(conn, et, record, transition, actor=system, values=None, comment="approved")
    return apply_transition(conn, et, record, transition, given, actor=actor, comment="approved", expected_version=None, now=now)


def request_approval(
    conn: Connection,
    et: EntityTables,
    record_id: int,
    transition_key: str,
    *,
    actor: Actor,
    values: Mapping[str, Any] | None = None,
    comment: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
    record: Record | None = None,
) -> Outcome:
    """Ask for approval of a transition. The record stays in its state until the last step
    approves; if no step applies (their conditions do not hold), the transition runs now.
    `record`: the record as the caller fetched it `for_update` in this transaction."""
    now = _now(now)
    if record is None or record.id != record_id:
        record = fetch_record(conn, et, record_id, for_update=True)
    transition = find_transition(et, record, transition_key, actor)
    _, approval = _approval_of(et, transition_key)
    refuse_if_pending(conn, et, record)
    given, comment = check_transition(conn, et, record, transition, actor=actor, values=values, comment=comment)
    if given or (expected_version is not None and expected_version != record.version):
        record = save_values(
            conn, et, record, given, actor=actor, expected_version=expected_version, access=FieldAccess(), now=now, action="update"
        )
    ctx = _context(et, transition, approval, record, actor.user_id)
    request_id, status = create_round(conn, ctx, state=record.state, version=record.version, comment=comment, now=now)
    if status == PENDING:
        return Outcome(request_id, PENDING, record)
    if request_id is not None:
        close_round(conn, request_id, APPROVED, now)
        history.add_entry(
            conn,
            app=et.entity.app,
            entity=et.entity.key,
            record_id=record.id,
            actor_id=None,
            action="approved",
            transition=transition.key,
            comment="every step was approved at once",
            at=now,
        )
    given_now, _ = check_transition(conn, et, record, transition, actor=actor, values=None, comment=comment)
    done = apply_transition(conn, et, record, transition, given_now, actor=actor, comment=comment, expected_version=None, now=now)
    return Outcome(request_id, APPROVED, done)


def _lock_request(conn: Connection, et: EntityTables, request_id: int) -> RequestRow:
    query = sa.select(*_REQUEST_COLUMNS).where(R.c.id == request_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row.app != et.entity.app or row.entity != et.entity.key:
        raise NotFound(f"there is no approval request {request_id} here")
    return RequestRow(*row)


@dataclass(frozen=True)
class _Step:
    id: int
    position: int
    key: str
    mode: str
    quorum: int | None
    status: str


def _current_step(conn: Connection, request: RequestRow) -> _Step:
    row = conn.execute(
        sa.select(S.c.id, S.c.position, S.c.key, S.c.mode, S.c.quorum, S.c.status).where(
            (S.c.request_id == request.id) & (S.c.position == request.current_step)
        )
    ).first()
    assert row is not None
    return _Step(*row)


def _task(conn: Connection, step_id: int, user_id: int | None) -> Any:
    return conn.execute(sa.select(T.c.id, T.c.status, T.c.comment).where((T.c.step_id == step_id) & (T.c.approver_id == user_id))).first()


def _closed_message(request: RequestRow) -> str:
    words = {APPROVED: "approved", REJECTED: "rejected", WITHDRAWN: "withdrawn", "reset": "reset by an edit", "cancelled": "cancelled"}
    return f"already decided: this request was {words.get(request.status, request.status)}"


def decide(
    conn: Connection,
    et: EntityTables,
    request_id: int,
    *,
    actor: Actor,
    approve: bool,
    comment: str | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Approve or reject as one approver of the current step (see the module docstring)."""
    now = _now(now)
    wanted = APPROVED if approve else REJECTED
    comment = (comment or "").strip() or None
    request = _lock_request(conn, et, request_id)
    transition, approval = _approval_of(et, request.transition)
    step = _current_step(conn, request) if request.status == PENDING else None
    mine = _task(conn, step.id, actor.user_id) if step is not None else None
    if mine is None or mine.status != PENDING:
        earlier = conn.execute(
            sa.select(T.c.status, T.c.comment)
            .where((T.c.request_id == request.id) & (T.c.approver_id == actor.user_id) & (T.c.status == wanted))
            .order_by(T.c.id.desc())
        ).first()
        if earlier is not None and (earlier.comment or None) == comment:
            return Outcome(request.id, request.status, None, duplicate=True)
        if request.status != PENDING:
            raise ApprovalClosed(_closed_message(request))
        if actor.user_id == request.requester_id and not approval.self_approval:
            raise Forbidden("you cannot approve or reject your own request")
        if mine is None:
            raise Forbidden("you are not an approver of the current step")
        raise ApprovalClosed("already decided: this step no longer needs your decision")
    assert step is not None
    if not approve and not comment:
        raise RecordInvalid({"comment": ["a rejection needs a comment saying why"]})
    updated = conn.execute(
        T.update()
        .where((T.c.id == mine.id) & (T.c.status == PENDING))
        .values(status=wanted, comment=comment, decided_at=now, decided_version=request.snapshot_version)
    )
    if updated.rowcount != 1:
        raise ApprovalClosed("already decided: this step no longer needs your decision")
    step_def = approval.step(step.key)
    assert step_def is not None
    record = fetch_record(conn, et, request.record_id, for_update=True)
    ctx = _context(et, transition, approval, record, request.requester_id)
    history.add_entry(
        conn, app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id, action=wanted, transition=transition.key,
        comment=f"{step_def.label.get('en')}: {comment}" if comment else step_def.label.get("en"), at=now,
    )  # fmt: skip
    result = outcome(step.mode, step.quorum, step_statuses(conn, step.id))
    if result is None:
        return Outcome(request.id, PENDING, record)
    conn.execute(S.update().where(S.c.id == step.id).values(status=result, completed_at=now))
    conn.execute(
        T.update()
        .where((T.c.step_id == step.id) & (T.c.status == PENDING))
        .values(status=VOIDED, decided_at=now, note="no longer required")
    )
    if result == REJECTED:
        return _reject(conn, et, request, ctx, approval, actor=actor, comment=comment, now=now)
    status = activate(conn, ctx, request.id, step.position + 1, now, actor.user_id)
    if status == PENDING:
        return Outcome(request.id, PENDING, record)
    stale = conn.execute(
        sa.select(sa.func.count()).where(
            (T.c.request_id == request.id) & T.c.status.in_(YES) & (T.c.decided_version != request.snapshot_version)
        )
    ).scalar()
    if stale:
        raise TransitionRefused("some approvals were given to an earlier version of this record; they do not count")
    done = _complete(conn, et, transition, request.record_id, actor=actor, now=now)
    close_round(conn, request.id, APPROVED, now)
    notifications.notify(
        conn, [request.requester_id], kind="approval_done", app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id,
        message=f"Approved: {transition.label.get('en')} of “{ctx.title}”", dedupe=f"approved:{request.id}",
    )  # fmt: skip
    return Outcome(request.id, APPROVED, done)


def _reject(
    conn: Connection,
    et: EntityTables,
    request: RequestRow,
    ctx: RoundContext,
    approval: Approval,
    *,
    actor: Actor,
    comment: str | None,
    now: dt.datetime,
) -> Outcome:
    approvers = [
        row[0] for row in conn.execute(sa.select(T.c.approver_id).where((T.c.request_id == request.id) & (T.c.status == APPROVED)))
    ]
    close_round(conn, request.id, REJECTED, now)
    record = fetch_record(conn, et, request.record_id, for_update=True)
    if approval.reject_to is not None and approval.reject_to != record.state:
        record = save_values(
            conn, et, record, {}, actor=actor, expected_version=None, access=FieldAccess(), now=now, new_state=approval.reject_to,
            action="rejected", transition=request.transition, comment=comment,
        )  # fmt: skip
    notifications.notify(
        conn, [request.requester_id, *approvers], kind="approval_done", app=ctx.app, entity=et.entity.key, record_id=request.record_id,
        actor_id=actor.user_id, message=f"Rejected: {ctx.transition.label.get('en')} of “{ctx.title}”: {comment}",
        dedupe=f"rejected:{request.id}",
    )  # fmt: skip
    return Outcome(request.id, REJECTED, record)


def withdraw(conn: Connection, et: EntityTables, request_id: int, *, actor: Actor, now: dt.datetime | None = None) -> Outcome:
    """The requester (or an admin) takes a pending request back; its open tasks end."""
    now = _now(now)
    request = _lock_request(conn, et, request_id)
    if request.status != PENDING:
        if request.status == WITHDRAWN and actor.user_id == request.requester_id:
            return Outcome(request.id, WITHDRAWN, duplicate=True)
        raise ApprovalClosed(_closed_message(request))
    if actor.user_id != request.requester_id and not actor.is_admin:
        raise Forbidden("only the requester can withdraw this request")
    told = pending_approvers(conn, request.id)
    close_round(conn, request.id, WITHDRAWN, now)
    history.add_entry(
        conn,
        app=et.entity.app,
        entity=et.entity.key,
        record_id=request.record_id,
        actor_id=actor.user_id,
        action="withdrawn",
        transition=request.transition,
        at=now,
    )
    notifications.notify(
        conn, told, kind="approval_done", app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id,
        message=f"Withdrawn: the approval request for record #{request.record_id} no longer needs you", dedupe=f"withdrawn:{request.id}",
    )  # fmt: skip
    return Outcome(request.id, WITHDRAWN)


def _my_pending_task(conn: Connection, et: EntityTables, request_id: int, actor: Actor) -> tuple[RequestRow, _Step, Approval, Transition]:
    request = _lock_request(conn, et, request_id)
    if request.status != PENDING:
        raise ApprovalClosed(_closed_message(request))
    transition, approval = _approval_of(et, request.transition)
    step = _current_step(conn, request)
    mine = _task(conn, step.id, actor.user_id)
    if mine is None or mine.status != PENDING:
        raise Forbidden("you are not a pending approver of the current step")
    return request, step, approval, transition


def send_back(
    conn: Connection, et: EntityTables, request_id: int, to_step: str, *, actor: Actor, comment: str | None, now: dt.datetime | None = None
) -> Outcome:
    """回退: an approver sends the request back to an earlier step, which decides again."""
    now = _now(now)
    request, step, approval, transition = _my_pending_task(conn, et, request_id, actor)
    if not approval.send_back:
        raise Forbidden("this approval flow does not allow sending back")
    if not (comment or "").strip():
        raise RecordInvalid({"comment": ["say why you send it back"]})
    target = conn.execute(
        sa.select(S.c.position, S.c.key).where((S.c.request_id == request.id) & (S.c.key == to_step) & (S.c.position < step.position))
    ).first()
    if target is None:
        raise RecordInvalid({"to_step": [f'"{to_step}" is not an earlier step of this request']})
    steps_between = sa.select(S.c.id).where(
        (S.c.request_id == request.id) & (S.c.position >= target.position) & (S.c.position <= step.position)
    )
    conn.execute(
        T.update()
        .where(T.c.step_id.in_(steps_between) & T.c.status.in_([PENDING, *YES]))
        .values(status=VOIDED, decided_at=now, note="sent back")
    )
    conn.execute(S.update().where(S.c.id == step.id).values(status=SENT_BACK, completed_at=now))
    conn.execute(S.update().where(S.c.id.in_(steps_between)).values(status=WAITING, completed_at=None))
    record = fetch_record(conn, et, request.record_id)
    ctx = _context(et, transition, approval, record, request.requester_id)
    history.add_entry(
        conn, app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id, action="sent_back", transition=transition.key,
        comment=f"back to {approval.step(to_step).label.get('en') if approval.step(to_step) else to_step}: {comment}", at=now,
    )  # fmt: skip
    activate(conn, ctx, request.id, target.position, now, actor.user_id)
    return Outcome(request.id, PENDING, record)


def add_approver(
    conn: Connection,
    et: EntityTables,
    request_id: int,
    user_id: int,
    *,
    actor: Actor,
    comment: str | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """加签: an approver adds someone to the current step (who must then decide too)."""
    now = _now(now)
    request, step, approval, transition = _my_pending_task(conn, et, request_id, actor)
    if not approval.add_approvers:
        raise Forbidden("this approval flow does not allow adding approvers")
    _check_new_approver(conn, request, step, user_id, approval)
    _hand_task(conn, et, request, step, transition, user_id, actor=actor, origin="added", comment=comment, now=now)
    return Outcome(request.id, PENDING)


def delegate(
    conn: Connection,
    et: EntityTables,
    request_id: int,
    user_id: int,
    *,
    actor: Actor,
    comment: str | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """An approver hands their decision to someone else."""
    now = _now(now)
    request, step, approval, transition = _my_pending_task(conn, et, request_id, actor)
    if not approval.delegate:
        raise Forbidden("this approval flow does not allow delegating")
    _check_new_approver(conn, request, step, user_id, approval)
    conn.execute(
        T.update()
        .where((T.c.step_id == step.id) & (T.c.approver_id == actor.user_id))
        .values(status=DELEGATED, decided_at=now, note=f"delegated to user {user_id}")
    )
    _hand_task(conn, et, request, step, transition, user_id, actor=actor, origin="delegated", comment=comment, now=now)
    return Outcome(request.id, PENDING)


def _hand_task(
    conn: Connection,
    et: EntityTables,
    request: RequestRow,
    step: _Step,
    transition: Transition,
    user_id: int,
    *,
    actor: Actor,
    origin: str,
    comment: str | None,
    now: dt.datetime,
) -> None:
    """Give `user_id` a pending task in the current step (加签 or delegation), log it, tell them."""
    verb = {"added": "added by", "delegated": "delegated by"}[origin]
    conn.execute(
        T.insert().values(
            step_id=step.id,
            request_id=request.id,
            approver_id=user_id,
            status=PENDING,
            origin=origin,
            note=f"{verb} {actor.username}",
            created_at=now,
        )
    )
    action = {"added": "approver_added", "delegated": "delegated"}[origin]
    history.add_entry(
        conn, app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id, action=action,
        transition=transition.key, comment=comment, at=now,
    )  # fmt: skip
    notifications.notify(
        conn, [user_id], kind="approval", app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id,
        message=f"Approval needed: {transition.label.get('en')} of record #{request.record_id} ({verb} {actor.username})",
        dedupe=f"{origin}:{step.id}:{user_id}",
    )  # fmt: skip


def _check_new_approver(conn: Connection, request: RequestRow, step: _Step, user_id: int, approval: Approval) -> None:
    u = models.users
    if conn.execute(sa.select(u.c.id).where((u.c.id == user_id) & u.c.is_active.is_(True))).first() is None:
        raise RecordInvalid({"user": ["no active user with this id"]})
    if user_id == request.requester_id and not approval.self_approval:
        raise RecordInvalid({"user": ["the requester cannot approve their own request"]})
    if _task(conn, step.id, user_id) is not None:
        raise RecordInvalid({"user": ["is already an approver of this step"]})


def escalate_overdue(conn: Connection, registry: Registry, now: dt.datetime | None = None) -> int:
    """Handle steps past their due time once: notify, or add the escalation role."""
    now = _now(now)
    rows = conn.execute(
        sa.select(S.c.id, S.c.key, R.c.id, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.requester_id)
        .join(R, R.c.id == S.c.request_id)
        .where(
            (S.c.status == PENDING) & S.c.due_at.is_not(None) & (S.c.due_at < now) & S.c.escalated_at.is_(None) & (R.c.status == PENDING)
        )
    ).all()
    from flowdeck.engine.users import users_with_role

    handled = 0
    for step_id, key, request_id, app, entity, record_id, transition_key, requester in rows:
        try:
            et = registry.entity(app, entity)
            _, approval = _approval_of(et, transition_key)
        except (NotFound, TransitionRefused):
            continue
        step_def: ApprovalStep | None = approval.step(key)
        if step_def is None:
            continue
        # Lock the request like a decision does, then look again: a decision (or another
        # sweep) may have closed the step since the rows above were read.
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(R.c.id).where(R.c.id == request_id).with_for_update())
        still = conn.execute(
            sa.select(S.c.id)
            .join(R, R.c.id == S.c.request_id)
            .where((S.c.id == step_id) & (S.c.status == PENDING) & S.c.escalated_at.is_(None) & (R.c.status == PENDING))
        ).first()
        if still is None:
            continue
        handled += 1
        waiting = [row[0] for row in conn.execute(sa.select(T.c.approver_id).where((T.c.step_id == step_id) & (T.c.status == PENDING)))]
        added: list[int] = []
        if step_def.on_overdue == "escalate" and step_def.escalation_role:
            for user_id in _active(conn, users_with_role(conn, app, step_def.escalation_role)):
                if user_id != requester and _task(conn, step_id, user_id) is None:
                    conn.execute(
                        T.insert().values(
                            step_id=step_id,
                            request_id=request_id,
                            approver_id=user_id,
                            status=PENDING,
                            origin="escalation",
                            note="added: step overdue",
                            created_at=now,
                        )
                    )
                    added.append(user_id)
        conn.execute(S.update().where(S.c.id == step_id).values(escalated_at=now))
        history.add_entry(
            conn,
            app=app,
            entity=entity,
            record_id=record_id,
            actor_id=None,
            action="overdue",
            transition=transition_key,
            comment=f"{step_def.label.get('en')} is overdue",
            at=now,
        )
        notifications.notify(
            conn, [*waiting, *added, requester], kind="approval_overdue", app=app, entity=entity, record_id=record_id,
            message=f"Overdue approval: {step_def.label.get('en')} for record #{record_id}", dedupe=f"overdue:{step_id}",
        )  # fmt: skip
    return handled


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskView:
    id: int
    approver_id: int
    status: str
    origin: str
    note: str | None
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


def get_request(conn: Connection, request_id: int) -> RequestRow:
    row = conn.execute(sa.select(*_REQUEST_COLUMNS).where(R.c.id == request_id)).first()
    if row is None:
        raise NotFound(f"there is no approval request {request_id}")
    return RequestRow(*row)


def timeline(conn: Connection, app: str, entity: str, record_id: int) -> list[RequestView]:
    """Every round of approval of a record, newest first, with steps and each approver."""
    requests = [
        RequestRow(*r)
        for r in conn.execute(
            sa.select(*_REQUEST_COLUMNS)
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
        sa.select(T.c.id, T.c.step_id, T.c.approver_id, T.c.status, T.c.origin, T.c.note, T.c.comment, T.c.decided_at)
        .where(T.c.request_id.in_(ids))
        .order_by(T.c.id)
    ):
        by_step[row.step_id].tasks.append(TaskView(row.id, row.approver_id, row.status, row.origin, row.note, row.comment, row.decided_at))
    return [RequestView(r, steps[r.id]) for r in requests]


@dataclass(frozen=True)
class InboxItem:
    request: RequestRow
    step_key: str
    task_status: str | None


def waiting_for(conn: Connection, user_id: int, limit: int = 200) -> list[InboxItem]:
    rows = conn.execute(
        sa.select(*_REQUEST_COLUMNS, S.c.key, T.c.status)
        .join(T, T.c.request_id == R.c.id)
        .join(S, S.c.id == T.c.step_id)
        .where((T.c.approver_id == user_id) & (T.c.status == PENDING) & (S.c.status == PENDING) & (R.c.status == PENDING))
        .order_by(R.c.created_at)
        .limit(limit)
    )
    return [InboxItem(RequestRow(*row[:15]), row[15], row[16]) for row in rows]


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


def requested_by(conn: Connection, user_id: int, limit: int = 100) -> list[RequestRow]:
    rows = conn.execute(sa.select(*_REQUEST_COLUMNS).where(R.c.requester_id == user_id).order_by(R.c.id.desc()).limit(limit))
    return [RequestRow(*row) for row in rows]


def decided_by(conn: Connection, user_id: int, limit: int = 100) -> list[InboxItem]:
    rows = conn.execute(
        sa.select(*_REQUEST_COLUMNS, S.c.key, T.c.status)
        .join(T, T.c.request_id == R.c.id)
        .join(S, S.c.id == T.c.step_id)
        .where((T.c.approver_id == user_id) & T.c.status.in_([APPROVED, REJECTED, AUTO_APPROVED, DELEGATED]))
        .order_by(T.c.decided_at.desc())
        .limit(limit)
    )
    return [InboxItem(RequestRow(*row[:15]), row[15], row[16]) for row in rows]


_OPEN_REQUEST = sa.select(*_REQUEST_COLUMNS).where(
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
