"""The approval machinery below records and workflows: who approves a step, how a step's
decisions add up, and creating or resetting a round.

`approvals.py` builds the services on top (request, decide, withdraw...). This module does
not import records or workflow, so `records.update_record` can ask it whether an edit
touches a frozen field of a pending request without an import cycle.

A round is one `fd_approval_requests` row with its steps (`fd_approval_steps`, only those
whose `when` held) and one task per approver and step (`fd_approval_tasks`). Steps are
activated one after another; approvers are resolved when their step is activated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, models, notifications, org, users
from flowdeck.engine.approval_timers import arm_stages
from flowdeck.engine.durations import add_duration
from flowdeck.engine.errors import TransitionRefused
from flowdeck.engine.expressions import ExpressionError
from flowdeck.engine.jsonvalues import to_json
from flowdeck.engine.messages import M, Message
from flowdeck.engine.schema.model import Approval, ApprovalStep, Entity, Transition

R, S, T = models.approval_requests, models.approval_steps, models.approval_tasks

PENDING, APPROVED, REJECTED, WITHDRAWN, RESET, CANCELLED = "pending", "approved", "rejected", "withdrawn", "reset", "cancelled"
WAITING, SKIPPED, SENT_BACK = "waiting", "skipped", "sent_back"
AUTO_APPROVED, VOIDED, DELEGATED, HANDED_OVER = "auto_approved", "voided", "delegated", "handed_over"
YES = (APPROVED, AUTO_APPROVED)

# Why a task is there, or why it ended: stored with the task (`note_json`), shown with it.
NO_LONGER_REQUIRED = M("no longer required")
SENT_BACK_NOTE = M("voided: the request was sent back")
ESCALATED_NOTE = M("escalated: nobody was found for this step, so the requester's superior decides")
FALLBACK_NOTE = M("nobody was found for this step; taken from the fallback role")
OVERDUE_NOTE = M("added because the step was overdue")
NOBODY_NOTES = {
    "escalated": ESCALATED_NOTE,
    "fallback_role": FALLBACK_NOTE,
    "fallback_user": M("nobody was found for this step; sent to the fallback user"),
    "admins": M("nobody was found for this step; sent to the app admins"),
}


def note_values(note: Message | None) -> dict[str, object]:
    """A task's note as the columns store it (the text column is for notes of before)."""
    return {"note": None, "note_json": note.to_json() if note is not None else None}


@dataclass(frozen=True)
class PendingRequest:
    id: int
    transition: str
    snapshot_version: int
    requester_id: int | None


