"""Asking for approval of a transition, and taking the request back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from flowdeck.engine import history, notifications
from flowdeck.engine.approval_core import APPROVED, PENDING, WITHDRAWN, acted_approvers, close_round, create_round, pending_approvers
from flowdeck.engine.approvals.rows import ApprovalClosed, Outcome, approval_of, closed_message, context, lock_request, now_or, tell
from flowdeck.engine.constraints import check_constraints
from flowdeck.engine.errors import Forbidden
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor, FieldAccess
from flowdeck.engine.records import Record, fetch_record, save_values
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import apply_transition, check_transition, find_transition, refuse_if_pending


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
    now = now_or(now)
    if record is None or record.id != record_id:
        record = fetch_record(conn, et, record_id, for_update=True)
    transition = find_transition(et, record, transition_key, actor)
    _, approval = approval_of(et, transition_key)
    refuse_if_pending(conn, et, record)
    given, comment = check_transition(conn, et, record, transition, actor=actor, values=values, comment=comment)
    # Rules across records are told now, not only when the last approver decides (then
    # they are checked again, against the records as they are at that moment).
    system = {**record.system(actor.user_id), "state": transition.to}
    check_constraints(
        conn, et, {**record.values, **given}, system, record_id=record.id, changed=set(given), transition=transition.key, state_changed=True
    )
    if given or (expected_version is not None and expected_version != record.version):
        record = save_values(
            conn, et, record, given, actor=actor, expected_version=expected_version, access=FieldAccess(), now=now, action="update"
        )
    ctx = context(et, transition, approval, record, actor.user_id)
    request_id, status = create_round(conn, ctx, state=record.state, version=record.version, comment=comment, now=now)
    if status == PENDING:
        tell(conn, ctx, "approval.requested", request_id=request_id, actor=actor, at=now)
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
            message=M("every step was approved at once"),
            at=now,
        )
    given_now, _ = check_transition(conn, et, record, transition, actor=actor, values=None, comment=comment)
    done = apply_transition(conn, et, record, transition, given_now, actor=actor, comment=comment, expected_version=None, now=now)
    return Outcome(request_id, APPROVED, done)


def withdraw(conn: Connection, et: EntityTables, request_id: int, *, actor: Actor, now: dt.datetime | None = None) -> Outcome:
    """The requester (or an admin) takes a pending request back; its open tasks end. Every
    approver still asked and every one who already decided is told."""
    now = now_or(now)
    request = lock_request(conn, et, request_id)
    if request.status != PENDING:
        if request.status == WITHDRAWN and actor.user_id == request.requester_id:
            return Outcome(request.id, WITHDRAWN, duplicate=True)
        raise ApprovalClosed(closed_message(request))
    if actor.user_id != request.requester_id and not actor.is_admin:
        raise Forbidden(M("only the requester can withdraw this request"))
    told = [u for u in dict.fromkeys(pending_approvers(conn, request.id) + acted_approvers(conn, request.id)) if u != actor.user_id]
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
        message=M("Withdrawn: the approval request for record #%(id)s no longer needs you", id=request.record_id),
        dedupe=f"withdrawn:{request.id}",
    )  # fmt: skip
    return Outcome(request.id, WITHDRAWN)
