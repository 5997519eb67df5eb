"""Automations on the web: the admin pages of runs (filters; one run with its inputs,
changes, error and duration; Retry / Replay; resuming a paused rule), the test run (a rule
and a record: would it match, what would change, what would be sent; nothing is written),
and the record page's buttons (rules with a `button` trigger, for the roles they name).
Read and act through `engine/automations`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import events, lookups
from flowdeck.engine.automations import listing, runs, scheduled, trials
from flowdeck.engine.errors import NotFound
from flowdeck.engine.schema.label import Label
from flowdeck.views.auth import admin_required, login_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import tr
from flowdeck.views.lifecycle import entity_tables, registry, render
from flowdeck.views.state import engine

bp = Blueprint("automations", __name__)
PER_PAGE = 50


def _rules() -> list[tuple[str, str, Any]]:
    """Every rule of every app as (app, key, rule), for the filters and the test run."""
    return [(app, rule.key, rule) for app, tables in sorted(registry().apps.items()) for rule in tables.app.automations]


def _names_of() -> dict[str, dict[str, Label]]:
    """The labels of rules and entities ("app:key"), so the runs table shows names in the
    reader's language, not the schema's keys."""
    rules = {f"{app}:{key}": rule.label for app, key, rule in _rules()}
    entities = {f"{app}:{e.key}": e.label for app, tables in registry().apps.items() for e in tables.app.entities}
    return {"rules": rules, "entities": entities}


def _timed_apps() -> list[tuple[str, Label]]:
    """The apps with schedules or scheduled automations: their Schedules pages show when
    those run next and how their last occurrences went."""
    return [
        (key, tables.app.label)
        for key, tables in sorted(registry().apps.items())
        if tables.app.schedules or any(rule.trigger == scheduled.TRIGGER for rule in tables.app.automations)
    ]


def _shown() -> dict[str, Any]:
    rule = request.args.get("rule", "")
    known = {f"{app}:{key}" for app, key, _rule in _rules()}
    status = request.args.get("status", "")
    record = request.args.get("record", "").strip()
    return {
        "rule": rule if rule in known else "",
        "status": status if status in listing.STATUS_NAMES else "",
        "record": record if record.isdigit() else "",
    }


@bp.get("/admin/automations/")
@admin_required
def index() -> Response:
    shown = _shown()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    app, _sep, rule = shown["rule"].partition(":")
    record = int(shown["record"]) if shown["record"] else None
    found = engine().db.read(
        lambda conn: listing.search(conn, app=app, rule=rule, status=shown["status"], record=record, page=page, per_page=PER_PAGE)
    )
    return render(
        "admin/automations.html",
        block="results",
        found=found,
        shown=shown,
        statuses=listing.STATUS_NAMES,
        rules=_rules(),
        names=_names_of(),
        event_names=events.KINDS,
        timed_apps=_timed_apps(),
    )


def _run_or_404(run_id: int) -> listing.RunRow:
    run = engine().db.read(lambda conn: listing.get(conn, run_id))
    if run is None:
        abort(404)
    return run


@bp.get("/admin/automations/runs/<int:run_id>")
@admin_required
def show(run_id: int) -> Response:
    run = _run_or_404(run_id)
    tables = registry().apps.get(run.app)
    rule = tables.app.automation(run.rule) if tables is not None else None
    state = engine().db.read(lambda conn: runs.rule_state(conn, run.app, run.rule))
    return render(
        "admin/automation_run.html",
        run=run,
        rule=rule,
        state=state,
        names=_names_of(),
        statuses=listing.STATUS_NAMES,
        event_names=events.KINDS,
    )


@bp.post("/admin/automations/runs/<int:run_id>/retry")
@admin_required
def retry(run_id: int) -> Response:
    _run_or_404(run_id)
    if engine().db.run(lambda conn: runs.requeue(conn, run_id)):
        flash(_("Run #%(id)s is queued again.", id=run_id), "ok")
    else:
        flash(_("Run #%(id)s is waiting to run: there is nothing to retry.", id=run_id), "error")
    return redirect(url_for("automations.show", run_id=run_id), code=303)


@bp.post("/admin/automations/<app>/<rule>/resume")
@admin_required
def resume(app: str, rule: str) -> Response:
    engine().db.run(lambda conn: runs.resume(conn, app, rule))
    flash(_("The rule “%(rule)s” runs again.", rule=rule), "ok")
    return redirect(request.form.get("next") or url_for("automations.index", rule=f"{app}:{rule}"), code=303)


@bp.route("/admin/automations/test", methods=["GET", "POST"])
@admin_required
def test_run() -> Response:
    """Pick a rule and a record; see what a run would do. A POST (it runs the actions
    inside a savepoint that is rolled back), so it carries the CSRF token."""
    rules = _rules()
    chosen = request.values.get("rule", "")
    record = request.values.get("record", "").strip()
    trial, problem = None, None
    if request.method == "POST":
        app, _sep, key = chosen.partition(":")
        tables = registry().apps.get(app)
        rule = tables.app.automation(key) if tables is not None else None
        if rule is None:
            problem = _("Choose a rule.")
        elif not record.isdigit():
            problem = _("Give the number of a record.")
        else:
            try:
                trial = engine().db.run(lambda conn: trials.test_run(conn, tables, rule, int(record), actor=require_actor()))
            except NotFound:
                problem = _("There is no record #%(id)s.", id=record)
    sent = [
        {
            "text": tr(Label(item["message"])) if "message" in item else item.get("body", ""),
            "to": _names(item.get("to") or []),
            "chat": item.get("chat") or [],
        }
        for item in (trial.sent if trial is not None else [])
    ]
    return render("admin/automation_test.html", rules=rules, chosen=chosen, record=record, trial=trial, problem=problem, sent=sent)


def _names(user_ids: list[int]) -> list[str]:
    found = engine().db.read(lambda conn: lookups.user_names(conn, user_ids)) if user_ids else {}
    return [found.get(u, f"#{u}") for u in user_ids]


@bp.post("/a/<app>/<entity>/<int:record_id>/automations/<rule>")
@login_required
def press(app: str, entity: str, record_id: int, rule: str) -> Response:
    """A rule's button on the record page: queue its run (the page says so)."""
    actor = require_actor()
    entity_tables(app, entity, actor, "read")
    tables = registry().app(app)
    found = tables.app.automation(rule)
    if found is None or found.entity != entity:
        abort(404)
    run_id = engine().db.run(lambda conn: trials.press(conn, tables, rule, record_id, actor=actor))
    flash(_("“%(button)s” is running (run #%(id)s).", button=tr(found.trigger_settings["label"] or found.label), id=run_id), "ok")
    return redirect(url_for("records.show", app=app, entity=entity, record_id=record_id), code=303)
