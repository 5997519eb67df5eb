"""Approval services: request, decide, withdraw, send back, add an approver, delegate,
escalate overdue steps, and the queries behind the inbox, the record's approval panel and
board cards. The machinery below (who approves a step, rounds) is `approval_core`.

Exactly once: every decision first locks its request row (PostgreSQL `FOR UPDATE`;
SQLite's `BEGIN IMMEDIATE` already serialises writers), then flips its task from pending
with `UPDATE ... WHERE status = 'pending'`. Decisions racing on one step therefore run
one after the other: the first that completes the step runs the transition, a later one
finds its task voided or the step decided and gets ApprovalClosed ("already decided"),
and a repeated identical decision by the same person is answered as a duplicate with no
second effect or notification.

Everything said to a person (refusals, notes, history, notifications) is a `Message`.

    rows.py        the request row, its lock, current step and approval block
    requests.py    request_approval, withdraw
    decisions.py   decide (approve, reject), send_back
    handovers.py   add_approver (加签), delegate
    escalation.py  escalate_overdue (steps with due_hours), flag_overdue
    timelimits.py  the `approval.stage` job: a time limit's escalation chain, hand-overs
    moves.py       a calendar change moving open steps' due times and stage jobs
    queries.py     timeline, the inbox, counts, request_context, display names
    choices.py     what a user may do with a pending request; board marks; changed values
"""

from __future__ import annotations

from flowdeck.engine.approvals.choices import (
    Actions,
    actions_for,
    board_marks,
    changed_since_asked,
    my_pending_task,
    open_request_for,
)
from flowdeck.engine.approvals.decisions import decide, send_back
from flowdeck.engine.approvals.escalation import escalate_overdue
from flowdeck.engine.approvals.handovers import add_approver, delegate
from flowdeck.engine.approvals.queries import (
    INBOX_TABS,
    WAITING_COUNT,
    Inbox,
    InboxItem,
    RequestContext,
    RequestView,
    StepView,
    TaskView,
    decided_by,
    display_names,
    get_request,
    inbox,
    request_context,
    requested_by,
    timeline,
    waiting_count,
    waiting_for,
)
from flowdeck.engine.approvals.requests import request_approval, withdraw
from flowdeck.engine.approvals.rows import ApprovalClosed, Outcome, RequestRow

__all__ = [
    "INBOX_TABS",
    "WAITING_COUNT",
    "Actions",
    "ApprovalClosed",
    "Inbox",
    "InboxItem",
    "Outcome",
    "RequestContext",
    "RequestRow",
    "RequestView",
    "StepView",
    "TaskView",
    "actions_for",
    "add_approver",
    "board_marks",
    "changed_since_asked",
    "decide",
    "decided_by",
    "delegate",
    "display_names",
    "escalate_overdue",
    "get_request",
    "inbox",
    "my_pending_task",
    "open_request_for",
    "request_approval",
    "request_context",
    "requested_by",
    "send_back",
    "timeline",
    "waiting_count",
    "waiting_for",
    "withdraw",
]
