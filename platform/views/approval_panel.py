"""The approval panel of the record page: every round of the record (newest first) with its
steps, approvers, their decisions, comments and notes, the values that moved on since
approval was asked, and the actions open to the user. Also the words of statuses and
modes the inbox and board cards share, and the snapshot summary the inbox shows.

What the engine recorded (notes, the rules of who may do what) comes from
`engine.approvals`; here it is worded in the reader's language (`say`, labels with `tr`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup

from flowdeck.engine import approvals, clock, records
from flowdeck.engine.approval_core import ESCALATED_NOTE, FALLBACK_NOTE, NO_LONGER_REQUIRED, OVERDUE_NOTE
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.messages import Message
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Entity, Field, Transition
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.display import DisplayContext, show
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, tr
from flowdeck.views.record_forms import names_for

# -- words shared by the inbox, the record page and board cards ------------------------------------


def status_words() -> dict[str, str]:
    """Statuses of requests, steps and approvers' tasks, in the user's language."""
    return {
        "pending": _("Pending"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "withdrawn": _("Withdrawn"),
        "reset": _("Reset by an edit"),
        "cancelled": _("Cancelled"),
        "waiting": _("Not started"),
        "skipped": _("Not needed"),
        "sent_back": _("Sent back"),
        "auto_approved": _("Approved automatically"),
        "voided": _("No longer needed"),
        "delegated": _("Delegated"),
        "handed_over": _("Handed over"),
    }


def mode_text(mode: str, quorum: int | None, total: int | None = None) -> str:
    if mode == "all":
        return _("all must approve (countersign)")
    if mode == "quorum":
        if total:
            return _("%(n)d of %(total)d must approve (quorum)", n=quorum or 1, total=total)
        return _("%(n)d must approve (quorum)", n=quorum or 1)
    return _("any one approves (or-sign)")


# -- values as the approvers saw them -------------------------------------------------------------


def typed(fld: Field, value: Any) -> Any:
    """A snapshot value (JSON) as the typed value `display.show` expects (text if it no
    longer fits the field)."""
    if value is None or value == [] or fld.is_table:
        return value
    kind = FIELD_TYPES[fld.value_type]
    try:
        if isinstance(value, list):
            return [kind.coerce(fld, v) for v in value]
        return kind.coerce(fld, value)
    except (InvalidValue, ValueError, TypeError, ArithmeticError):
        return str(value)


def snapshot_lines(entity: Entity, snapshot: dict[str, Any], names: dict[int, str]) -> list[tuple[str, Markup]]:
    """A readable summary of what the approver decides on: labels and values as the
    record page shows them (long text and line items summarised)."""
    ctx = DisplayContext(app=entity.app, users=names)
    lines = []
    for fld in entity.fields:
        value = snapshot.get(fld.key)
        if value in (None, "", []) or fld.type == "markdown" or fld.type == "attachment":
            continue
        lines.append((tr(fld.label), show(fld, typed(fld, value), ctx)))
    return lines[:12]


# -- the panel -----------------------------------------------------------------------------------------


@dataclass
class ApproverLine:
    """One approver's part in a step."""

    name: str
    status: str
    comment: str | None
    at: dt.datetime | None
    notes: list[str]
    me: bool


@dataclass
class StepLine:
    key: str
    label: str
    position: int
    mode: str
    status: str
    due_at: dt.datetime | None
    approvers: list[ApproverLine]

    @property
    def waiting_on(self) -> list[str]:
        return [a.name for a in self.approvers if a.status == "pending"]

    @property
    def overdue(self) -> bool:
        return self.status == "pending" and self.due_at is not None and self.due_at < clock.now()


@dataclass
class Changed:
    """A value the approvers saw that differs from the record's value now."""

    label: str
    then: Markup
    now: Markup


@dataclass
class Round:
    row: approvals.RequestRow
    transition: str
    requester: str
    steps: list[StepLine]
    changed: list[Changed]

    @property
    def current(self) -> StepLine | None:
        return next((s for s in self.steps if s.status == "pending"), None) if self.row.status == "pending" else None


@dataclass
class Panel:
    rounds: list[Round]
    pending: Round | None
    actions: approvals.Actions | None
    send_back: list[tuple[str, str]]
    """(key, label) of the earlier steps the user may send the pending request back to."""
    back: str


