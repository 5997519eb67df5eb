"""The approvals inbox (waiting for me, my requests, decided), deciding from it, and the
in-app notification list; the approval panel of the record page (every round with its
steps, approvers and decisions, and the actions open to the user) and the marks of board
cards. The record page and board cards post to the endpoints here.

Every decision goes through `engine.approvals` in one transaction: a refusal (not an
approver, already decided, a rejection without a comment...) changes nothing and is
answered with a clear message: a toast for htmx, else a page with a way back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.wrappers import Response

from flowdeck.engine import approvals, models, notifications, records, users
from flowdeck.engine.approval_core import snapshot_of
from flowdeck.engine.boards import group_key
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.fieldtypes import FIELD_TYPES, InvalidValue
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Approval, Entity, Field, Transition
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.display import DisplayContext, show
from flowdeck.views.engine_messages import translate
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import lang, tr
from flowdeck.views.lifecycle import is_htmx, registry, render, top_bar_counts
from flowdeck.views.record_forms import names_for
from flowdeck.views.state import engine

bp = Blueprint("approvals", __name__)
TABS = ("waiting", "mine", "decided")
R, S, T = models.approval_requests, models.approval_steps, models.approval_tasks


def init_app(app: Flask) -> None:
    app.jinja_env.globals["nav_counts"] = nav_counts
    app.jinja_env.globals["approval_words"] = status_words


def nav_counts() -> dict[str, int]:
    """Badges of the top bar: approvals waiting on me and unread notifications (once per request)."""
    cached = g.get("_counts")
    if cached is not None:
        return cached
    actor = g.get("actor")
    counts = {"approvals": 0, "notifications": 0}
    if actor is not None and actor.user_id is not None:
        user_id = actor.user_id
        counts = engine().db.read(lambda conn: top_bar_counts(conn, user_id))
    g._counts = counts
    return counts


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
    }


def mode_text(mode: str, quorum: int | None, total: int | None = None) -> str:
    if mode == "all":
        return _("all must approve (countersign)")
    if mode == "quorum":
        if total:
            return _("%(n)d of %(total)d must approve (quorum)", n=quorum or 1, total=total)
        return _("%(n)d must approve (quorum)", n=quorum or 1)
    return _("any one approves (or-sign)")


# -- the inbox ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One request as the inbox shows it."""

    row: approvals.RequestRow
    entity: Entity | None
    transition_label: str
    step_label: str
    title: str
    task_status: str | None
    can_decide: bool
    snapshot: list[tuple[str, Markup]]


