"""The Schedules page of an app, for admins: every time-driven thing of the app (its
schedules and its scheduled automations) with its recurrence in words, its calendar, its
next occurrences (in the instance time zone), its last runs, the next armed reminders, and
"Run now" (a manual run that never takes the place of a coming occurrence). Everything is
read through `engine.schedule_overview` and done through `engine.schedules` and
`engine.automations.scheduled`; the time is the engine clock's."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import clock, schedule_overview, schedules
from flowdeck.engine.automations import scheduled
from flowdeck.engine.errors import NotFound
from flowdeck.engine.schema.model import App
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("schedules_admin", __name__, url_prefix="/admin/apps/<app_key>/schedules")


def _app(app_key: str) -> App:
    try:
        return engine().catalog.current().app(app_key).app
    except NotFound:
        abort(404)


def status_names() -> dict[str, str]:
    return {"done": _("Done"), "skipped": _("Skipped"), "needs_attention": _("Needs attention"), "running": _("Running")}


@bp.get("/")
@admin_required
def index(app_key: str) -> Response:
    app = _app(app_key)
    now = clock.now()
    shown = engine().db.read(lambda conn: schedule_overview.overview(conn, app, now=now))
    entities = {e.key: e for e in app.entities}
    return render("admin/schedules.html", app=app, shown=shown, statuses=status_names(), entities=entities)


@bp.post("/<key>/run")
@admin_required
def run_now(app_key: str, key: str) -> Response:
    app = _app(app_key)
    schedule = app.schedule(key)
    if schedule is None:
        abort(404)
    actor = require_actor()
    job_id = engine().db.run(lambda conn: schedules.run_now(conn, app, schedule, actor=actor, now=clock.now()))
    flash(_("A run of this schedule is queued (job #%(id)s); the coming occurrences stay as they are.", id=job_id), "ok")
    return redirect(url_for("schedules_admin.index", app_key=app.key, _anchor=f"schedule-{key}"), code=303)


@bp.post("/automations/<rule>/run")
@admin_required
def run_rule_now(app_key: str, rule: str) -> Response:
    """Run an enabled scheduled automation now, for the records it would pick now."""
    app = _app(app_key)
    found = app.automation(rule)
    if found is None or found not in scheduled.scheduled_rules(app):
        abort(404)
    actor = require_actor()
    job_id = engine().db.run(lambda conn: scheduled.run_now(conn, app, found, actor=actor, now=clock.now()))
    flash(_("A run of this automation is queued (job #%(id)s); the coming occurrences stay as they are.", id=job_id), "ok")
    return redirect(url_for("schedules_admin.index", app_key=app.key, _anchor=f"automation-{rule}"), code=303)
