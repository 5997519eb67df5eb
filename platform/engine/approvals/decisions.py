"""An approver's decision on the current step: approve, reject, or send the request back to
an earlier step (see the package docstring for how racing decisions are kept apart)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, notifications
from flowdeck.engine.approval_core import (
    APPROVED,
    NO_LONGER_REQUIRED,
    PENDING,
    REJECTED,
    SENT_BACK,
    SENT_BACK_NOTE,
    VOIDED,
    WAITING,
    YES,
    R,
    RoundContext,
    S,
    T,
    activate,
    close_round,
    note_values,
    outcome,
    step_statuses,
)
from flowdeck.engine.approvals.handovers import lock_my_task
from flowdeck.engine.approvals.queries import display_names
from flowdeck.engine.approvals.rows import (
    STEP_CLOSED,
    ApprovalClosed,
    Outcome,
    RequestRow,
    approval_of,
    closed_message,
    complete,
    context,
    current_step,
    lock_request,
    now_or,
    task_of,
    tell,
)
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor, FieldAccess
from flowdeck.engine.records import fetch_record, save_values
from flowdeck.engine.schema.model import Approval
from flowdeck.engine.storage.tables import EntityTables


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
    """Approve or reject as one approver of the current step (see the package docstring)."""
    now = now_or(now)
    wanted = APPROVED if approve else REJECTED
    comment = (comment or "").strip() or None
    request = lock_request(conn, et, request_id)
    transition, approval = approval_of(et, request.transition)
    step = current_step(conn, request) if request.status == PENDING else None
    mine = task_of(conn, step.id, actor.user_id) if step is not None else None
    if mine is None or mine.status != PENDING:
        earlier = conn.execute(
            sa.select(T.c.status, T.c.comment)
            .where((T.c.request_id == request.id) & (T.c.approver_id == actor.user_id) & (T.c.status == wanted))
            .order_by(T.c.id.desc())
        ).first()
        if earlier is not None and (earlier.comment or None) == comment:
            return Outcome(request.id, request.status, None, duplicate=True)
        if mine is None and request.status == REJECTED:
            late = _late_vote(conn, et, request, actor=actor, wanted=wanted, comment=comment, now=now)
            if late is not None:
                return late
        if request.status != PENDING:
            raise ApprovalClosed(closed_message(request))
        if actor.user_id == request.requester_id and not approval.self_approval:
            raise Forbidden(M("you cannot approve or reject your own request"))
        if mine is None:
            raise Forbidden(M("you are not an approver of the current step"))
        raise ApprovalClosed(STEP_CLOSED)
    assert step is not None
    if not approve and not comment:
        raise RecordInvalid({"comment": [M("a rejection needs a comment saying why")]})
    updated = conn.execute(
        T.update()
        .where((T.c.id == mine.id) & (T.c.status == PENDING))
        .values(status=wanted, comment=comment, decided_at=now, decided_version=request.snapshot_version)
    )
    if updated.rowcount != 1:
        raise ApprovalClosed(STEP_CLOSED)
    step_def = approval.step(step.key)
    assert step_def is not None
    record = fetch_record(conn, et, request.record_id, for_update=True)
    ctx = context(et, transition, approval, record, request.requester_id)
    history.add_entry(
        conn, app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id, action=wanted, transition=transition.key,
        message=M("step “%(step)s”", step=step_def.label), comment=comment, at=now,
    )  # fmt: skip
    result = outcome(step.mode, step.quorum, step_statuses(conn, step.id))
    if result is None:
        return Outcome(request.id, PENDING, record)
    conn.execute(S.update().where(S.c.id == step.id).values(status=result, completed_at=now))
    tell(conn, ctx, "approval.step_decided", request_id=request.id, actor=actor, at=now, step=step.key, outcome=result)
    conn.execute(
        T.update()
        .where((T.c.step_id == step.id) & (T.c.status == PENDING))
        .values(status=VOIDED, decided_at=now, **note_values(NO_LONGER_REQUIRED))
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
        raise TransitionRefused(M("some approvals were given to an earlier version of this record; they do not count"))
    done = complete(conn, et, transition, request.record_id, actor=actor, requester=request.requester_id, now=now)
    close_round(conn, request.id, APPROVED, now)
    notifications.notify(
        conn, [request.requester_id], kind="approval_done", app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id,
        message=M("Approved: %(transition)s of “%(title)s”", transition=transition.label, title=ctx.title), dedupe=f"approved:{request.id}",
    )  # fmt: skip
    tell(conn, ctx, "approval.decided", request_id=request.id, actor=actor, at=now, outcome=APPROVED)
    return Outcome(request.id, APPROVED, done)


def late_note(wanted: str) -> Message:
    """What a task keeps of a vote that came after the deciding rejection."""
    if wanted == APPROVED:
        return M("approved after the decision was made: it does not count")
    return M("rejected after the decision was made: it does not count")


def _late_vote(
    conn: Connection, et: EntityTables, request: RequestRow, *, actor: Actor, wanted: str, comment: str | None, now: dt.datetime
) -> Outcome | None:
    """A vote by an approver of an "all must approve" step whose task the deciding rejection
    voided, arriving in the same moment (it waited on the request's lock): it changes
    nothing, but it is not lost. The task keeps it as its note and the history says it
    arrived after the decision. None when the actor had no such task, or the record was
    asked for again since (the vote is then simply too late)."""
    task = conn.execute(
        sa.select(T.c.id, T.c.note_json, T.c.comment)
        .join(S, S.c.id == T.c.step_id)
        .where(
            (T.c.request_id == request.id)
            & (T.c.approver_id == actor.user_id)
            & (T.c.status == VOIDED)
            & (S.c.status == REJECTED)
            & (S.c.mode == "all")
        )
        .order_by(T.c.id.desc())
    ).first()
    newer = conn.execute(
        sa.select(R.c.id).where(
            (R.c.app == request.app) & (R.c.entity == request.entity) & (R.c.record_id == request.record_id) & (R.c.id > request.id)
        )
    ).first()
    if task is None or newer is not None:
        return None
    note = late_note(wanted)
    if task.note_json is not None and Message.from_json(task.note_json) == note and (task.comment or None) == comment:
        return Outcome(request.id, request.status, None, duplicate=True)
    if task.note_json is not None and Message.from_json(task.note_json) != NO_LONGER_REQUIRED:
        return None
    conn.execute(T.update().where(T.c.id == task.id).values(comment=comment, **note_values(note)))
    history.add_entry(
        conn, app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id, action="late_decision",
        transition=request.transition, message=note, comment=comment, at=now,
    )  # fmt: skip
    return Outcome(request.id, request.status, None, late=True)


def _rejections(conn: Connection, request_id: int) -> list[Message | str]:
    """Every rejector's comment in this round, each with the rejector's name, in the order
    they decided: what the rejection notice says."""
    rows = conn.execute(
        sa.select(T.c.approver_id, T.c.comment)
        .where((T.c.request_id == request_id) & (T.c.status == REJECTED))
        .order_by(T.c.decided_at, T.c.id)
    ).all()
    if len(rows) < 2:
        return [rows[0].comment or ""] if rows else []
    names = display_names(conn, [r.approver_id for r in rows])
    return [M("%(person)s: %(comment)s", person=names.get(r.approver_id, ""), comment=r.comment or "") for r in rows]


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
        actor_id=actor.user_id,
        message=M(
            "Rejected: %(transition)s of “%(title)s”: %(comment)s",
            transition=ctx.transition.label,
            title=ctx.title,
            comment=_rejections(conn, request.id) or comment,
        ),
        dedupe=f"rejected:{request.id}",
    )  # fmt: skip
    tell(conn, ctx, "approval.decided", request_id=request.id, actor=actor, at=now, outcome=REJECTED)
    return Outcome(request.id, REJECTED, record)


def send_back(
    conn: Connection, et: EntityTables, request_id: int, to_step: str, *, actor: Actor, comment: str | None, now: dt.datetime | None = None
) -> Outcome:
    """回退: an approver sends the request back to an earlier step, which decides again."""
    now = now_or(now)
    request, step, approval, transition = lock_my_task(conn, et, request_id, actor)
    if not approval.send_back:
        raise Forbidden(M("this approval flow does not allow sending back"))
    comment = (comment or "").strip() or None
    if comment is None:
        raise RecordInvalid({"comment": [M("say why you send it back")]})
    target = conn.execute(
        sa.select(S.c.position, S.c.key).where((S.c.request_id == request.id) & (S.c.key == to_step) & (S.c.position < step.position))
    ).first()
    if target is None:
        raise RecordInvalid({"to_step": [M("“%(key)s” is not an earlier step of this request", key=to_step)]})
    steps_between = sa.select(S.c.id).where(
        (S.c.request_id == request.id) & (S.c.position >= target.position) & (S.c.position <= step.position)
    )
    conn.execute(
        T.update()
        .where(T.c.step_id.in_(steps_between) & T.c.status.in_([PENDING, *YES]))
        .values(status=VOIDED, decided_at=now, **note_values(SENT_BACK_NOTE))
    )
    conn.execute(S.update().where(S.c.id == step.id).values(status=SENT_BACK, completed_at=now))
    conn.execute(S.update().where(S.c.id.in_(steps_between)).values(status=WAITING, completed_at=None))
    record = fetch_record(conn, et, request.record_id)
    ctx = context(et, transition, approval, record, request.requester_id)
    back_to = approval.step(to_step)
    history.add_entry(
        conn, app=ctx.app, entity=et.entity.key, record_id=record.id, actor_id=actor.user_id, action="sent_back", transition=transition.key,
        message=M("back to %(step)s", step=back_to.label if back_to else to_step), comment=comment, at=now,
    )  # fmt: skip
    activate(conn, ctx, request.id, target.position, now, actor.user_id)
    return Outcome(request.id, PENDING, record)
