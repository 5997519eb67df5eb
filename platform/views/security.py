"""What every response gets, whoever wrote the view: CSRF protection on every
state-changing request, session cookie flags, a Content Security Policy and the usual
headers (error pages included: `after_request` runs for handled errors and for 500s), and
the sign-in rate limits.

Settings (see `config.py`): `FLOWDECK_SECURE_COOKIES`, `FLOWDECK_SESSION_HOURS`,
`FLOWDECK_LOGIN_LIMIT`, `FLOWDECK_LOGIN_USER_LIMIT`, `FLOWDECK_RATELIMIT_STORAGE`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])

# Flask-Limiter keeps its storage on the extension object; `init_app` gives it a fresh one,
# so each app (one per process under gunicorn, one per test) counts from zero.
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# No inline styles and no script that is not a file from this site. The schema's colours
# reach badges as classes of a generated stylesheet (`assets.badge_css`), not as style
# attributes. The schema editor's pages alone show colours being typed in (swatches of
# colours not saved yet) as style attributes: they get CSP_SCHEMA_EDITOR.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
CSP_SCHEMA_EDITOR = CSP.replace("style-src 'self';", "style-src 'self'; style-src-attr 'unsafe-inline';")
STYLE_ATTRIBUTE_BLUEPRINTS = frozenset({"schema_admin"})
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    _cookie_settings(app)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("FLOWDECK_RATELIMIT_STORAGE") or "memory://"
    # Flask-Limiter remembers `enabled` from the previous app; say it for this one.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    if not limiter.limit_manager.application_limits and not limiter.limit_manager.default_limits:
        # Only decorated views are limited (the sign-in): they check their own limits when
        # called, so the check Flask-Limiter adds before every request finds nothing to do
        # (and costs a tenth of a millisecond on each page).
        hooks = app.before_request_funcs.get(None, [])
        app.before_request_funcs[None] = [hook for hook in hooks if hook != limiter._check_request_limit]
    app.after_request(_headers)


def _cookie_settings(app: Flask) -> None:
    """Flask's defaults leave SameSite unset and Secure off; these are not left to chance."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") not in ("Lax", "Strict"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("FLOWDECK_SECURE_COOKIES") or app.config.get("SESSION_COOKIE_SECURE"))
    if app.config.get("SESSION_COOKIE_NAME", "session") == "session":
        app.config["SESSION_COOKIE_NAME"] = "flowdeck_session"
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(hours=int(app.config.get("FLOWDECK_SESSION_HOURS", 12)))


def _headers(response: Response) -> Response:
    if request.blueprint in STYLE_ATTRIBUTE_BLUEPRINTS:
        response.headers.setdefault("Content-Security-Policy", CSP_SCHEMA_EDITOR)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.endpoint != "static":
        # Pages show one user's data: never keep them in shared or back-button caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _not_a_redirect(response: Response) -> bool:
    """A failed sign-in answers with the form again; a successful one redirects."""
    return not 300 <= response.status_code < 400


def _username_key() -> str:
    return "user:" + request.form.get("username", "").strip().lower()[:60]


def login_limited(view: F) -> F:
    """Rate-limit failed sign-ins per client address and per username (from any address).

    Only failures count, so a busy office behind one address is not locked out by people
    signing in correctly. Over the limit, the view is not called: `RateLimitExceeded`
    (a 429) is raised, which the sign-in page answers itself.
    """
    by_address = limiter.limit(lambda: current_app.config["FLOWDECK_LOGIN_LIMIT"], methods=["POST"], deduct_when=_not_a_redirect)
    by_username = limiter.limit(
        lambda: current_app.config["FLOWDECK_LOGIN_USER_LIMIT"], methods=["POST"], key_func=_username_key, deduct_when=_not_a_redirect
    )
    return by_address(by_username(view))
