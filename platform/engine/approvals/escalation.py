"""Steps past their due time: handled once each by the periodic sweep (`flowdeck
escalate`): the people concerned are told, and the escalation role is added where the step
says so."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowdeck.engine import history, notifications
from flowdeck.engine.approval_core import OVERDUE_NOTE, PENDING, R, S, T, _active, note_values
from flowdeck.engine.approvals.rows import approval_of, now_or, task_of
from flowdeck.engine.errors import NotFound, TransitionRefused
from flowdeck.engine.messages import M
from flowdeck.engine.registry import Registry
from flowdeck.engine.schema.model import ApprovalStep
from flowdeck.engine.users import users_with_role


def escalate_overdue(conn: Connection, registry: Registry, now: dt.datetime | None = None) -> int:
    """Handle steps past their due time once: notify, or add the escalation role."""
    now = now_or(now)
    rows = conn.execute(
        sa.select(S.c.id, S.c.key, R.c.id, R.c.app, R.c.entity, R.c.record_id, R.c.transition, R.c.requester_id)
        .join(R, R.c.id == S.c.request_id)
        .where(
            (S.c.status == PENDING) & S.c.due_at.is_not(None) & (S.c.due_at < now) & S.c.escalated_at.is_(None) & (R.c.status == PENDING)
        )
    ).all()
    handled = 0
    for step_id, key, request_id, app, entity, record_id, transition_key, requester in rows:
        try:
            et = registry.entity(app, entity)
            _, approval = approval_of(et, transition_key)
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
                if user_id != requester and task_of(conn, step_id, user_id) is None:
                    conn.execute(
                        T.insert().values(
                            step_id=step_id,
                            request_id=request_id,
                            approver_id=user_id,
                            status=PENDING,
                            origin="escalation",
                            created_at=now,
                            **note_values(OVERDUE_NOTE),
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
            message=M("step “%(step)s”", step=step_def.label),
            at=now,
        )
        notifications.notify(
            conn, [*waiting, *added, requester], kind="approval_overdue", app=app, entity=entity, record_id=record_id,
            message=M("Overdue approval: %(step)s for record #%(id)s", step=step_def.label, id=record_id), dedupe=f"overdue:{step_id}",
        )  # fmt: skip
    return handled
