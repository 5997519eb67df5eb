"""The Schedules page of an app, for admins: each schedule's next occurrences (in the
instance time zone) and its last runs, and "Run now" (a manual run that never takes the
place of a coming occurrence). Everything is read and done through `engine.schedules`."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import schedules
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


@bp.get("/")
@admin_required
def index(app_key: str) -> Response:
    app = _app(app_key)
    now = dt.datetime.now(dt.UTC)
    shown = engine().db.read(lambda conn: schedules.overview(conn, app, now=now))
    statuses = {"done": _("Done"), "skipped": _("Skipped"), "needs_attention": _("Needs attention"), "running": _("Running")}
    return render("admin/schedules.html", app=app, shown=shown, statuses=statuses)


@bp.post("/<key>/run")
@admin_required
def run_now(app_key: str, key: str) -> Response:
    app = _app(app_key)
    schedule = app.schedule(key)
    if schedule is None:
        abort(404)
    actor = require_actor()
    job_id = engine().db.run(lambda conn: schedules.run_now(conn, app, schedule, actor=actor, now=dt.datetime.now(dt.UTC)))
    flash(_("A run of this schedule is queued (job #%(id)s); the coming occurrences stay as they are.", id=job_id), "ok")
    return redirect(url_for("schedules_admin.index", app_key=app.key), code=303)
