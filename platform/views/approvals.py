"""The approvals inbox (waiting for me, my requests, decided), deciding from it, and the
in-app notification list. The record page's approval panel (`approval_panel`) and board
cards (`approval_cards`) post to the endpoints here; `Panel`, `record_panel`, `CardMarks`
and `card_marks` are importable from here as before.

Every decision goes through `engine.approvals` in one transaction: a refusal (not an
approver, already decided, a rejection without a comment...) changes nothing and is
answered with the engine's message in the user's language: a toast for htmx, else a page
with a way back.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.wrappers import Response

from flowdeck.engine import approvals, clock, mailprefs, models, notifications
from flowdeck.engine.errors import Forbidden, RecordInvalid, TransitionRefused
from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema.model import Entity
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.viewtypes import groups_by_state
from flowdeck.views.approval_cards import CardMarks, card_marks
from flowdeck.views.approval_panel import Panel, record_panel, snapshot_lines, status_words
from flowdeck.views.auth import login_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say, tr
from flowdeck.views.lifecycle import is_htmx, registry, render, top_bar_counts
from flowdeck.views.state import engine

__all__ = ["CardMarks", "Panel", "bp", "card_marks", "init_app", "nav_counts", "record_panel"]

bp = Blueprint("approvals", __name__)


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
    due_at: dt.datetime | None = None

    @property
    def overdue(self) -> bool:
        return self.row.status == "pending" and self.due_at is not None and self.due_at < clock.now()


def _entity_or_none(app: str, entity: str) -> Entity | None:
    try:
        return registry().entity(app, entity).entity
    except Exception:  # an app or entity removed since the request was made
        return None


def _due_times(conn: Any, request_ids: list[int]) -> dict[tuple[int, str], dt.datetime]:
    """The due time of each pending step with a time limit, so the inbox says when a
    decision is due (and which are late) without opening each record."""
    s = models.approval_steps
    rows = conn.execute(
        sa.select(s.c.request_id, s.c.key, s.c.due_at).where(
            s.c.request_id.in_(request_ids), s.c.status == "pending", s.c.due_at.is_not(None)
        )
    )
    return {(rid, key): due if due.tzinfo else due.replace(tzinfo=dt.UTC) for rid, key, due in rows}


def _item(found: approvals.InboxItem, names: dict[int, str], due: dt.datetime | None = None) -> Item:
    row, step_key = found.request, found.step_key
    entity = _entity_or_none(row.app, row.entity)
    transition = entity.workflow.transition(row.transition) if entity and entity.workflow else None
    step = transition.approval.step(step_key) if transition and transition.approval and step_key else None
    title_value = row.snapshot.get(entity.title) if entity else None
    return Item(
        row=row,
        entity=entity,
        transition_label=tr(transition.label) if transition else row.transition,
        step_label=tr(step.label) if step else (step_key or ""),
        title=str(title_value) if title_value not in (None, "") else f"#{row.record_id}",
        task_status=found.task_status,
        can_decide=found.can_decide,
        snapshot=snapshot_lines(entity, row.snapshot, names) if entity else [],
        due_at=due,
    )


@bp.get("/approvals")
@login_required
def inbox() -> Response:
    actor = require_actor()
    tab = request.args.get("tab", "waiting")
    if tab not in approvals.INBOX_TABS:
        tab = "waiting"
    user_id = actor.user_id
    assert user_id is not None
    found = engine().db.read(lambda conn: approvals.inbox(conn, user_id, tab))
    ids = [item.request.id for item in found.items]
    dues = engine().db.read(lambda conn: _due_times(conn, ids)) if ids else {}
    items = [_item(item, found.names, dues.get((item.request.id, item.step_key or ""))) for item in found.items]
    return render("approvals/inbox.html", "inbox", tab=tab, items=items, names=found.names, words=status_words())


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
            out.append(_("Person: %(problem)s", problem=", ".join(say(m) for m in msgs)))
        else:
            out += [say(m) for m in msgs]
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
        return _refused(409, say(exc.message))
    except Forbidden as exc:
        return _refused(403, say(exc.message))
    except TransitionRefused as exc:
        return _refused(422, say(exc.message))


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
    if not groups_by_state(view):
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
    elif result.late:
        message = _("The request was rejected before your decision arrived; your decision is kept in the history but does not count.")
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
    return notifications_page(actor.user_id)


def notifications_page(
    user_id: int, choice: mailprefs.MailPrefs | None = None, errors: dict[str, list[str]] | None = None, *, status: int = 200,
    quiet_on: bool | None = None,
) -> Response:  # fmt: skip
    """The notifications page with the mail settings form: the stored choice, or the one
    just refused (`choice`, `errors`) so the user corrects it instead of typing it again."""
    items, stored = engine().db.read(lambda conn: (notifications.list_notifications(conn, user_id), mailprefs.load(conn, user_id)))
    prefs = choice or stored
    now = clock.now()
    response = render(
        "approvals/notifications.html",
        items=items,
        prefs=prefs,
        errors=errors or {},
        quiet_on=prefs.quiet_from is not None if quiet_on is None else quiet_on,
        hhmm=mailprefs.hhmm,
        zones=mailprefs.zone_names(),
        instance_zone=clock.zone().key,
        next_digest=_local(mailprefs.next_digest(stored, now), stored) if stored.delivery == "digest" else None,
        quiet_until=_local(window[1], stored)
        if stored.delivery == "immediate" and (window := mailprefs.quiet_window(stored, now))
        else None,
    )
    response.status_code = status
    return response


def _local(moment: dt.datetime, prefs: mailprefs.MailPrefs) -> str:
    """A moment in the user's mail time zone, which may not be the page's."""
    return f"{moment.astimezone(prefs.zone()):%Y-%m-%d %H:%M} ({prefs.zone().key})"


@bp.post("/notifications/read")
@login_required
def notifications_read() -> Response:
    actor = require_actor()
    assert actor.user_id is not None
    engine().db.run(lambda conn: notifications.mark_read(conn, actor.user_id))
    return redirect(url_for("approvals.notification_list"), code=303)
