"""Incoming webhooks: the admin pages of an app's hooks (new, edit with the last calls,
a new token, delete) and the address other systems call, `POST /a/<app>/hooks/<key>`.

The call is authenticated by the hook's token (`X-Flowdeck-Token`, or `Authorization:
Bearer`), not by a session, so it is exempt from CSRF (no browser cookie can make it
count) and answers JSON. Tokens are shown once, in the answer to the POST that made them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response

from flowdeck.engine import clock, users
from flowdeck.engine.errors import NotFound
from flowdeck.engine.storage.tables import AppTables
from flowdeck.engine.webhooks import incoming
from flowdeck.views.auth import admin_required, require_actor
from flowdeck.views.i18n import gettext as _
from flowdeck.views.i18n import say_errors
from flowdeck.views.lifecycle import form_page, render
from flowdeck.views.security import csrf
from flowdeck.views.state import engine
from flowdeck.views.webhooks_admin import app_tables

bp = Blueprint("webhook_hooks", __name__, url_prefix="/admin/apps/<app>/webhooks/hooks")
receiver = Blueprint("webhook_receiver", __name__)
csrf.exempt(receiver)


def _mapping_text(mapping: dict[str, str]) -> str:
    return "\n".join(f"{key} = {path}" for key, path in mapping.items())


def _form() -> dict[str, Any]:
    mapping: dict[str, str] = {}
    for line in request.form.get("mapping", "").splitlines():
        key, sep, path = line.partition("=")
        if key.strip():
            mapping[key.strip()] = path.strip() if sep else ""
    return {
        "name": request.form.get("name", ""),
        "entity": request.form.get("entity", ""),
        "action": request.form.get("action", ""),
        "mapping": mapping,
        "match_field": request.form.get("match_field", ""),
        "match_path": request.form.get("match_path", ""),
        "transition": request.form.get("transition", ""),
        "run_as": request.form.get("run_as", type=int),
        "enabled": request.form.get("enabled") == "1",
    }


def _page(tables: AppTables, template: str, **context: Any) -> Response:
    people = engine().db.read(lambda conn: users.list_users(conn, active_only=True))
    return render(template, app=tables.app, entities=tables.entities, people=people, **context)


def _save(tables: AppTables, form: dict[str, Any], hook_id: int | None) -> Any:
    if form["entity"] not in tables.entities:
        return {"entity": [_("Choose an entity of the app.")]}
    et = tables.entities[form["entity"]]
    try:
        if hook_id is None:
            return engine().db.run(lambda conn: incoming.create_hook(conn, et, form, actor_id=require_actor().user_id, now=clock.now()))
        engine().db.run(lambda conn: incoming.update_hook(conn, et, hook_id, form, now=clock.now()))
    except incoming.HookInvalid as exc:
        return say_errors(exc.errors)
    return None


def _shown(form: dict[str, Any]) -> dict[str, Any]:
    return {**form, "mapping": _mapping_text(form["mapping"])}


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new(app: str) -> Response:
    tables = app_tables(app)
    form: dict[str, Any] = {"name": "", "entity": next(iter(tables.entities), ""), "action": "create", "mapping": {}, "enabled": True}
    form.update(match_field="", match_path="", transition="", run_as=require_actor().user_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _form()
        saved = _save(tables, form, None)
        if isinstance(saved, tuple):
            hook = engine().db.read(lambda conn: incoming.get_hook(conn, app, saved[0]))
            return _page(tables, "admin/webhook_hook_token.html", hook=hook, token=saved[1])
        errors = saved
    return form_page(_page(tables, "admin/webhook_hook_form.html", form=_shown(form), errors=errors, hook=None, calls=[]), errors)


def _hook(app: str, hook_id: int) -> incoming.Hook:
    try:
        return engine().db.read(lambda conn: incoming.get_hook(conn, app, hook_id))
    except NotFound:
        abort(404)


@bp.route("/<int:hook_id>", methods=["GET", "POST"])
@admin_required
def edit(app: str, hook_id: int) -> Response:
    tables = app_tables(app)
    hook = _hook(app, hook_id)
    form = {key: getattr(hook, key) for key in ("name", "entity", "action", "mapping", "match_field", "match_path", "transition")}
    form.update(run_as=hook.run_as, enabled=hook.enabled)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = _form()
        errors = _save(tables, form, hook_id) or {}
        if not errors:
            flash(_("The incoming webhook is saved."), "ok")
            return redirect(url_for("webhook_hooks.edit", app=app, hook_id=hook_id), code=303)
    calls = engine().db.read(lambda conn: incoming.recent_calls(conn, hook_id))
    return form_page(_page(tables, "admin/webhook_hook_form.html", form=_shown(form), errors=errors, hook=hook, calls=calls), errors)


@bp.post("/<int:hook_id>/rotate")
@admin_required
def rotate(app: str, hook_id: int) -> Response:
    tables = app_tables(app)
    _hook(app, hook_id)
    token = engine().db.run(lambda conn: incoming.rotate_token(conn, app, hook_id, now=clock.now()))
    return _page(tables, "admin/webhook_hook_token.html", hook=_hook(app, hook_id), token=token)


@bp.post("/<int:hook_id>/delete")
@admin_required
def delete(app: str, hook_id: int) -> Response:
    app_tables(app)
    _hook(app, hook_id)
    engine().db.run(lambda conn: incoming.delete_hook(conn, app, hook_id))
    flash(_("The incoming webhook is deleted."), "ok")
    return redirect(url_for("webhooks_admin.index", app=app), code=303)


def _token() -> str | None:
    token = request.headers.get("X-Flowdeck-Token")
    if token:
        return token
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@receiver.post("/a/<app>/hooks/<key>")
def call(app: str, key: str) -> Response:
    state = engine()
    answer = incoming.call_hook(
        state.db, state.catalog.current().entity, app, key, _token(), request.get_data(cache=False), remote=request.remote_addr
    )
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="flowdeck-hook"'
    return response