def _names(conn: sa.Connection, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    u = models.users
    return dict(conn.execute(sa.select(u.c.id, u.c.display_name).where(u.c.id.in_(wanted))).all())


def _snapshot_lines(entity: Entity, snapshot: dict[str, Any], names: dict[int, str]) -> list[tuple[str, Markup]]:
    """A readable summary of what the approver decides on: labels and values as the
    record page shows them (long text and line items summarised)."""
    ctx = DisplayContext(app=entity.app, users=names)
    lines = []
    for fld in entity.fields:
        value = snapshot.get(fld.key)
        if value in (None, "", []) or fld.type == "markdown" or fld.type == "attachment":
            continue
        lines.append((tr(fld.label), show(fld, _typed(fld, value), ctx)))
    return lines[:12]


def _entity_or_none(app: str, entity: str) -> Entity | None:
    try:
        return registry().entity(app, entity).entity
    except Exception:  # an app or entity removed since the request was made
        return None


def _items(conn: sa.Connection, rows: list[tuple[approvals.RequestRow, str | None, str | None]]) -> tuple[list[Item], dict[int, str]]:
    user_ids: set[int] = set()
    for row, _step, _status in rows:
        if row.requester_id:
            user_ids.add(row.requester_id)
        for value in row.snapshot.values():
            if isinstance(value, int) and not isinstance(value, bool):
                user_ids.add(value)
            elif isinstance(value, list):
                user_ids.update(v for v in value if isinstance(v, int) and not isinstance(v, bool))
    names = _names(conn, user_ids)
    items = []
    for row, step_key, task_status in rows:
        entity = _entity_or_none(row.app, row.entity)
        transition = entity.workflow.transition(row.transition) if entity and entity.workflow else None
        step = transition.approval.step(step_key) if transition and transition.approval and step_key else None
        title_value = row.snapshot.get(entity.title) if entity else None
        items.append(
            Item(
                row=row,
                entity=entity,
                transition_label=transition.label.get(lang()) if transition else row.transition,
                step_label=step.label.get(lang()) if step else (step_key or ""),
                title=str(title_value) if title_value not in (None, "") else f"#{row.record_id}",
                task_status=task_status,
                can_decide=task_status == "pending" and row.status == "pending",
                snapshot=_snapshot_lines(entity, row.snapshot, names) if entity else [],
            )
        )
    return items, names


@bp.get("/approvals")
@login_required
def inbox() -> Response:
    actor = require_actor()
    tab = request.args.get("tab", "waiting")
    if tab not in TABS:
        tab = "waiting"
    user_id = actor.user_id
    assert user_id is not None

    def load(conn: sa.Connection) -> tuple[list[Item], dict[int, str]]:
        if tab == "waiting":
            rows = [(i.request, i.step_key, i.task_status) for i in approvals.waiting_for(conn, user_id)]
        elif tab == "mine":
            rows = [(r, None, None) for r in approvals.requested_by(conn, user_id)]
        else:
            rows = [(i.request, i.step_key, i.task_status) for i in approvals.decided_by(conn, user_id)]
        return _items(conn, rows)

    items, names = engine().db.read(load)
    return render("approvals/inbox.html", "inbox", tab=tab, items=items, names=names, words=status_words())


# -- acting on a request -------------------------------------------------------------------------------


def _back(default: str) -> str:
    """Where to go after acting: the form's `next` if it is a path on this site."""
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else default


def _refused(code: int, message: str) -> Response:
    """A refused action: a toast for htmx; else a page saying why, with a way back."""
    if is_htmx():
        response = Response(message, status=code, mimetype="text/plain")
        response.headers["HX-Trigger"] = json.dumps({"flowdeck:toast": {"message": message, "kind": "error"}})
        return response
    body = render_template("approvals/refused.html", code=code, message=message, back=_back(url_for("approvals.inbox")))
    return Response(body, status=code, mimetype="text/html")


def _messages(exc: RecordInvalid, action: str) -> str:
    """The engine's refusal in the user's language where it is one we know."""
    known = {
        ("decide", "comment"): _("A rejection needs a comment saying why."),
        ("send_back", "comment"): _("Say why you send it back."),
        ("send_back", "to_step"): _("Choose an earlier step of this request to send it back to."),
    }
    out = []
    for key, msgs in exc.errors.items():
        if (action, key) in known:
            out.append(known[(action, key)])
        elif key == "user":
            out.append(_("Person: %(problem)s", problem=", ".join(translate(m) for m in msgs)))
        else:
            out += [translate(m) for m in msgs]
    return "; ".join(out)


def _act(
    request_id: int, action: str, work: Callable[[sa.Connection, EntityTables, Actor], approvals.Outcome]
) -> approvals.Outcome | Response:
    """Run `work` on the request in one transaction; engine refusals become answers
    (nothing is written: the transaction is rolled back). NotFound is answered by
    `views.errors` (404)."""
    actor = require_actor()
    db = engine().db
    row = db.read(lambda conn: approvals.get_request(conn, request_id))
    et = registry().entity(row.app, row.entity)
    try:
        return db.run(lambda conn: work(conn, et, actor))
    except RecordInvalid as exc:
        return _refused(422, _messages(exc, action))
    except approvals.ApprovalClosed as exc:
        return _refused(409, translate(str(exc)))
    except Forbidden as exc:
        return _refused(403, translate(str(exc)))
    except TransitionRefused as exc:
        return _refused(422, translate(str(exc)))


def _done(message: str, target: str, **events: Any) -> Response:
    """After an action: htmx requests reload the page they came from (or, from a board,
    get events telling the board what to refresh); forms are redirected (303)."""
    if is_htmx():
        if events:
            response = Response(status=200)
            response.headers["HX-Trigger"] = json.dumps({"flowdeck:toast": {"message": message, "kind": "ok"}, **events})
            return response
        flash(message, "ok")
        response = Response(status=200)
        response.headers["HX-Redirect"] = target
        return response
    flash(message, "ok")
    return redirect(target, code=303)


def _record_url(row: approvals.RequestRow) -> str:
    return url_for("records.show", app=row.app, entity=row.entity, record_id=row.record_id)


def _board_columns(et: EntityTables, before: str | None, outcome: approvals.Outcome) -> list[str]:
    """The columns a board must redraw after a decision on one of its cards (the card's
    own column is added by the board itself)."""
    view = et.entity.view(request.form.get("board", ""))
    if view is None or view.type != "board" or group_key(view) != "state":
        return []
    after = outcome.record.state if outcome.record is not None else None
    return [s for s in dict.fromkeys([before, after]) if s]


@bp.post("/approvals/<int:request_id>/decide")
@login_required
def decide(request_id: int) -> Response:
    decision = request.form.get("decision")
    if decision not in ("approve", "reject"):
        return _refused(400, _("Choose approve or reject."))
    comment = request.form.get("comment", "")
    before: dict[str, Any] = {}

    def work(conn: sa.Connection, et: EntityTables, actor: Actor) -> approvals.Outcome:
        before["state"] = approvals.get_request(conn, request_id).from_state
        return approvals.decide(conn, et, request_id, actor=actor, approve=decision == "approve", comment=comment)

    result = _act(request_id, "decide", work)
    if isinstance(result, Response):
        return result
    message = {
        "approved": _("Approved. The transition has run."),
        "rejected": _("Rejected."),
        "pending": _("Your decision is recorded."),
    }.get(result.status, _("Your decision is recorded."))
    if result.duplicate:
        message = _("You had already decided this; nothing changed.")
    if request.form.get("board"):
        user_id = require_actor().user_id
        row, waiting = engine().db.read(
            lambda conn: (approvals.get_request(conn, request_id), approvals.waiting_count(conn, user_id) if user_id is not None else 0)
        )
        et = registry().entity(row.app, row.entity)
        columns = _board_columns(et, before.get("state"), result)
        counts = {"approvals": waiting, "approvals_label": _("%(n)d waiting", n=waiting)}
        events = {"flowdeck:card-decided": {"record": row.record_id, "columns": columns}, "flowdeck:counts": counts}
        return _done(message, _back(_record_url(row)), **events)
    return _done(message, _back(url_for("approvals.inbox")))


@bp.post("/approvals/<int:request_id>/withdraw")
@login_required
def withdraw(request_id: int) -> Response:
    result = _act(request_id, "withdraw", lambda conn, et, actor: approvals.withdraw(conn, et, request_id, actor=actor))
    if isinstance(result, Response):
        return result
    message = _("The request was already withdrawn.") if result.duplicate else _("The request was withdrawn.")
    return _done(message, _back(url_for("approvals.inbox", tab="mine")))


def _posted_user() -> int:
    """The chosen person's id (0, which no user has, when the form sent no number)."""
    raw = request.form.get("user", "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else 0


@bp.post("/approvals/<int:request_id>/send-back")
@login_required
def send_back(request_id: int) -> Response:
    """回退: a pending approver sends the request back to an earlier step (`to_step`)."""
    to_step = request.form.get("to_step", "").strip()
    comment = request.form.get("comment", "")
    result = _act(
        request_id, "send_back", lambda conn, et, actor: approvals.send_back(conn, et, request_id, to_step, actor=actor, comment=comment)
    )
    if isinstance(result, Response):
        return result
    return _done(_("Sent back. That step decides again."), _back(url_for("approvals.inbox")))


@bp.post("/approvals/<int:request_id>/add-approver")
@login_required
def add_approver(request_id: int) -> Response:
    """加签: a pending approver adds someone to the current step."""
    user_id = _posted_user()
    comment = request.form.get("comment", "").strip() or None
    result = _act(
        request_id, "add", lambda conn, et, actor: approvals.add_approver(conn, et, request_id, user_id, actor=actor, comment=comment)
    )
    if isinstance(result, Response):
        return result
    return _done(_("Approver added: they decide in this step too."), _back(url_for("approvals.inbox")))


@bp.post("/approvals/<int:request_id>/delegate")
@login_required
def delegate(request_id: int) -> Response:
    """A pending approver hands their decision to someone else."""
    user_id = _posted_user()
    comment = request.form.get("comment", "").strip() or None
    result = _act(
        request_id, "delegate", lambda conn, et, actor: approvals.delegate(conn, et, request_id, user_id, actor=actor, comment=comment)
    )
    if isinstance(result, Response):
        return result
    return _done(_("Delegated: they decide instead of you."), _back(url_for("approvals.inbox")))


# -- notifications -------------------------------------------------------------------------------------


@bp.get("/notifications")
@login_required
def notification_list() -> Response:
    actor = require_actor()
    assert actor.user_id is not None
    items = engine().db.read(lambda conn: notifications.list_notifications(conn, actor.user_id))
    return render("approvals/notifications.html", items=items)


@bp.post("/notifications/read")
@login_required
def notifications_read() -> Response:
    actor = require_actor()
    assert actor.user_id is not None
    engine().db.run(lambda conn: notifications.mark_read(conn, actor.user_id))
    return redirect(url_for("approvals.notification_list"), code=303)


# -- the record page's approval panel ----------------------------------------------------------------


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
        return self.status == "pending" and self.due_at is not None and self.due_at < dt.datetime.now(dt.UTC)


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
class Actions:
    """What the signed-in user may do with the pending request."""

    request_id: int
    decide: bool = False
    withdraw: bool = False
    send_back: list[tuple[str, str]] = field(default_factory=list)
    add: bool = False
    delegate: bool = False
    people: list[tuple[int, str]] = field(default_factory=list)

    @property
    def more(self) -> bool:
        return bool(self.send_back or self.add or self.delegate)


@dataclass
class Panel:
    rounds: list[Round]
    pending: Round | None
    actions: Actions | None
    back: str


def _typed(fld: Field, value: Any) -> Any:
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


def _same(a: Any, b: Any) -> bool:
    if a in (None, "", []) and b in (None, "", []):
        return True
    try:
        if isinstance(a, (int, float, str)) and isinstance(b, (int, float, str)) and not isinstance(a, bool):
            return Decimal(str(a)) == Decimal(str(b))
    except ArithmeticError:
        pass
    return bool(a == b)


_STEP_NOTE = re.compile(r"already approved step (\S+) in this round")
_BY = re.compile(r"(?:added|delegated) by (.+)$")
_TO = re.compile(r"delegated to user (\d+)")


def _task_notes(task: approvals.TaskView, approval: Approval, names: Mapping[int, str]) -> list[str]:
    """Why this person is (or no longer is) an approver, in the user's language."""
    note = task.note or ""
    out = []
    if task.origin == "escalated":
        out.append(_("escalated: nobody was found for this step, so the requester's superior decides"))
    elif task.origin == "fallback_role":
        out.append(_("nobody was found for this step; taken from the fallback role"))
    elif task.origin == "escalation":
        out.append(_("added because the step was overdue"))
    elif task.origin == "added":
        by = _BY.search(note)
        out.append(_("added by %(name)s", name=by.group(1)) if by else _("added to this step"))
    elif task.origin == "delegated":
        by = _BY.search(note)
        out.append(_("delegated by %(name)s", name=by.group(1)) if by else _("delegated"))
    elif task.origin == "dedupe":
        found = _STEP_NOTE.search(note)
        step = approval.step(found.group(1)) if found else None
        label = tr(step.label) if step else (found.group(1) if found else "")
        out.append(_("approved automatically: already approved step “%(step)s” in this round", step=label))
    if task.status == "delegated":
        to = _TO.search(note)
        out.append(_("handed to %(name)s", name=names.get(int(to.group(1)), "?")) if to else _("handed to someone else"))
    elif task.status == "voided" and note == "sent back":
        out.append(_("voided: the request was sent back"))
    return out


def _changed(
    conn: sa.Connection, et: EntityTables, record: records.Record, snapshot: Mapping[str, Any], hidden: frozenset[str]
) -> list[Changed]:
    entity = et.entity
    now = snapshot_of(entity, record.values, record.state)
    fields = [
        f
        for f in entity.fields
        if f.key in snapshot and f.key not in hidden and not f.is_computed and not _same(snapshot.get(f.key), now.get(f.key))
    ]
    if not fields:
        return []
    then = {f.key: _typed(f, snapshot.get(f.key)) for f in fields}
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
    user_ids: set[int | None] = set()
    for view in views:
        user_ids.add(view.request.requester_id)
        for step in view.steps:
            for task in step.tasks:
                user_ids.add(task.approver_id)
                to = _TO.search(task.note or "") if task.status == "delegated" else None
                if to:
                    user_ids.add(int(to.group(1)))
    names = _names(conn, user_ids)
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
                    notes=_task_notes(t, approval, names) if approval else [],
                    me=t.approver_id == actor.user_id,
                )
                for t in step.tasks
            ]
            live = sum(1 for t in step.tasks if t.status not in ("voided", "delegated"))
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
    pending = next((r for r in rounds if r.row.status == "pending"), None)
    actions = _actions(conn, pending, workflow.transition(pending.row.transition), actor) if pending else None
    return Panel(
        rounds=rounds,
        pending=pending,
        actions=actions,
        back=url_for("records.show", app=entity.app, entity=entity.key, record_id=record.id),
    )


