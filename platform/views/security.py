"""What every response gets, whoever wrote the view: CSRF protection on every
state-changing request, session cookie flags, a Content Security Policy and the usual
headers (error pages included: `after_request` runs for handled errors and for 500s); the
client's real address behind trusted proxies; the sign-in limits.

Settings (see `config.py`): `FLOWDECK_SECURE_COOKIES`, `FLOWDECK_SESSION_HOURS`,
`FLOWDECK_PROXY_HOPS`, `FLOWDECK_LOGIN_LIMIT`, `FLOWDECK_LOGIN_USER_LIMIT`,
`FLOWDECK_RATELIMIT_STORAGE`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, generate_csrf
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from werkzeug.middleware.proxy_fix import ProxyFix

from flowdeck import config
from flowdeck.engine import audit, signin_limits

csrf = CSRFProtect()
F = TypeVar("F", bound=Callable[..., Any])
KNOWN_COOKIE = "flowdeck_known"
KNOWN_DAYS = 180
KNOWN_MAX = 5

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


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, unchanged but for its serializer, made once per set of
    keys: Flask makes one for every request (reading the cookie) and response (writing it),
    and each tries its JSON serializer once to learn that it writes text (about 2 % of a
    record page's CPU, issue #10). The serializer keeps no state between calls."""

    def __init__(self) -> None:
        self._made: tuple[object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]


def init_app(app: Flask) -> None:
    _cookie_settings(app)
    app.session_interface = SessionCookies()
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    app.jinja_env.globals["csrf_token"] = csrf_token
    # Flask-WTF also puts its own `generate_csrf` in every template's context, which wins
    # over a global: this processor, registered after it, puts ours back.
    app.context_processor(lambda: {"csrf_token": csrf_token})
    hops = int(app.config.get("FLOWDECK_PROXY_HOPS") or 0)
    if hops:
        # Trust exactly `hops` proxies' X-Forwarded-* headers: the address, scheme, host,
        # port and prefix they saw become the request's (rate limits, audit, links).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)  # type: ignore[method-assign]
    app.extensions["flowdeck_signin"] = _signin_store(app)
    app.before_request(_note_client_address)
    app.teardown_request(_forget_client_address)
    app.after_request(_headers)


def csrf_token() -> str:
    """Flask-WTF's `generate_csrf` for templates: made once per request, then read from `g`
    where Flask-WTF keeps it (a page asks three or four times; each of Flask-WTF's own
    calls reads its configuration again)."""
    token = g.get("csrf_token")
    return token if token is not None else generate_csrf()  # type: ignore[no-any-return]


def _note_client_address() -> None:
    audit.set_client_address(request.remote_addr)


def _forget_client_address(error: BaseException | None = None) -> None:
    """A worker thread serves the next request (or a test) with no address left over."""
    audit.set_client_address(None)


def _signin_store(app: Flask) -> signin_limits.FailureStore:
    storage = app.config.get("FLOWDECK_RATELIMIT_STORAGE") or config.DATABASE_STORAGE
    if storage == config.DATABASE_STORAGE:
        return signin_limits.DatabaseStore(app.extensions["flowdeck"].db)
    return signin_limits.RedisStore(storage)


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
    """The security headers a response does not set itself, added in one pass (werkzeug's
    `setdefault` scans every header for each name it sets)."""
    wanted: list[tuple[str, str]] = []
    if request.blueprint in STYLE_ATTRIBUTE_BLUEPRINTS:
        wanted.append(("Content-Security-Policy", CSP_SCHEMA_EDITOR))
    wanted += HEADERS.items()
    if current_app.config["SESSION_COOKIE_SECURE"]:
        wanted.append(("Strict-Transport-Security", HSTS))
    if request.endpoint != "static":
        # Pages show one user's data: never keep them in shared or back-button caches.
        wanted.append(("Cache-Control", "no-store"))
    present = {key.lower() for key, _value in response.headers}
    for name, value in wanted:
        if name.lower() not in present:
            present.add(name.lower())
            response.headers.add(name, value)
    return response


def _budgets() -> signin_limits.Budgets:
    return signin_limits.budgets_from(
        config.parse_limits(current_app.config["FLOWDECK_LOGIN_LIMIT"], "FLOWDECK_LOGIN_LIMIT"),
        config.parse_limits(current_app.config["FLOWDECK_LOGIN_USER_LIMIT"], "FLOWDECK_LOGIN_USER_LIMIT"),
    )


def signin_verdict(username: str) -> signin_limits.Verdict:
    """May this sign-in attempt check its password now (see `engine/signin_limits.py`)?"""
    return signin_limits.check(
        current_app.extensions["flowdeck_signin"],
        _budgets(),
        address=request.remote_addr or "",
        username=username,
        known=_username_key(username) in known_browser(),
    )


def signin_failed(username: str) -> None:
    signin_limits.record_failure(
        current_app.extensions["flowdeck_signin"], _budgets(), address=request.remote_addr or "", username=username
    )


def _username_key(username: str) -> str:
    return username.strip().lower()[:60]


def _known_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="flowdeck-known-browser")  # type: ignore[arg-type]


def known_browser() -> list[str]:
    """The usernames this browser signed in as before (a signed cookie; empty if forged)."""
    raw = request.cookies.get(KNOWN_COOKIE)
    if not raw:
        return []
    try:
        names = _known_serializer().loads(raw)
    except BadSignature:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def remember_browser(response: Response, username: str) -> None:
    """Mark the browser as one `username` signs in with, so an attack on the name never
    slows its owner down here."""
    names = [_username_key(username), *(n for n in known_browser() if n != _username_key(username))][:KNOWN_MAX]
    response.set_cookie(
        KNOWN_COOKIE,
        _known_serializer().dumps(names),
        max_age=KNOWN_DAYS * 86400,
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
    )