ORIGIN_NOTES = {"escalated": ESCALATED_NOTE, "fallback_role": FALLBACK_NOTE, "escalation": OVERDUE_NOTE}
"""Why a task was given, by origin: shown even after the task's own note changed."""


def _task_notes(task: approvals.TaskView) -> list[str]:
    """Why this person is (or no longer is) an approver, in the reader's language."""
    shown: list[Message | str] = []
    if task.origin in ORIGIN_NOTES:
        shown.append(ORIGIN_NOTES[task.origin])
    if task.note and task.note != NO_LONGER_REQUIRED and task.note not in shown:
        shown.append(task.note)
    elif task.origin == "added" and not shown:
        shown.append(_("added to this step"))
    elif task.origin == "delegated" and not shown:
        shown.append(_("delegated"))
    return [say(note) for note in shown]


def _changed(
    conn: sa.Connection, et: EntityTables, record: records.Record, snapshot: dict[str, Any], hidden: frozenset[str]
) -> list[Changed]:
    fields = approvals.changed_since_asked(et.entity, record, snapshot, hidden)
    if not fields:
        return []
    then = {f.key: typed(f, snapshot.get(f.key)) for f in fields}
    ctx = names_for(conn, et, [then, {f.key: record.values.get(f.key) for f in fields}])
    empty = Markup('<span class="muted">—</span>')
    out = []
    for f in fields:
        old, new = show(f, then[f.key], ctx) or empty, show(f, record.values.get(f.key), ctx) or empty
        # Line items read "3 rows" before and after, long text shows its start: say it changed.
        out.append(Changed(tr(f.label), old, new if str(new) != str(old) else Markup.escape(_("changed"))))
    return out


def record_panel(conn: sa.Connection, et: EntityTables, record: records.Record, actor: Actor) -> Panel | None:
    """Every approval round of the record (newest first), and what the user may do with
    the pending one; None for entities without approval flows or records never asked."""
    entity = et.entity
    workflow = entity.workflow
    if workflow is None or not any(t.approval for t in workflow.transitions):
        return None
    views = approvals.timeline(conn, entity.app, entity.key, record.id)
    if not views:
        return None
    names = approvals.display_names(
        conn, [v.request.requester_id for v in views] + [t.approver_id for v in views for s in v.steps for t in s.tasks]
    )
    hidden = records.access_for(entity, record.state, actor).hidden
    rounds = []
    for view in views:
        row = view.request
        transition: Transition | None = workflow.transition(row.transition)
        approval = transition.approval if transition else None
        steps = []
        for step in view.steps:
            definition = approval.step(step.key) if approval else None
            lines = [
                ApproverLine(
                    name=names.get(t.approver_id, f"#{t.approver_id}"),
                    status=t.status,
                    comment=t.comment,
                    at=t.decided_at,
                    notes=_task_notes(t),
                    me=t.approver_id == actor.user_id,
                )
                for t in step.tasks
            ]
            live = sum(1 for t in step.tasks if t.status not in ("voided", "delegated", "handed_over"))
            steps.append(
                StepLine(
                    key=step.key,
                    label=tr(definition.label) if definition else step.key,
                    position=step.position,
                    mode=mode_text(step.mode, step.quorum, live),
                    status=step.status,
                    due_at=step.due_at,
                    approvers=lines,
                )
            )
        rounds.append(
            Round(
                row=row,
                transition=tr(transition.label) if transition else row.transition,
                requester=names.get(row.requester_id or 0, _("System")),
                steps=steps,
                # Only a pending request can be approved on values that moved on since.
                changed=_changed(conn, et, record, row.snapshot, hidden) if row.status == "pending" else [],
            )
        )
    pending_view = next((v for v in views if v.request.status == "pending"), None)
    pending = next((r for r in rounds if r.row.status == "pending"), None)
    actions, send_back = None, []
    if pending_view is not None and pending is not None:
        transition = workflow.transition(pending_view.request.transition)
        actions = approvals.actions_for(conn, pending_view, transition.approval if transition else None, actor)
        labels = {s.key: s.label for s in pending.steps}
        send_back = [(key, labels.get(key, key)) for key in actions.send_back]
    return Panel(
        rounds=rounds,
        pending=pending,
        actions=actions,
        send_back=send_back,
        back=url_for("records.show", app=entity.app, entity=entity.key, record_id=record.id),
    )
