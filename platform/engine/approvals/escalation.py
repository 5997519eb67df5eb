"""Steps past their due time. Steps with `due_hours` (the older way) are handled once each by
the periodic pass (`flowdeck tick`, every worker's minute): the people concerned are told,
and the escalation role is added where the step says so. Steps with `time_limit` are never
swept: their escalation chain is armed as jobs when they open (`approvals/timelimits.py`),
whose `overdue` and `add_role` stages do here what `on_overdue` does."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, notifications
from flowdeck.engine.approval_core import OVERDUE_NOTE, PENDING, R, S, T, _active, note_values
from flowdeck.engine.approvals.rows import approval_of, now_or, task_of
from flowdeck.engine.errors import NotFound, TransitionRefused
from flowdeck.engine.messages import M
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import ApprovalStep
from flowdeck.engine.timers import stamp
from flowdeck.engine.users import users_with_role


@dataclass(frozen=True)
class OpenStep:
    """A pending step and its request, as a stage or the overdue pass acts on it."""

    step_id: int
    request_id: int
    app: str
    entity: str
    record_id: int
    transition: str
    requester: int | None
    definition: ApprovalStep


def _legacy_keys(registry: Registry) -> set[str]:
    """The keys of steps with `due_hours`: the only ones the periodic pass looks at."""
    found: set[str] = set()
    for tables in registry.apps.values():
        for et in tables.entities.values():
            workflow = et.entity.workflow
            for transition in workflow.transitions if workflow else ():
                if transition.approval is not None:
                    found |= {s.key for s in transition.approval.steps if s.due_hours and s.time_limit is None}
    return found


def escalate_overdue(conn: Connection, registry: Registry, now: dt.datetime | None = None) -> int:
    """Handle steps with `due_hours` past their due time once: notify, or add the escalation role."""
    now = now_or(now)
    keys = _legacy_keys(registry)
    if not keys:
        return 0
    rows = conn.execute(
        sa.select(S.c.id, S.c.key, S.c.due_at, R.c.id, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.requester_id)
        .join(R, R.c.id == S.c.request_id)
        .where(
            (S.c.status == PENDING) & S.c.key.in_(sorted(keys)) & S.c.due_at.is_not(None) & (S.c.due_at < now)
            & S.c.escalated_at.is_(None) & (R.c.status == PENDING)
        )
    ).all()  # fmt: skip
    handled = 0
    for step_id, key, due_at, request_id, app, entity, record_id, transition_key, requester in rows:
        try:
            et = registry.entity(app, entity)
            _, approval = approval_of(et, transition_key)
        except (NotFound, TransitionRefused):
            continue
        step_def: ApprovalStep | None = approval.step(key)
        if step_def is None or step_def.time_limit is not None:
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
        role = step_def.escalation_role if step_def.on_overdue == "escalate" else None
        step = OpenStep(step_id, request_id, app, entity, record_id, transition_key, requester, step_def)
        flag_overdue(conn, step, role, now, stamp(due_at))
    return handled


def flag_overdue(conn: Connection, step: OpenStep, role: str | None, now: dt.datetime, due: str) -> list[int]:
    """The step is overdue: the members of `role` (if any) become approvers, the step is
    marked escalated, the history says so, and the waiting approvers, those added and the
    requester are told, once per opening of the step (`due`, the stamp of its due time: a
    step sent back and opened again is told again). Returns who was added."""
    waiting = [row[0] for row in conn.execute(sa.select(T.c.approver_id).where((T.c.step_id == step.step_id) & (T.c.status == PENDING)))]
    added: list[int] = []
    for user_id in _active(conn, users_with_role(conn, step.app, role)) if role else []:
        if user_id != step.requester and task_of(conn, step.step_id, user_id) is None:
            conn.execute(
                T.insert().values(
                    step_id=step.step_id, request_id=step.request_id, approver_id=user_id, status=PENDING, origin="escalation",
                    created_at=now, **note_values(OVERDUE_NOTE),
                )
            )  # fmt: skip
            added.append(user_id)
    conn.execute(S.update().where((S.c.id == step.step_id) & S.c.escalated_at.is_(None)).values(escalated_at=now))
    label = step.definition.label
    history.add_entry(
        conn, app=step.app, entity=step.entity, record_id=step.record_id, actor_id=None, action="overdue", transition=step.transition,
        message=M("step “%(step)s”", step=label), at=now,
    )  # fmt: skip
    notifications.notify(
        conn, [*waiting, *added, step.requester], kind="approval_overdue", app=step.app, entity=step.entity, record_id=step.record_id,
        message=M("Overdue approval: %(step)s for record #%(id)s", step=label, id=step.record_id), dedupe=f"overdue:{step.step_id}:{due}",
    )  # fmt: skip
    return added