def pending_request(conn: Connection, app: str, entity: str, record_id: int, *, lock: bool = False) -> PendingRequest | None:
    query = sa.select(R.c.id, R.c.transition, R.c.snapshot_version, R.c.requester_id).where(
        (R.c.app == app) & (R.c.entity == entity) & (R.c.record_id == record_id) & (R.c.status == PENDING)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return PendingRequest(*row) if row is not None else None


def frozen_fields(entity: Entity, approval: Approval) -> set[str]:
    """Fields an edit may not change (or that reset the round) while a request is pending."""
    if approval.frozen is None:
        return {f.key for f in entity.fields}
    return set(approval.frozen)


def snapshot_of(entity: Entity, values: Mapping[str, Any], state: str | None) -> dict[str, Any]:
    """What the approvers see and decide on: every value, as JSON."""
    snap: dict[str, Any] = {"state": state}
    for fld in entity.fields:
        value = values.get(fld.key)
        if fld.is_table:
            snap[fld.key] = [
                {k: to_json(fld.child(k), v) for k, v in row.items() if k != "id" and any(c.key == k for c in fld.fields)}
                for row in value or []
            ]
        else:
            snap[fld.key] = to_json(fld, value)
    return snap


# -- who approves ----------------------------------------------------------------------------


@dataclass
class Resolution:
    approvers: list[int] = field(default_factory=list)
    notes: dict[int, Message] = field(default_factory=dict)
    origin: dict[int, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


def _active(conn: Connection, ids: Iterable[int]) -> list[int]:
    ids = list(dict.fromkeys(i for i in ids if i is not None))
    if not ids:
        return []
    u = models.users
    found = {row[0] for row in conn.execute(sa.select(u.c.id).where(u.c.id.in_(ids) & u.c.is_active.is_(True)))}
    return [i for i in ids if i in found]


def _source_users(conn: Connection, app: str, step: ApprovalStep, values: Mapping[str, Any], requester: int | None) -> list[int]:
    found: list[int] = []
    for source in step.approvers:
        if source.role is not None:
            found += users.users_with_role(conn, app, source.role)
        elif source.users:
            u = models.users
            by_name = {n: i for i, n in conn.execute(sa.select(u.c.id, u.c.username).where(u.c.username.in_(source.users)))}
            found += [by_name[n] for n in source.users if n in by_name]
        elif source.field is not None:
            value = values.get(source.field)
            found += value if isinstance(value, list) else ([value] if value is not None else [])
        elif source.relation is not None and requester is not None:
            found += _relation(conn, source.relation, requester)
    return _active(conn, found)


def _relation(conn: Connection, relation: str, requester: int) -> list[int]:
    """The requester's manager, the head of their department, or of its parent."""
    if relation == "manager":
        return org.manager_chain(conn, requester)[1:2]
    department = org.department_of(conn, requester)
    if department is None:
        return []
    if relation == "parent_department_head":
        parents = org.ancestors(conn, department)
        if not parents:
            return []
        department = parents[0]
    head = org.head_of(conn, department)
    return [head] if head is not None else []


def resolve_step(
    conn: Connection, app: str, step: ApprovalStep, approval: Approval, values: Mapping[str, Any], requester: int | None
) -> Resolution:
    """The approvers of a step for this record and requester.

    The requester is taken out unless the schema allows self-approval; a step left with
    nobody goes to its `if_nobody` role, else up the requester's chain of department heads
    (the requester's superior). Raises TransitionRefused when still nobody can approve.
    """
    result = Resolution()
    approvers = _source_users(conn, app, step, values, requester)
    if requester in approvers and not approval.self_approval:
        approvers.remove(requester)
        result.events.append("requester_excluded")
    if not approvers:
        if step.if_nobody == "skip":
            result.events.append("skipped")
            return result
        approvers, origin = _nobody_found(conn, app, step, requester)
        if not approval.self_approval:
            approvers = [u for u in approvers if u != requester]
        for user_id in approvers:
            result.origin[user_id] = origin
            result.notes[user_id] = NOBODY_NOTES[origin]
        result.events.append(origin)
    if not approvers:
        raise TransitionRefused(
            M("nobody can approve step “%(step)s”: no active user matches and there is no one to escalate to", step=step.label)
        )
    if step.mode == "quorum" and step.quorum is not None and len(approvers) < step.quorum:
        raise TransitionRefused(
            M(
                "step “%(step)s” needs %(quorum)s approvals but only %(count)s people can approve",
                step=step.label,
                quorum=step.quorum,
                count=len(approvers),
            )
        )
    result.approvers = approvers
    for user_id in approvers:
        result.origin.setdefault(user_id, "route")
    return result


def _nobody_found(conn: Connection, app: str, step: ApprovalStep, requester: int | None) -> tuple[list[int], str]:
    """Whom a step with nobody to approve goes to, by its `if_nobody`, and the task origin."""
    if step.if_nobody == "role" and step.if_nobody_role is not None:
        return _active(conn, users.users_with_role(conn, app, step.if_nobody_role)), "fallback_role"
    if step.if_nobody == "user":
        u = models.users
        return _active(conn, conn.execute(sa.select(u.c.id).where(u.c.username == step.if_nobody_user)).scalars()), "fallback_user"
    if step.if_nobody == "admins":
        u = models.users
        return _active(conn, conn.execute(sa.select(u.c.id).where(u.c.is_admin).order_by(u.c.id)).scalars()), "admins"
    heads = _active(conn, org.heads_upward(conn, requester))[:5] if requester is not None else []
    return [u for u in heads if u != requester][:1], "escalated"


def outcome(mode: str, quorum: int | None, statuses: Sequence[str]) -> str | None:
    """ "approved", "rejected" or None (still open) for a step's task statuses."""
    live = [s for s in statuses if s not in (VOIDED, DELEGATED, HANDED_OVER)]
    yes = sum(1 for s in live if s in YES)
    no = sum(1 for s in live if s == REJECTED)
    if mode == "any":
        if yes:
            return APPROVED
        return REJECTED if no else None
    if mode == "all":
        if no:
            return REJECTED
        return APPROVED if live and yes == len(live) else None
    needed = quorum or 1
    if yes >= needed:
        return APPROVED
    return REJECTED if len(live) - no < needed else None


# -- rounds ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundContext:
    """What activating steps needs to know about the record and the request."""

    app: str
    entity: Entity
    transition: Transition
    approval: Approval
    record_id: int
    title: str
    values: Mapping[str, Any]
    requester: int | None


def _env(values: Mapping[str, Any], state: str | None, me: int | None) -> dict[str, Any]:
    return {**values, "state": state, "me": me}


def step_applies(step: ApprovalStep, env: Mapping[str, Any]) -> bool:
    if step.when is None:
        return True
    try:
        return bool(step.when.evaluate(env))
    except ExpressionError:
        return True


def approved_in_round(conn: Connection, request_id: int) -> dict[int, str]:
    """Approvers who already approved a step of this round, with that step's key."""
    rows = conn.execute(
        sa.select(T.c.approver_id, S.c.key).join(S, S.c.id == T.c.step_id).where((T.c.request_id == request_id) & (T.c.status == APPROVED))
    )
    return {user_id: key for user_id, key in rows}


def step_statuses(conn: Connection, step_id: int) -> list[str]:
    return [row[0] for row in conn.execute(sa.select(T.c.status).where(T.c.step_id == step_id))]


def _times_sent_back(conn: Connection, ctx: RoundContext) -> int:
    """How often the record was sent back so far (history only grows). A step starts at most
    once between two send-backs, so this tells a step's activations apart: its approvers
    are asked again when it starts again, not taken for a repeated notification."""
    h = models.history
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                (h.c.app == ctx.app) & (h.c.entity == ctx.entity.key) & (h.c.record_id == ctx.record_id) & (h.c.action == "sent_back")
            )
        ).scalar()
        or 0
    )