def _actions(conn: sa.Connection, pending: Round, transition: Transition | None, actor: Actor) -> Actions:
    row = pending.row
    actions = Actions(request_id=row.id, withdraw=actor.user_id == row.requester_id or actor.is_admin)
    current = pending.current
    approval = transition.approval if transition else None
    if current is None or approval is None:
        return actions
    actions.decide = any(a.me and a.status == "pending" for a in current.approvers)
    if not actions.decide:
        return actions
    if approval.send_back:
        actions.send_back = [(s.key, s.label) for s in pending.steps if s.position < current.position]
    actions.add = approval.add_approvers
    actions.delegate = approval.delegate
    if actions.add or actions.delegate:
        taken = {
            task_user
            for (task_user,) in conn.execute(
                sa.select(T.c.approver_id)
                .join(S, S.c.id == T.c.step_id)
                .where((S.c.request_id == row.id) & (S.c.position == current.position))
            )
        }
        if not approval.self_approval:
            taken.add(row.requester_id)
        actions.people = [(u.id, u.display_name) for u in users.list_users(conn, active_only=True) if u.id not in taken]
    return actions


# -- board cards -------------------------------------------------------------------------------------


def board_marks(conn: sa.Connection, app: str, entity: str, record_ids: Iterable[int], user_id: int | None) -> dict[int, tuple[int, bool]]:
    """For the cards of a board: record id -> (pending request id, whether the user must
    decide it now). One query, whatever the number of cards."""
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return {}
    mine = (
        sa.exists()
        .where((T.c.request_id == R.c.id) & (T.c.approver_id == user_id) & (T.c.status == "pending"))
        .where(sa.exists().where((S.c.id == T.c.step_id) & (S.c.status == "pending")))
    )
    rows = conn.execute(
        sa.select(R.c.record_id, R.c.id, mine if user_id is not None else sa.false()).where(
            (R.c.app == app) & (R.c.entity == entity) & R.c.record_id.in_(ids) & (R.c.status == "pending")
        )
    )
    return {record_id: (request_id, bool(decide)) for record_id, request_id, decide in rows}


