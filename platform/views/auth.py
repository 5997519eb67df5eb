"""Signing in and out, the actor of each request, and the language switch.

The browser's signed cookie holds only a random session token (and the CSRF secret); the
session itself lives in `fd_sessions`, so signing out ends it for good and a replayed
cookie is signed out. Signing in always ends the browser's previous session and starts a
new token, with a fresh cookie (no session fixation). Idle and absolute timeouts come from
`FLOWDECK_IDLE_MINUTES` and `FLOWDECK_SESSION_HOURS`; failed sign-ins are limited per
address and slowed down per username (`security.signin_verdict`, `engine/signin_limits.py`).
Sign-ins (also failed ones, with the client address) and sign-outs go to the audit log. A
user whose password is temporary (set by an admin) can open only the page that changes it.

Guest access (`FLOWDECK_GUEST_USER`, off by default): a request without a live session acts
as that user, with its roles (`g.guest` is then true). It is never given to an admin: the app
refuses to start when the guest user is an admin, missing or inactive, and each guest request
checks again. A guest is not signed in: admin pages send it to the sign-in page, and its
language choice stays in its own cookie.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.engine import Connection
from werkzeug.wrappers import Response

from flowdeck.engine import accounts, approvals, audit, sessions, users
from flowdeck.engine.messages import M
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Registry
from flowdeck.engine.textinput import has_controls
from flowdeck.views.i18n import LANGUAGES
from flowdeck.views.lifecycle import READ_CONNECTION, REQUEST_CACHES, close_page_read, is_htmx
from flowdeck.views.security import remember_browser, signin_failed, signin_verdict
from flowdeck.views.state import engine

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
_NO_SESSION_ENDPOINTS = frozenset({"static", "health.healthz", "health.readyz"})
# What a user with a temporary password may reach before changing it.
_WHILE_MUST_CHANGE = frozenset({"static", "account.password", "auth.logout", "auth.set_language", "auth.login", "account.reset"})
MUST_CHANGE = "must_change"


def _timeouts() -> sessions.Timeouts:
    return sessions.Timeouts(
        idle=dt.timedelta(minutes=int(current_app.config.get("FLOWDECK_IDLE_MINUTES", 120))),
        absolute=dt.timedelta(hours=int(current_app.config.get("FLOWDECK_SESSION_HOURS", 12))),
    )


class GuestUserRefused(RuntimeError):
    """FLOWDECK_GUEST_USER names a user that may not be the guest (raised at start-up)."""


def init_app(app: Flask) -> None:
    app.before_request(_load_actor)
    app.teardown_request(close_page_read)
    app.before_request(_temporary_password)
    if app.config.get("FLOWDECK_GUEST_USER"):
        _check_guest_user(app)


def _guest_problem(user: users.UserInfo | None, username: str) -> str | None:
    if user is None:
        return f"FLOWDECK_GUEST_USER={username!r}: there is no such user"
    if user.is_admin:
        return f"FLOWDECK_GUEST_USER={username!r} is an admin; guest access is never given to admins"
    if not user.is_active:
        return f"FLOWDECK_GUEST_USER={username!r} is deactivated"
    return None


def _check_guest_user(app: Flask) -> None:
    """Refuse to start with a guest user that is an admin, unknown or deactivated."""
    username = app.config["FLOWDECK_GUEST_USER"]
    db = app.extensions["flowdeck"].db
    problem = _guest_problem(db.read(lambda conn: users.find_user(conn, username)), username)
    if problem is not None:
        db.dispose()  # this app will not be used
        raise GuestUserRefused(problem)


@dataclass
class _Loaded:
    check: sessions.SessionCheck | None = None
    user: users.UserInfo | None = None
    actor: Actor | None = None
    guest: bool = False
    guest_user: users.UserInfo | None = None
    registry: Registry | None = None
    counts: dict[str, int] | None = None


def _wants_top_bar() -> bool:
    """A whole page (GET, not an htmx fragment): its top bar shows the badge counts."""
    return request.method == "GET" and not is_htmx()


def _load_actor() -> None:
    """Everything a request needs before its view, in one read: the signed-in user (session,
    user, roles) or the guest, the current registry (schema generation) and, for whole
    pages, the top bar's badge counts. A write only when the session timed out (end it) or
    its idle clock is more than a minute old (touch it)."""
    g.actor = None
    g.user = None
    g.guest = False
    for cached in REQUEST_CACHES:
        g.pop(cached, None)
    if request.endpoint in _NO_SESSION_ENDPOINTS:
        return
    token = session.get("sid")
    guest = current_app.config.get("FLOWDECK_GUEST_USER")
    if not token and not guest:
        return  # anonymous: no database work
    state = engine()
    timeouts = _timeouts() if token else None
    counts_wanted = _wants_top_bar()

    def load(conn: Connection) -> _Loaded:
        out = _Loaded()
        found = None
        if token:
            assert timeouts is not None
            out.check = sessions.check_session(conn, token, timeouts)
            if out.check.user_id is not None:
                found = approvals.request_context(conn, user_id=out.check.user_id)
                if found.user is not None:
                    out.user = found.user
                    out.actor = Actor(user_id=found.user.id, username=found.user.username, is_admin=found.user.is_admin, roles=found.roles)
        if out.actor is None and guest:
            found = approvals.request_context(conn, username=guest)
            out.guest_user = user = found.user
            if user is not None and not user.is_admin and user.is_active:
                # never an admin, even one made admin since start-up
                out.user, out.guest = user, True
                out.actor = Actor(user_id=user.id, username=user.username, is_admin=False, roles=found.roles)
        if out.actor is None or found is None:
            return out
        out.registry = state.catalog.current(conn, generation=found.generation)
        if counts_wanted:
            out.counts = {"approvals": found.waiting, "notifications": found.unread}
        return out

    if request.method == "GET":
        # A page: the view's own reads may share this transaction (`lifecycle.page_read`).
        close_page_read()
        conn = state.db.open_read()
        setattr(g, READ_CONNECTION, conn)
        loaded = load(conn)
    else:
        loaded = state.db.read(load)
    check = loaded.check
    if check is not None:
        if check.expired:
            state.db.run(lambda conn: sessions.end_session(conn, token))
            session["expired"] = True
        if check.user_id is None:
            session.pop("sid", None)
        elif check.needs_touch:
            state.db.run(lambda conn: sessions.touch_session(conn, token))
    if guest and loaded.actor is None:
        current_app.logger.error("no guest access: %s", _guest_problem(loaded.guest_user, guest) or "refused")
    if loaded.actor is None:
        return
    g.user, g.actor, g.guest = loaded.user, loaded.actor, loaded.guest
    if loaded.registry is not None:
        g._registry = loaded.registry
    if loaded.counts is not None:
        g._counts = loaded.counts


def current_actor() -> Actor | None:
    return g.get("actor")


def require_actor() -> Actor:
    actor = current_actor()
    if actor is None:
        abort(401)
    return actor


def login_required(view: F) -> F:
    """Anonymous requests go to the sign-in page (htmx ones get a 401 that redirects)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_actor() is None:
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _to_sign_in() -> Response:
    if request.headers.get("HX-Request") == "true":
        response = Response(status=401)
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """Signed in (else as `login_required`; a guest counts as not signed in) and an admin
    (else 403)."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("guest"):
            return _to_sign_in()
        if not require_actor().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this site, else the start page: never another host.

    Browsers drop tabs and newlines and read a backslash as a slash, so `/\\evil.example`
    or `/<TAB>/evil.example` would leave the site; anything with those is refused.
    """
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable():
        return target
    return url_for("home.index")


