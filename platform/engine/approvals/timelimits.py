"""The job that runs one stage of an approval step's escalation chain (`approval.stage`),
armed when the step opened (`approval_timers.arm_stages`).

Exactly once per stage and opening: the job's key holds the step, the stage and the step's
due time, so arming again is a no-op, and a job's changes commit with its `done` mark. The
job locks the request like a decision does and looks again: a step decided, withdrawn,
reset or opened again since (another due time) makes it do nothing. A calendar change moves
queued stage jobs in place (`moves.py`); a job it could not move (being run) finds the due
time changed the same way.

Stages: `remind` the waiting approvers; `hand_to_superior` (each waiting task to the
approver's manager, else the head of their department, else the stage's `user`) and
`hand_to` (to a named user), the old task closed as `handed_over`; `notify_admins`;
`overdue` and `add_role` (what `on_overdue` notify and escalate do). Every stage leaves a
history entry; a hand-over names who, to whom and why.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, models, notifications, org
from flowdeck.engine.approval_core import HANDED_OVER, PENDING, YES, R, S, T, _active, note_values, put_task
from flowdeck.engine.approval_timers import STAGE_JOB
from flowdeck.engine.approvals.escalation import OpenStep, flag_overdue
from flowdeck.engine.approvals.rows import approval_of
from flowdeck.engine.durations import duration_words
from flowdeck.engine.errors import NotFound, TransitionRefused
from flowdeck.engine.jobs.kinds import JobContext, JobKind, PermanentError, register
from flowdeck.engine.messages import M, Message, Mp
from flowdeck.engine.registry import registry_for
from flowdeck.engine.schema.model import EscalationStage
from flowdeck.engine.timers import stamp
from flowdeck.engine.webhooks.outgoing import app_admins


def _names(conn: Connection, ids: list[int]) -> dict[int, str]:
    u = models.users
    return {i: str(n) for i, n in conn.execute(sa.select(u.c.id, u.c.display_name).where(u.c.id.in_(ids)))} if ids else {}


def superior_of(conn: Connection, user_id: int) -> int | None:
    """The approver's superior: their manager, else the nearest department head above them."""
    candidates = [*org.manager_chain(conn, user_id)[1:2], *org.heads_upward(conn, user_id)]
    return next((u for u in _active(conn, candidates) if u != user_id), None)


def _user_id(conn: Connection, username: str | None) -> int | None:
    if username is None:
        return None
    u = models.users
    found = conn.execute(sa.select(u.c.id).where((u.c.username == username) & u.c.is_active.is_(True))).scalar()
    return int(found) if found is not None else None


def _log(conn: Connection, step: OpenStep, action: str, message: Message, now: Any) -> None:
    history.add_entry(
        conn, app=step.app, entity=step.entity, record_id=step.record_id, actor_id=None, action=action, transition=step.transition,
        message=message, at=now,
    )  # fmt: skip


def _waiting(conn: Connection, step_id: int) -> list[int]:
    rows = conn.execute(sa.select(T.c.approver_id).where((T.c.step_id == step_id) & (T.c.status == PENDING)).order_by(T.c.id))
    return [int(r[0]) for r in rows]


def _has_task(conn: Connection, step_id: int, user_id: int) -> bool:
    """Whether the user already has a live task in the step (waiting, or approved): a row
    voided by a send-back, handed over or delegated leaves them free to be handed the task."""
    live = (T.c.step_id == step_id) & (T.c.approver_id == user_id) & T.c.status.in_([PENDING, *YES])
    return conn.execute(sa.select(T.c.id).where(live)).first() is not None


