"""A user's own account: change the password (required first after an admin set a
temporary one), and set a new one through a one-time link an admin sent.

The link page needs no sign-in (the token is the proof); it works once and for a day.
Errors come back beside the fields; passwords are never sent back to the browser.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from flowdeck.engine import accounts
from flowdeck.engine.errors import RecordInvalid
from flowdeck.engine.messages import Message
from flowdeck.views.auth import MUST_CHANGE, login_required, require_actor, safe_next
from flowdeck.views.i18n import say
from flowdeck.views.lifecycle import render
from flowdeck.views.state import engine

bp = Blueprint("account", __name__, url_prefix="/account")


def _said(errors: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {key: [say(m) if isinstance(m, Message) else say(str(m)) for m in messages] for key, messages in errors.items()}


def _page(template: str, errors: dict[str, list[str]], status: int = 200, **context: Any) -> Response:
    response = render(template, errors=errors, **context)
    response.status_code = status
    return response


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password() -> Response:
    actor = require_actor()
    forced = bool(session.get(MUST_CHANGE))
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _page("account/password.html", {}, forced=forced, next=target)
    current, new = request.form.get("current", ""), request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return _page("account/password.html", {"confirm": [_("The two new passwords differ.")]}, 422, forced=forced, next=target)
    keep = session.get("sid")
    try:
        engine().db.run(lambda conn: accounts.change_own_password(conn, actor, current, new, keep_session=keep))
    except RecordInvalid as exc:
        return _page("account/password.html", _said(exc.errors), 422, forced=forced, next=target)
    session.pop(MUST_CHANGE, None)
    flash(_("Your password is changed. Your other browsers are signed out."), "ok")
    return redirect(target, code=303)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Response:
    db = engine().db
    user = db.read(lambda conn: accounts.reset_user(conn, token))
    if user is None:
        response = render("account/reset.html", user=None, errors={})
        response.status_code = 404
        return response
    if request.method == "GET":
        return _page("account/reset.html", {}, user=user)
    new = request.form.get("new", "")
    if new != request.form.get("confirm", ""):
        return _page("account/reset.html", {"confirm": [_("The two new passwords differ.")]}, 422, user=user)
    try:
        done = db.run(lambda conn: accounts.finish_reset(conn, token, new))
    except RecordInvalid as exc:
        return _page("account/reset.html", _said(exc.errors), 422, user=user)
    if done is None:
        return redirect(url_for("account.reset", token=token), code=303)
    flash(_("Your new password is set. Sign in with it."), "ok")
    return redirect(url_for("auth.login"), code=303)


def reset_link(token: str) -> str:
    """The full address of a reset link (FLOWDECK_BASE_URL, else this request's host)."""
    base = current_app.config.get("FLOWDECK_BASE_URL") or request.host_url.rstrip("/")
    return base + url_for("account.reset", token=token)