def activate(conn: Connection, ctx: RoundContext, request_id: int, position: int, now: dt.datetime, actor_id: int | None) -> str:
    """Activate steps from `position` on until one waits for people; returns "pending" or
    "approved" (every remaining step was approved at once, e.g. by de-duplication)."""
    steps = conn.execute(
        sa.select(S.c.id, S.c.position, S.c.key).where((S.c.request_id == request_id) & (S.c.position >= position)).order_by(S.c.position)
    ).all()
    for step_id, step_position, key in steps:
        step = ctx.approval.step(key)
        assert step is not None
        resolution = resolve_step(conn, ctx.app, step, ctx.approval, ctx.values, ctx.requester)
        if not resolution.approvers:  # if_nobody: skip
            conn.execute(S.update().where(S.c.id == step_id).values(status=SKIPPED, completed_at=now))
            _log(conn, ctx, "step_skipped", actor_id=None, message=_event_message("skipped", step), now=now)
            continue
        already = approved_in_round(conn, request_id)
        due = now + dt.timedelta(hours=step.due_hours) if step.due_hours else None
        if step.time_limit is not None:
            due = add_duration(now, step.time_limit)
            arm_stages(conn, step_id, step, now, due)
        conn.execute(S.update().where(S.c.id == step_id).values(status=PENDING, due_at=due, escalated_at=None))  # a new opening
        conn.execute(R.update().where(R.c.id == request_id).values(current_step=step_position))
        new_tasks: list[int] = []
        for user_id in resolution.approvers:
            if user_id in already:
                earlier = ctx.approval.step(already[user_id])
                earlier_label = earlier.label if earlier is not None else already[user_id]
                put_task(
                    conn, step_id, request_id, user_id, status=AUTO_APPROVED, origin="dedupe", now=now,
                    note=M("approved automatically: already approved step “%(step)s” in this round", step=earlier_label),
                    decided_version=_snapshot_version(conn, request_id),
                )  # fmt: skip
                _log(
                    conn,
                    ctx,
                    "auto_approved",
                    actor_id=user_id,
                    message=M("step “%(step)s”: already approved step “%(earlier)s” in this round", step=step.label, earlier=earlier_label),
                    now=now,
                )
            else:
                put_task(
                    conn,
                    step_id,
                    request_id,
                    user_id,
                    status=PENDING,
                    origin=resolution.origin[user_id],
                    now=now,
                    note=resolution.notes.get(user_id),
                )
                new_tasks.append(user_id)
        for event in resolution.events:
            _log(conn, ctx, EVENT_ACTIONS[event], actor_id=None, message=_event_message(event, step), now=now)
        result = outcome(step.mode, step.quorum, step_statuses(conn, step_id))
        if result == APPROVED:
            conn.execute(S.update().where(S.c.id == step_id).values(status=APPROVED, completed_at=now))
            continue
        notifications.notify(
            conn,
            new_tasks,
            kind="approval",
            app=ctx.app,
            entity=ctx.entity.key,
            record_id=ctx.record_id,
            actor_id=ctx.requester,
            message=M(
                "Approval needed: %(transition)s of “%(title)s” (%(step)s)",
                transition=ctx.transition.label,
                title=ctx.title,
                step=step.label,
            ),
            dedupe=f"task:{request_id}:{step_id}:{_times_sent_back(conn, ctx)}",
        )
        return PENDING
    return APPROVED