@dataclass
class CardMarks:
    """The approval marks of a board's cards: a "pending approval" badge, and for cards
    the user must decide now, Approve / Reject (with a comment) in a small disclosure that
    posts to `decide` with htmx. The markup is built once per page; cards only fill in ids."""

    marks: Mapping[int, tuple[int, bool]]
    view: str
    back: str
    _parts: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        esc = Markup.escape
        pending = esc(_("Pending approval"))  # outside the f-string, where pybabel extract finds it
        self._parts = {
            "badge": f'<span class="badge appr-badge">{pending}</span>',
            "summary": esc(_("Approve or reject")),
            "comment": esc(_("Comment (required to reject)")),
            "approve": esc(_("Approve")),
            "reject": esc(_("Reject")),
            "hidden": (
                f'<input type="hidden" name="csrf_token" value="{esc(generate_csrf())}">'
                f'<input type="hidden" name="board" value="{esc(self.view)}">'
                f'<input type="hidden" name="next" value="{esc(self.back)}">'
            ),
            "url": str(esc(url_for("approvals.decide", request_id=987654321))),
        }

    def html(self, record_id: int) -> str:
        mark = self.marks.get(record_id)
        if mark is None:
            return ""
        request_id, decide = mark
        p = self._parts
        if not decide:
            return f'<div class="appr">{p["badge"]}</div>'
        url = p["url"].replace("987654321", str(int(request_id)))
        return (
            f'<div class="appr">{p["badge"]}<details class="appr-decide"><summary>{p["summary"]}</summary>'
            f'<form method="post" action="{url}" hx-post="{url}" hx-swap="none" hx-sync="this:drop">{p["hidden"]}'
            f'<textarea name="comment" rows="2" maxlength="10000" aria-label="{p["comment"]}" placeholder="{p["comment"]}"></textarea>'
            f'<span class="appr-buttons"><button type="submit" name="decision" value="approve" class="primary">{p["approve"]}</button>'
            f'<button type="submit" name="decision" value="reject" class="danger">{p["reject"]}</button></span></form></details></div>'
        )


def card_marks(conn: sa.Connection, et: EntityTables, view_key: str, record_ids: Iterable[int], actor: Actor) -> CardMarks | None:
    """Marks for a board's cards (None, and no query, for entities without approval flows)."""
    entity = et.entity
    if entity.workflow is None or not any(t.approval for t in entity.workflow.transitions):
        return None
    marks = board_marks(conn, entity.app, entity.key, record_ids, actor.user_id)
    back = url_for("lists.view", app=entity.app, entity=entity.key, view=view_key)
    return CardMarks(marks, view_key, back)