def _start_session(old: str | None, user: users.UserInfo) -> tuple[str, bool]:
    """A new session token (the browser's old one ended) and whether the password must be changed first."""

    def work(conn: Connection) -> tuple[str, bool]:
        if old:
            sessions.end_session(conn, old)
        sessions.purge_expired(conn, _timeouts())
        token = sessions.start_session(conn, user.id, ip=request.remote_addr, user_agent=request.user_agent.string)
        actor = Actor(user_id=user.id, username=user.username)
        audit.record(conn, "signin", M("signed in"), actor=actor, target=f"user:{user.username}")
        return token, accounts.must_change_password(conn, user.id)

    return engine().db.run(work)


def _temporary_password() -> Response | None:
    """Until a temporary password is changed, every page leads to the form that changes it."""
    if session.get(MUST_CHANGE) and g.get("actor") is not None and request.endpoint not in _WHILE_MUST_CHANGE:
        if is_htmx():
            response = Response(status=401)
            response.headers["HX-Redirect"] = url_for("account.password")
            return response
        return redirect(url_for("account.password", next=request.full_path.rstrip("?")))  # type: ignore[return-value]
    return None


def _restart_cookie(token: str | None) -> None:
    """A new cookie session holding only `token` and the language: the CSRF secret and
    anything else from before sign-in (or sign-out) is dropped."""
    lang = session.get("lang")
    session.clear()
    if token:
        session["sid"] = token
        session.permanent = True
    if lang:
        session["lang"] = lang