EVENT_ACTIONS = {
    "escalated": "escalated",
    "fallback_role": "escalated",
    "fallback_user": "escalated",
    "admins": "escalated",
    "requester_excluded": "self_excluded",
}
"""The history action of each event of resolving a step's approvers."""


def _event_message(event: str, step: ApprovalStep) -> Message:
    if event == "escalated":
        return M("step “%(step)s”: no approver found; sent to the requester's superior", step=step.label)
    if event == "fallback_role":
        return M("step “%(step)s”: no approver found; sent to the fallback role %(role)s", step=step.label, role=step.if_nobody_role)
    if event == "fallback_user":
        return M("step “%(step)s”: no approver found; sent to the fallback user %(user)s", step=step.label, user=step.if_nobody_user)
    if event == "admins":
        return M("step “%(step)s”: no approver found; sent to the app admins", step=step.label)
    if event == "skipped":
        return M("step “%(step)s”: no approver found; skipped, as the step says (if_nobody: skip)", step=step.label)
    return M("step “%(step)s”: the requester cannot approve their own request", step=step.label)


def put_task(
    conn: Connection,
    step_id: int,
    request_id: int,
    user_id: int,
    *,
    status: str,
    origin: str,
    now: dt.datetime,
    note: Message | None = None,
    decided_version: int | None = None,
) -> None:
    """Give `user_id` a task in the step; a step activated again (sent back) reuses the
    approver's earlier row, whose old decision was voided."""
    decided_at = now if status != PENDING else None
    values = {
        "status": status,
        "origin": origin,
        **note_values(note),
        "comment": None,
        "decided_at": decided_at,
        "decided_version": decided_version,
    }
    updated = conn.execute(T.update().where((T.c.step_id == step_id) & (T.c.approver_id == user_id)).values(values))
    if updated.rowcount == 0:
        conn.execute(T.insert().values(step_id=step_id, request_id=request_id, approver_id=user_id, created_at=now, **values))


def _snapshot_version(conn: Connection, request_id: int) -> int:
    return int(conn.execute(sa.select(R.c.snapshot_version).where(R.c.id == request_id)).scalar() or 1)


def _log(
    conn: Connection,
    ctx: RoundContext,
    action: str,
    *,
    actor_id: int | None,
    now: dt.datetime,
    message: Message | None = None,
    comment: str | None = None,
) -> None:
    history.add_entry(
        conn,
        app=ctx.app,
        entity=ctx.entity.key,
        record_id=ctx.record_id,
        actor_id=actor_id,
        action=action,
        transition=ctx.transition.key,
        message=message,
        comment=comment,
        at=now,
    )


