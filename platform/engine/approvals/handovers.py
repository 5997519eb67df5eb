"""An approver brings someone else into the current step: 加签 (add an approver, who must
then decide too) or delegation (the approver's decision passes to someone else)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, models, notifications
from flowdeck.engine.approval_core import DELEGATED, PENDING, T, note_values
from flowdeck.engine.approvals.rows import (
    ApprovalClosed,
    Outcome,
    RequestRow,
    Step,
    approval_of,
    closed_message,
    current_step,
    lock_request,
    now_or,
    task_of,
)
from flowdeck.engine.errors import Forbidden, RecordInvalid
from flowdeck.engine.messages import M, Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Approval, Transition
from flowdeck.engine.storage.tables import EntityTables


def lock_my_task(conn: Connection, et: EntityTables, request_id: int, actor: Actor) -> tuple[RequestRow, Step, Approval, Transition]:
    """The locked request whose current step waits on `actor`, or a refusal."""
    request = lock_request(conn, et, request_id)
    if request.status != PENDING:
        raise ApprovalClosed(closed_message(request))
    transition, approval = approval_of(et, request.transition)
    step = current_step(conn, request)
    mine = task_of(conn, step.id, actor.user_id)
    if mine is None or mine.status != PENDING:
        raise Forbidden(M("you are not a pending approver of the current step"))
    return request, step, approval, transition


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
    now = now_or(now)
    request, step, approval, transition = lock_my_task(conn, et, request_id, actor)
    if not approval.add_approvers:
        raise Forbidden(M("this approval flow does not allow adding approvers"))
    name = _new_approver(conn, request, step, user_id, approval)
    _hand_task(conn, et, request, step, transition, approval, user_id, name, actor=actor, origin="added", comment=comment, now=now)
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
    now = now_or(now)
    request, step, approval, transition = lock_my_task(conn, et, request_id, actor)
    if not approval.delegate:
        raise Forbidden(M("this approval flow does not allow delegating"))
    name = _new_approver(conn, request, step, user_id, approval)
    conn.execute(
        T.update()
        .where((T.c.step_id == step.id) & (T.c.approver_id == actor.user_id))
        .values(status=DELEGATED, decided_at=now, **note_values(M("handed to %(name)s", name=name)))
    )
    _hand_task(conn, et, request, step, transition, approval, user_id, name, actor=actor, origin="delegated", comment=comment, now=now)
    return Outcome(request.id, PENDING)


def _hand_task(
    conn: Connection,
    et: EntityTables,
    request: RequestRow,
    step: Step,
    transition: Transition,
    approval: Approval,
    user_id: int,
    name: str,
    *,
    actor: Actor,
    origin: str,
    comment: str | None,
    now: dt.datetime,
) -> None:
    """Give `user_id` a pending task in the current step (加签 or delegation), log it, tell them."""
    params = {"transition": transition.label, "id": request.record_id, "user": actor.username}
    note: Message
    if origin == "added":
        note = M("added by %(name)s", name=actor.username)
        told = M("Approval needed: %(transition)s of record #%(id)s (added by %(user)s)", **params)
    else:
        note = M("delegated by %(name)s", name=actor.username)
        told = M("Approval needed: %(transition)s of record #%(id)s (delegated by %(user)s)", **params)
    conn.execute(
        T.insert().values(
            step_id=step.id, request_id=request.id, approver_id=user_id, status=PENDING, origin=origin, created_at=now, **note_values(note)
        )
    )
    step_def = approval.step(step.key)
    history.add_entry(
        conn, app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id,
        action={"added": "approver_added", "delegated": "delegated"}[origin], transition=transition.key,
        message=M("to %(name)s, at step “%(step)s”", name=name, step=step_def.label if step_def else step.key), comment=comment, at=now,
    )  # fmt: skip
    notifications.notify(
        conn, [user_id], kind="approval", app=et.entity.app, entity=et.entity.key, record_id=request.record_id, actor_id=actor.user_id,
        message=told, dedupe=f"{origin}:{step.id}:{user_id}",
    )  # fmt: skip


def _new_approver(conn: Connection, request: RequestRow, step: Step, user_id: int, approval: Approval) -> str:
    """The display name of the person brought in, once they may be: active, not the
    requester (unless self-approval is allowed), not yet an approver of this step."""
    u = models.users
    name = conn.execute(sa.select(u.c.display_name).where((u.c.id == user_id) & u.c.is_active.is_(True))).scalar()
    if name is None:
        raise RecordInvalid({"user": [M("no active user with this id")]})
    if user_id == request.requester_id and not approval.self_approval:
        raise RecordInvalid({"user": [M("the requester cannot approve their own request")]})
    if task_of(conn, step.id, user_id) is not None:
        raise RecordInvalid({"user": [M("is already an approver of this step")]})
    return str(name)
