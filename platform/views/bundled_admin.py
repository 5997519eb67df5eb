"""The bundled apps for admins: which are installed, whether a newer bundled document came
with this Flowdeck, and its upgrade: the three-way merge's conflicts side by side (the local
edit chosen unless the admin picks the incoming side), the migration plan and its questions,
then Apply. Nothing is changed until Apply; the same plan as
`flowdeck upgrade-bundled APP --dry-run`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine import bundled_apps
from flowdeck.engine.errors import FlowdeckError, MigrationRefused
from flowdeck.engine.merge import ABSENT, SIDES
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("bundled_admin", __name__, url_prefix="/admin/bundled")


def _shown(value: Any) -> str:
    return "—" if value is ABSENT else json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


def _picked() -> tuple[dict[str, str], dict[str, str]]:
    """Resolutions (`resolve:PATH` = local|incoming) and answers (`choice:ID` = VALUE) posted
    or in the query string; empty answers are left out."""
    source = request.form if request.method == "POST" else request.args
    resolutions = {k.removeprefix("resolve:"): v for k, v in source.items() if k.startswith("resolve:") and v in SIDES}
    choices = {k.removeprefix("choice:"): v for k, v in source.items() if k.startswith("choice:") and v}
    return resolutions, choices


@bp.get("/")
@admin_required
def index() -> Response:
    found = engine().db.read(bundled_apps.status)
    return render("admin/bundled.html", apps=found)


def _plan_page(key: str, resolutions: dict[str, str], choices: dict[str, str], status: int = 200, problem: str | None = None) -> Response:
    try:
        plan = engine().db.read(lambda conn: bundled_apps.plan_upgrade(conn, key, resolutions=resolutions, choices=choices))
    except bundled_apps.UpgradeRefused as exc:
        abort(404 if key not in bundled_apps.documents() else 409, description=say(exc.message))
    response = render("admin/bundled_plan.html", key=key, plan=plan, shown=_shown, problem=problem, choices=choices)
    response.status_code = status
    return response


@bp.get("/<key>")
@admin_required
def plan(key: str) -> Response:
    resolutions, choices = _picked()
    return _plan_page(key, resolutions, choices)


@bp.post("/<key>")
@admin_required
def upgrade(key: str) -> Response:
    resolutions, choices = _picked()
    actor = require_actor()
    try:
        _plan, result = bundled_apps.upgrade(engine().db, key, actor=actor, resolutions=resolutions, choices=choices)
    except bundled_apps.UpgradeRefused as exc:
        return _plan_page(key, resolutions, choices, 409, say(exc.message))
    except MigrationRefused as exc:
        reasons = "; ".join(say(r) for r in exc.reasons) if exc.reasons else _("answer every question first")
        return _plan_page(key, resolutions, choices, 422, reasons)
    except FlowdeckError as exc:
        return _plan_page(key, resolutions, choices, 422, say(exc.message))
    assert result is not None
    if result.applied:
        flash(_("The bundled app %(app)s is upgraded: version %(version)s.", app=key, version=result.version), "ok")
    else:
        flash(_("The bundled app %(app)s had nothing to change; its new bundled document is taken as the base.", app=key), "ok")
    return redirect(url_for("bundled_admin.index"), code=303)