def create_round(
    conn: Connection, ctx: RoundContext, *, state: str | None, version: int, comment: str | None, now: dt.datetime
) -> tuple[int | None, str]:
    """Start a round. Returns (request id, "pending") or (id or None, "approved") when no
    step applies or every step approved at once; the caller then runs the transition."""
    env = _env(ctx.values, state, ctx.requester)
    steps = [s for s in ctx.approval.steps if step_applies(s, env)]
    if not steps:
        return None, APPROVED
    for step in steps[1:]:
        # Later steps are resolved again when they start; refuse now a request that could
        # never get past one of them, instead of refusing its earlier approvers later.
        resolve_step(conn, ctx.app, step, ctx.approval, ctx.values, ctx.requester)
    rounds = conn.execute(
        sa.select(sa.func.count()).where(
            (R.c.app == ctx.app)
            & (R.c.entity == ctx.entity.key)
            & (R.c.record_id == ctx.record_id)
            & (R.c.transition == ctx.transition.key)
        )
    ).scalar()
    request_id = int(
        conn.execute(
            R.insert().values(
                app=ctx.app,
                entity=ctx.entity.key,
                record_id=ctx.record_id,
                transition=ctx.transition.key,
                round=int(rounds or 0) + 1,
                status=PENDING,
                requester_id=ctx.requester,
                from_state=state,
                snapshot=snapshot_of(ctx.entity, ctx.values, state),
                snapshot_version=version,
                current_step=0,
                comment=comment,
                created_at=now,
            )
        ).inserted_primary_key[0]
    )
    for position, step in enumerate(steps):
        conn.execute(
            S.insert().values(request_id=request_id, position=position, key=step.key, mode=step.mode, quorum=step.quorum, status=WAITING)
        )
    skipped = [s.label for s in ctx.approval.steps if s not in steps]
    said = M("steps not needed: %(steps)s", steps=skipped) if skipped else None
    _log(conn, ctx, "approval_requested", actor_id=ctx.requester, message=said, comment=comment, now=now)
    status = activate(conn, ctx, request_id, 0, now, ctx.requester)
    return request_id, status


def close_round(conn: Connection, request_id: int, status: str, now: dt.datetime) -> None:
    """End a round: its open steps and tasks are voided (they are no longer required)."""
    conn.execute(R.update().where(R.c.id == request_id).values(status=status, decided_at=now))
    conn.execute(
        S.update().where((S.c.request_id == request_id) & S.c.status.in_([PENDING, WAITING])).values(status=SKIPPED, completed_at=now)
    )
    conn.execute(
        T.update()
        .where((T.c.request_id == request_id) & (T.c.status == PENDING))
        .values(status=VOIDED, decided_at=now, **note_values(NO_LONGER_REQUIRED))
    )


def pending_approvers(conn: Connection, request_id: int) -> list[int]:
    return [row[0] for row in conn.execute(sa.select(T.c.approver_id).where((T.c.request_id == request_id) & (T.c.status == PENDING)))]


def acted_approvers(conn: Connection, request_id: int) -> list[int]:
    """Approvers who approved or rejected in this round, in the order they decided."""
    rows = conn.execute(
        sa.select(T.c.approver_id)
        .where((T.c.request_id == request_id) & T.c.status.in_([APPROVED, REJECTED]))
        .order_by(T.c.decided_at, T.c.id)
    )
    return [row[0] for row in rows]


def reset_round(
    conn: Connection, ctx: RoundContext, pending: PendingRequest, *, state: str | None, version: int, actor_id: int | None, now: dt.datetime
) -> int | None:
    """The record changed under a pending request whose schema says `on_edit: reset`: the
    collected approvals no longer count; a new round starts on the new values and the
    approvers are told."""
    told = pending_approvers(conn, pending.id) + [
        row[0] for row in conn.execute(sa.select(T.c.approver_id).where((T.c.request_id == pending.id) & T.c.status.in_(YES)))
    ]
    close_round(conn, pending.id, RESET, now)
    _log(
        conn,
        ctx,
        "approval_reset",
        actor_id=actor_id,
        message=M("the record was edited while approval was pending; approvals start again"),
        now=now,
    )
    notifications.notify(
        conn,
        told,
        kind="approval_reset",
        app=ctx.app,
        entity=ctx.entity.key,
        record_id=ctx.record_id,
        actor_id=actor_id,
        message=M("“%(title)s” was edited while waiting for approval: earlier approvals were reset", title=ctx.title),
        dedupe=f"reset:{pending.id}",
    )
    request_id, status = create_round(conn, ctx, state=state, version=version, comment=None, now=now)
    if status != PENDING:
        raise TransitionRefused(
            M("after this edit no approval step applies any more; withdraw the request and perform the transition instead")
        )
    return request_id