def _login_page(error: str | None, status: int = 200) -> Response:
    if error is None and session.pop("expired", False):
        error = _("Your session has ended. Please sign in again.")
    return current_app.make_response((render_template("login.html", error=error), status))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    if request.method == "GET":
        return _login_page(None)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    if has_controls(username):  # no account has one, and PostgreSQL cannot even compare a NUL
        return _login_page(_("A username has no control characters."), 422)
    verdict = signin_verdict(username)
    if not verdict.allowed:
        return _too_many_attempts(verdict.retry_after)
    db = engine().db
    user = db.run(lambda conn: users.authenticate(conn, username, password))
    if user is None:
        signin_failed(username)
        tried = username.strip().lower()[:60]
        db.run(lambda conn: audit.record(conn, "signin.failed", M("failed sign-in as %(username)s", username=tried), actor_name=tried))
        return _login_page(_("Wrong username or password."))
    token, must_change = _start_session(session.get("sid"), user)
    _restart_cookie(token)
    target = safe_next(request.args.get("next"))
    if must_change:
        session[MUST_CHANGE] = True
        target = url_for("account.password", next=target)
    response = redirect(target)
    remember_browser(response, user.username)  # type: ignore[arg-type]
    return response  # type: ignore[return-value]


def _too_many_attempts(seconds: int) -> Response:
    """Over a sign-in limit: the sign-in page again, saying why and for how long."""
    if seconds < 60:
        message = ngettext(
            "Too many sign-in attempts. Wait %(num)s second and try again.",
            "Too many sign-in attempts. Wait %(num)s seconds and try again.",
            seconds,
        )
    else:
        message = ngettext(
            "Too many sign-in attempts. Wait %(num)s minute and try again.",
            "Too many sign-in attempts. Wait %(num)s minutes and try again.",
            -(-seconds // 60),
        )
    response = _login_page(message, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.post("/logout")
def logout() -> Response:
    token = session.get("sid")
    actor = current_actor()

    def work(conn: Connection) -> None:
        assert token is not None
        sessions.end_session(conn, token)
        if actor is not None and not g.get("guest"):
            audit.record(conn, "signout", M("signed out"), actor=actor, target=f"user:{actor.username}")

    if token:
        engine().db.run(work)
    _restart_cookie(None)
    return redirect(url_for("auth.login"))


@bp.post("/prefs/lang")
def set_language() -> Response:
    """Remember the chosen language in the session and, when signed in, on the user, so it
    follows them to other browsers; it wins over the browser's Accept-Language."""
    chosen = request.form.get("lang", "")
    if chosen not in LANGUAGES:
        abort(400, description=_("Unknown language."))
    session["lang"] = chosen
    actor = current_actor()
    if actor is not None and actor.user_id is not None and not g.get("guest"):  # guests share one user
        user_id = actor.user_id
        engine().db.run(lambda conn: users.set_locale(conn, user_id, chosen))
    return redirect(safe_next(request.form.get("next")))