def hand_over(conn: Connection, step: OpenStep, stage: EscalationStage, self_approval: bool, now: Any, due: str) -> list[tuple[int, int]]:
    """Hand each waiting task of the step to its approver's superior (or the stage's user);
    returns (from, to) per task handed. A task nobody can take stays, with a history entry.
    The target is told once per opening of the step (`due`: its due time's stamp)."""
    fallback = _user_id(conn, stage.user)
    after = duration_words(stage.after)
    label = step.definition.label
    handed: list[tuple[int, int]] = []
    for approver in _waiting(conn, step.step_id):
        target = superior_of(conn, approver) if stage.do == "hand_to_superior" else None
        if target is None or (target == step.requester and not self_approval):
            target = fallback
        taken = target is not None and _has_task(conn, step.step_id, target)
        names = _names(conn, [approver, *([target] if target is not None else [])])
        if target is None or target == approver or taken or (target == step.requester and not self_approval):
            _log(conn, step, "handover_failed",
                 M("step “%(step)s”: no decision by %(from)s within %(after)s, and nobody to hand the task to", step=label,
                   after=after, **{"from": names.get(approver, "")}), now)  # fmt: skip
            continue
        why = M("no decision within %(after)s", after=after)
        conn.execute(
            T.update()
            .where((T.c.step_id == step.step_id) & (T.c.approver_id == approver) & (T.c.status == PENDING))
            .values(status=HANDED_OVER, decided_at=now, **note_values(M("handed over to %(name)s: %(why)s", name=names[target], why=why)))
        )
        put_task(conn, step.step_id, step.request_id, target, status=PENDING, origin="handover", now=now,
                 note=M("handed over from %(name)s: %(why)s", name=names[approver], why=why))  # fmt: skip
        _log(conn, step, "handed_over",
             M("step “%(step)s”: from %(from)s to %(to)s, no decision within %(after)s", step=label, to=names[target], after=after,
               **{"from": names[approver]}), now)  # fmt: skip
        notifications.notify(
            conn, [target], kind="approval", app=step.app, entity=step.entity, record_id=step.record_id,
            message=M("Approval handed to you: step “%(step)s” of record #%(id)s, from %(name)s (no decision within %(after)s)",
                      step=label, id=step.record_id, name=names[approver], after=after),
            dedupe=f"handover:{step.step_id}:{approver}:{due}",
        )  # fmt: skip
        handed.append((approver, target))
    return handed


def _run(conn: Connection, step: OpenStep, stage: EscalationStage, index: int, due: str, self_approval: bool, now: Any) -> dict[str, Any]:
    label, after = step.definition.label, duration_words(stage.after)
    where = dict(app=step.app, entity=step.entity, record_id=step.record_id)
    if stage.do == "remind":
        waiting = _waiting(conn, step.step_id)
        said = M("step “%(step)s”: the waiting approvers were reminded after %(after)s", step=label, after=after)
        _log(conn, step, "reminded", said, now)
        sent = notifications.notify(
            conn, waiting, kind="approval_reminder", **where, dedupe=f"remind:{step.step_id}:{index}:{due}",
            message=M("Reminder: step “%(step)s” of record #%(id)s has waited for your decision for %(after)s", step=label,
                      id=step.record_id, after=after),
        )  # fmt: skip
        return {"reminded": sent}
    if stage.do in ("hand_to_superior", "hand_to"):
        return {"handed": len(hand_over(conn, step, stage, self_approval, now, due))}
    if stage.do == "notify_admins":
        _log(conn, step, "admins_notified", M("step “%(step)s”: the app admins were told after %(after)s", step=label, after=after), now)
        sent = notifications.notify(
            conn, app_admins(conn, step.app), kind="approval_overdue", **where, dedupe=f"admins:{step.step_id}:{index}:{due}",
            message=M("Approval stuck: step “%(step)s” of record #%(id)s has had no decision for %(after)s", step=label,
                      id=step.record_id, after=after),
        )  # fmt: skip
        return {"notified": sent}
    return {"added": len(flag_overdue(conn, step, stage.role if stage.do == "add_role" else None, now, due))}


def run_stage(conn: Connection, payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """The job of one stage: nothing when the step was decided or opened again since."""
    try:
        step_id, index, due = int(payload["step"]), int(payload["stage"]), str(payload["due"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError("the payload names no approval stage") from exc
    request_id = conn.execute(sa.select(S.c.request_id).where(S.c.id == step_id)).scalar()
    if request_id is None:
        return {"skipped": "step_gone"}
    if conn.dialect.name == "postgresql":  # the lock a decision takes: one after the other
        conn.execute(sa.select(R.c.id).where(R.c.id == request_id).with_for_update())
    row = conn.execute(
        sa.select(S.c.key, S.c.status, S.c.due_at, R.c.status, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.requester_id)
        .join(R, R.c.id == S.c.request_id)
        .where(S.c.id == step_id)
    ).one()
    key, step_status, due_at, request_status, app, entity, record_id, transition_key, requester = row
    if step_status != PENDING or request_status != PENDING:
        return {"skipped": "decided"}
    if due_at is None or stamp(due_at) != due:
        return {"skipped": "opened_again"}
    try:
        _, approval = approval_of(registry_for(conn).entity(app, entity), transition_key)
    except (NotFound, TransitionRefused):
        return {"skipped": "flow_changed"}
    definition = approval.step(key)
    if definition is None or index >= len(definition.escalation):
        return {"skipped": "flow_changed"}
    step = OpenStep(step_id, int(request_id), app, entity, record_id, transition_key, requester, definition)
    return _run(conn, step, definition.escalation[index], index, due, approval.self_approval, context.now)


register(JobKind(STAGE_JOB, Mp("a kind of job", "Approval time limit"), run_stage, max_attempts=5))
