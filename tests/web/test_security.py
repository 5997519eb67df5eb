"""Sign-in hardening and what holds for every route: rate limits, session rotation,
timeouts, sign-out, cookie flags, headers, error pages, open redirects, the language
choice, and two walks over `app.url_map` (permission check and CSRF on every route, no
state change on GET)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from flowdeck.app import create_app
from flowdeck.engine import models, records, signin_limits, users
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login

COOKIE = "flowdeck_session"
# Readiness is for load balancers; a password link is its own proof (the token).
PUBLIC_GET = {"auth.login", "health.healthz", "health.readyz", "account.reset", "static"}
PUBLIC_POST = {"auth.login", "auth.logout", "auth.set_language", "account.reset"}
TOKEN_POST = {"webhook_receiver.call"}
"""Called by other systems with a per-hook token instead of a session (so no CSRF token
either): refused without a valid token, never sent to the sign-in page."""
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
VIEWS = {
    "all": {"type": "list", "label": {"en": "All tasks"}, "columns": ["title", "priority"]},
    "board": {"type": "board", "label": {"en": "Task board"}, "group_by": "state", "card": ["priority"]},
}
# Query strings some GET routes read, so the walk reaches their real work.
EXTRA_QUERY = {
    "records.transition": {"transition": "start"},
    "records.lookup": {"q": "a"},
    "home.search": {"q": "a"},
    "admin.users": {"q": "a"},
}


@pytest.fixture
def make_app(db, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """A fresh app (fresh rate-limit counts) on the test database, with config overrides."""
    made = []

    def make(**overrides: Any) -> Any:
        config = {
            "FLOWDECK_DATABASE_URL": db.url,
            "FLOWDECK_INSTANCE": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret",
            **overrides,
        }
        application = create_app(config)
        application.config["TESTING"] = True
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["flowdeck"].db.dispose()


def _sid(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("sid")


def _session_count(db, user_id: int) -> int:
    s = models.login_sessions
    return db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(s).where(s.c.user_id == user_id)).scalar_one())


def _age_sessions(db, user_id: int, **ago: dt.timedelta) -> None:
    now = dt.datetime.now(dt.UTC)
    values = {column: now - delta for column, delta in ago.items()}
    db.run(lambda c: c.execute(models.login_sessions.update().where(models.login_sessions.c.user_id == user_id).values(**values)))


def _is_login_redirect(response) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].split("?")[0] in ("/login", "http://localhost/login")


# --- rate limiting -------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The sign-in limits' clock, moved on by hand (so a slow machine never lets a wait pass)."""
    now = [dt.datetime.now(dt.UTC)]
    monkeypatch.setattr(signin_limits, "_now", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += dt.timedelta(seconds=seconds)

    return advance


def test_failed_logins_per_username_slow_down_a_correct_password(make_app, make_user, clock):
    """Over the username limit, is a correct password held off for a second (a 429 page), then let in: slowed, never locked?"""
    make_user("lea")
    client = make_app(FLOWDECK_LOGIN_USER_LIMIT="3 per minute").test_client()
    for _ in range(3):
        assert login(client, "lea", "wrong-password").status_code == 200
    refused = login(client, "lea", "password123")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Too many sign-in attempts. Wait 1 second and try again." in page
    assert 'id="username"' in page and 'value="lea"' in page
    assert 'class="topbar"' in page
    assert int(refused.headers["Retry-After"]) == 1
    assert _sid(client) is None
    clock(1.5)
    assert login(client, "lea", "password123").status_code == 302
    assert _sid(client) is not None


def test_each_failure_over_the_username_limit_doubles_the_wait(make_app, make_user, clock):
    """Does each further wrong password double the wait (1, 2, 4 s), so guessing one account slows to a crawl?"""
    make_user("lea")
    client = make_app(FLOWDECK_LOGIN_USER_LIMIT="2 per minute", FLOWDECK_LOGIN_LIMIT="100 per minute").test_client()
    for _ in range(2):
        login(client, "lea", "wrong-password")
    waits = []
    for _ in range(3):
        refused = login(client, "lea", "wrong-password")
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        clock(waits[-1])
        assert login(client, "lea", "wrong-password").status_code == 200  # checked, and counted
    assert waits == [1, 2, 4]


def test_the_browser_that_signed_in_before_is_not_slowed_down(make_app, make_user, clock):
    """While someone elsewhere guesses lea's password, does lea's own browser still sign in at once?"""
    make_user("lea")
    app = make_app(FLOWDECK_LOGIN_USER_LIMIT="2 per minute")
    own = app.test_client()
    assert login(own, "lea").status_code == 302
    own.post("/logout", data={"csrf_token": csrf_token(own, "/")})
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(3):
        login(attacker, "lea", "wrong-password")
    assert login(attacker, "lea").status_code == 429
    assert login(own, "lea").status_code == 302


def test_username_limit_does_not_block_other_users(make_app, make_user, clock):
    """Can another user still sign in while one username is slowed down?"""
    make_user("lea")
    make_user("bob")
    client = make_app(FLOWDECK_LOGIN_USER_LIMIT="2 per minute").test_client()
    for _ in range(3):
        login(client, "lea", "wrong-password")
    assert login(client, "lea").status_code == 429
    assert login(client, "bob").status_code == 302


def test_failed_logins_per_address_are_limited(make_app, make_user):
    """Is one address trying many usernames stopped by the per-address limit?"""
    make_user("lea")
    client = make_app(FLOWDECK_LOGIN_LIMIT="4 per minute").test_client()
    for n in range(4):
        assert login(client, f"guess{n}", "wrong-password").status_code == 200
    refused = login(client, "lea")
    assert refused.status_code == 429
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts. Wait" in refused.get_data(as_text=True)


def test_successful_logins_do_not_count(make_app, make_user):
    """Does signing in correctly, again and again, never hit the limit?"""
    make_user("lea")
    client = make_app(FLOWDECK_LOGIN_USER_LIMIT="2 per minute", FLOWDECK_LOGIN_LIMIT="2 per minute").test_client()
    for _ in range(5):
        assert login(client, "lea").status_code == 302


def test_counts_are_shared_by_every_app_process(make_app, make_user):
    """Do failures counted by one app process (a gunicorn worker, another server) hold in another on the same database?"""
    make_user("lea")
    first = make_app(FLOWDECK_LOGIN_LIMIT="2 per minute").test_client()
    for n in range(2):
        login(first, f"guess{n}", "wrong-password")
    second = make_app(FLOWDECK_LOGIN_LIMIT="2 per minute").test_client()
    assert login(second, "lea").status_code == 429


def test_the_redis_storage_starts_and_shares_the_counts(make_app, make_user, redis_url):
    """With FLOWDECK_RATELIMIT_STORAGE=redis://..., does the app start and do two app processes share the sign-in counts?"""
    make_user("lea")
    first = make_app(FLOWDECK_RATELIMIT_STORAGE=redis_url, FLOWDECK_LOGIN_LIMIT="2 per minute").test_client()
    first.environ_base["REMOTE_ADDR"] = "198.51.100.77"
    for n in range(2):
        assert login(first, f"guess{n}", "wrong-password").status_code == 200
    second = make_app(FLOWDECK_RATELIMIT_STORAGE=redis_url, FLOWDECK_LOGIN_LIMIT="2 per minute").test_client()
    second.environ_base["REMOTE_ADDR"] = "198.51.100.77"
    assert login(second, "lea").status_code == 429


def _behind_proxy(app, client_address: str) -> Any:
    """A client whose requests reach the app through one proxy on 127.0.0.1."""
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": client_address})
    return client


def test_two_clients_behind_one_proxy_get_separate_budgets(make_app, make_user, db):
    """Behind one proxy (FLOWDECK_PROXY_HOPS=1), do two clients get separate budgets, and the audit log their own addresses?"""
    make_user("lea")
    app = make_app(FLOWDECK_LOGIN_LIMIT="3 per minute", FLOWDECK_PROXY_HOPS=1)
    typist, colleague = _behind_proxy(app, "198.51.100.7"), _behind_proxy(app, "198.51.100.8")
    for n in range(3):
        assert login(typist, f"guess{n}", "wrong-password").status_code == 200
    assert login(typist, "lea").status_code == 429
    assert login(colleague, "lea").status_code == 302
    a = models.audit
    seen = db.read(lambda c: sorted(set(c.execute(sa.select(a.c.action, a.c.address)).all())))
    assert ("signin", "198.51.100.8") in seen and ("signin.failed", "198.51.100.7") in seen
    assert all(address != "127.0.0.1" for _, address in seen)


def test_without_proxy_hops_everyone_behind_the_proxy_shares_one_budget(make_app, make_user):
    """Without the setting, is the proxy's address the one counted (why FLOWDECK_PROXY_HOPS exists)?"""
    make_user("lea")
    app = make_app(FLOWDECK_LOGIN_LIMIT="3 per minute")
    typist, colleague = _behind_proxy(app, "198.51.100.7"), _behind_proxy(app, "198.51.100.8")
    for n in range(3):
        login(typist, f"guess{n}", "wrong-password")
    assert login(colleague, "lea").status_code == 429


def test_the_scheme_and_host_the_proxy_saw_make_the_links(make_app, make_user, db):
    """Behind a TLS-terminating proxy, do links the app writes (a password link) use https and the public host?"""
    make_user("root", is_admin=True)
    lea = make_user("lea")
    app = make_app(FLOWDECK_PROXY_HOPS=1)
    client = app.test_client()
    client.environ_base.update(
        {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_FORWARDED_FOR": "198.51.100.7",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_X_FORWARDED_HOST": "flowdeck.example.com",
            "HTTP_REFERER": "https://flowdeck.example.com/login",
        }
    )
    assert login(client, "root").status_code == 302
    token = csrf_token(client, "/")
    page = client.post(f"/admin/users/{lea.user_id}/password-reset", data={"how": "link", "csrf_token": token}).get_data(as_text=True)
    assert "https://flowdeck.example.com/account/reset/" in page


# --- sessions --------------------------------------------------------------------------


def test_login_starts_a_new_session_and_ends_the_old_one(client, db, make_user):
    """Does signing in end the browser's previous session token and issue a new one?"""
    lea = make_user("lea")
    make_user("bob")
    login(client, "lea")
    first = _sid(client)
    before = csrf_token(client, "/")
    assert login(client, "bob").status_code == 302
    second = _sid(client)
    assert first and second and second != first
    assert _session_count(db, lea.user_id) == 0
    # The CSRF secret went with the old session: a token from before no longer works.
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400


def test_planted_session_token_is_not_kept(client, app, db, make_user):
    """If an attacker plants their own session token in a browser, is it ended at sign-in?"""
    attacker, victim = make_user("mallory"), make_user("lea")
    other = app.test_client()
    login(other, "mallory")
    planted = _sid(other)
    with client.session_transaction() as session:
        session["sid"] = planted
    login(client, "lea")
    assert _sid(client) != planted
    assert _session_count(db, attacker.user_id) == 0
    assert _session_count(db, victim.user_id) == 1


def test_logout_ends_the_server_session(client, db, make_user):
    """After signing out, is a replayed copy of the old cookie signed out too?"""
    lea = make_user("lea")
    login(client, "lea")
    stolen = client.get_cookie(COOKIE).value
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/")}).status_code == 302
    assert _session_count(db, lea.user_id) == 0
    client.set_cookie(COOKIE, stolen)
    assert _is_login_redirect(client.get("/"))


def test_idle_session_times_out(make_app, db, make_user):
    """Is a session idle longer than FLOWDECK_IDLE_MINUTES signed out, with a message?"""
    lea = make_user("lea")
    client = make_app(FLOWDECK_IDLE_MINUTES=5).test_client()
    login(client, "lea")
    _age_sessions(db, lea.user_id, last_seen_at=dt.timedelta(minutes=4))
    assert client.get("/").status_code == 200
    _age_sessions(db, lea.user_id, last_seen_at=dt.timedelta(minutes=6))
    response = client.get("/")
    assert _is_login_redirect(response)
    assert _session_count(db, lea.user_id) == 0
    assert "Your session has ended" in client.get("/login").get_data(as_text=True)


def test_use_restarts_the_idle_clock(make_app, db, make_user):
    """Does using the site keep an otherwise idle session alive?"""
    lea = make_user("lea")
    client = make_app(FLOWDECK_IDLE_MINUTES=5).test_client()
    login(client, "lea")
    _age_sessions(db, lea.user_id, last_seen_at=dt.timedelta(minutes=4))
    assert client.get("/").status_code == 200
    seen = db.read(lambda c: c.execute(sa.select(models.login_sessions.c.last_seen_at)).scalar_one())
    assert dt.datetime.now(dt.UTC) - seen < dt.timedelta(minutes=1)


def test_absolute_timeout_ends_a_busy_session(make_app, db, make_user):
    """Is a session older than FLOWDECK_SESSION_HOURS ended even if it was just used?"""
    lea = make_user("lea")
    application = make_app(FLOWDECK_SESSION_HOURS=2)
    assert application.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(hours=2)
    client = application.test_client()
    login(client, "lea")
    _age_sessions(db, lea.user_id, created_at=dt.timedelta(hours=1, minutes=59), last_seen_at=dt.timedelta(seconds=5))
    assert client.get("/").status_code == 200
    _age_sessions(db, lea.user_id, created_at=dt.timedelta(hours=2, minutes=1), last_seen_at=dt.timedelta(seconds=5))
    assert _is_login_redirect(client.get("/"))


def test_htmx_request_after_timeout_gets_401_with_redirect(make_app, db, make_user):
    """Does an htmx request from a timed-out session get 401 and an HX-Redirect to sign in?"""
    lea = make_user("lea")
    client = make_app(FLOWDECK_IDLE_MINUTES=5).test_client()
    login(client, "lea")
    _age_sessions(db, lea.user_id, last_seen_at=dt.timedelta(minutes=10))
    response = client.get("/my", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"


# --- cookies and headers -----------------------------------------------------------------


def _set_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "="))


def test_session_cookie_flags(client, make_user):
    """Is the session cookie HttpOnly and SameSite=Lax, and not Secure on plain HTTP setups?"""
    make_user("lea")
    cookie = _set_cookie(login(client, "lea"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookies_setting(make_app, make_user):
    """With FLOWDECK_SECURE_COOKIES, is the cookie Secure and HSTS sent?"""
    make_user("lea")
    client = make_app(FLOWDECK_SECURE_COOKIES=True).test_client()
    response = login(client, "lea")
    cookie = _set_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def _assert_security_headers(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def _assert_site_page(response, code: int) -> str:
    assert response.status_code == code
    page = response.get_data(as_text=True)
    assert '<html lang="' in page and 'class="topbar"' in page and "Traceback" not in page
    _assert_security_headers(response)
    return page


def test_error_pages_use_the_site_layout_and_headers(client, make_user):
    """Are 403, 404 and 405 answers pages in the site layout, with the security headers?"""
    make_user("lea")
    _assert_site_page(client.get("/no/such/page"), 404)
    login(client, "lea")
    assert "There is no page at this address." in _assert_site_page(client.get("/no/such/page"), 404)
    assert "You may not see or do this." in _assert_site_page(client.get("/admin/users"), 403)
    _assert_site_page(client.get("/logout"), 405)
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_server_error_page_has_the_layout_and_headers(make_app, make_user):
    """Is an unexpected error a 500 page in the site layout with the headers, not a traceback?"""
    application = make_app(PROPAGATE_EXCEPTIONS=False)

    def explode() -> str:
        raise RuntimeError("secret internals")

    application.add_url_rule("/test-explode", "test_explode", explode)
    page = _assert_site_page(application.test_client().get("/test-explode"), 500)
    assert "secret internals" not in page


def test_static_files_carry_headers_and_long_caching(client):
    """Do fingerprinted static files get the security headers and a long cache?"""
    with client.get("/static/app.js?v=1") as response:
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=31536000" in response.headers["Cache-Control"]


# --- redirects after sign-in ------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, make_user, target):
    """Does a hostile `next=` after sign-in land on the start page instead?"""
    make_user("lea")
    token = csrf_token(client)
    response = client.post(
        "/login", query_string={"next": target}, data={"username": "lea", "password": "password123", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_on_the_site_is_followed(client, make_user):
    """Does a `next=` path on the site bring the user back there after sign-in?"""
    make_user("lea")
    first = client.get("/my?x=1")
    assert first.headers["Location"] == "/login?next=/my?x%3D1"
    token = csrf_token(client)
    response = client.post("/login?next=/my?x%3D1", data={"username": "lea", "password": "password123", "csrf_token": token})
    assert response.headers["Location"] == "/my?x=1"


def test_language_switch_next_never_leaves_the_site(client):
    """Does the language switch refuse to redirect to another site?"""
    response = client.post("/prefs/lang", data={"lang": "en", "next": "//evil.example", "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/"


# --- language ---------------------------------------------------------------------------------


def test_accept_language_picks_chinese(client):
    """Does a browser asking for zh-CN get the Chinese page?"""
    page = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert '<html lang="en">' in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)


def test_language_switch_overrides_the_browser(client):
    """Does choosing English stick even though the browser asks for Chinese?"""
    zh = {"Accept-Language": "zh-CN"}
    token = csrf_token(client)
    response = client.post("/prefs/lang", data={"lang": "en", "next": "/login", "csrf_token": token}, headers=zh)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert '<html lang="en">' in client.get("/login", headers=zh).get_data(as_text=True)


def test_language_choice_is_remembered_on_the_user(app, db, make_user):
    """Is a signed-in user's choice kept on their account and used in a new browser?"""
    lea = make_user("lea")
    first = app.test_client()
    login(first, "lea")
    first.post("/prefs/lang", data={"lang": "zh", "next": "/", "csrf_token": csrf_token(first, "/")})
    assert db.read(lambda c: users.get_user(c, lea.user_id)).locale == "zh"
    second = app.test_client()
    login(second, "lea")
    assert '<html lang="zh-CN">' in second.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_language_kept_across_sign_in_and_out(client, make_user):
    """Does the language chosen before signing in survive sign-in and sign-out?"""
    make_user("lea")
    client.post("/prefs/lang", data={"lang": "zh", "csrf_token": csrf_token(client)})
    login(client, "lea")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert '<html lang="zh-CN">' in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_unknown_language_is_refused(client):
    """Is an unknown language a 400 page, with nothing remembered?"""
    response = client.post("/prefs/lang", data={"lang": "xx", "csrf_token": csrf_token(client)})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "lang" not in session


def test_language_switch_needs_csrf(client):
    """Is the language switch refused without the CSRF token?"""
    assert client.post("/prefs/lang", data={"lang": "zh"}).status_code == 400


# --- walks over the URL map -------------------------------------------------------------------


@pytest.fixture
def site(app, db, install, make_user):
    """An app with one entity (list and board views), a record, an admin and a member."""
    registry = install(minimal_app(views=VIEWS))
    admin = make_user("root", is_admin=True)
    lea = make_user("lea", {"demo": ["lead"]})
    record_id = db.run(lambda c: records.create_record(c, registry.entity("demo", "task"), {"title": "First"}, actor=lea)).id
    values = {"app": "demo", "entity": "task", "view": "all", "record_id": record_id, "user_id": lea.user_id, "file_id": 1}
    return {"app": app, "db": db, "admin": admin, "values": values}


def _rules(app, *methods: str) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if r.methods & set(methods)), key=lambda r: r.rule)


def _url(rule: Rule, values: dict[str, Any]) -> str:
    """A URL for `rule`, with real values where the site has them."""
    args = {}
    for name in rule.arguments:
        if name in values:
            args[name] = values[name]
        elif isinstance(rule._converters[name], IntegerConverter):
            args[name] = 1
        elif isinstance(rule._converters[name], AnyConverter):
            args[name] = sorted(rule._converters[name].items)[0]
        else:
            args[name] = "x"
    if rule.endpoint.startswith("boards.") and "view" in args:
        args["view"] = "board"
    built = rule.build(args, append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def _snapshot(db) -> dict[str, list[str]]:
    """Every row of every table (the idle clock of sessions aside, and the audit log: a GET
    that reads what an auditor must know about, such as a CSV export, is recorded there)."""

    def read(conn: sa.Connection) -> dict[str, list[str]]:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        rows = {}
        for name, table in metadata.tables.items():
            if name == models.audit.name:
                continue
            columns = [c for c in table.c if not (name == models.login_sessions.name and c.name == "last_seen_at")]
            rows[name] = sorted(repr(tuple(row)) for row in conn.execute(sa.select(*columns)))
        return rows

    return db.read(read)


def test_every_route_checks_the_user(site):
    """Does every route (but sign-in, health and static files) send an anonymous visitor to sign in?"""
    app, values = site["app"], site["values"]
    client = app.test_client()
    token = csrf_token(client)
    checked = []
    for rule in _rules(app, "GET"):
        if rule.endpoint in PUBLIC_GET:
            continue
        url = _url(rule, values)
        assert _is_login_redirect(client.get(url)), f"GET {url} ({rule.endpoint}) does not ask to sign in"
        htmx = client.get(url, headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login", f"htmx GET {url}"
        checked.append(rule.endpoint)
    for rule in _rules(app, "POST", "PUT", "PATCH", "DELETE"):
        if rule.endpoint in PUBLIC_POST:
            continue
        url = _url(rule, values)
        for method in sorted(rule.methods - SAFE_METHODS):
            response = client.open(url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
            if rule.endpoint in TOKEN_POST:
                assert response.status_code in (401, 403, 404) and response.is_json, f"{method} {url} ({rule.endpoint}) without a token"
                continue
            assert _is_login_redirect(response), f"{method} {url} ({rule.endpoint}) does not ask to sign in"
        checked.append(rule.endpoint)
    assert {"home.index", "admin.users", "admin.user_edit", "admin.user_roles"} <= set(checked)


def test_public_routes_answer_anonymous_visitors(site):
    """Do the sign-in page, the health check and static files answer without signing in?"""
    client = site["app"].test_client()
    assert client.get("/login").status_code == 200
    assert client.get("/healthz").status_code == 200
    with client.get("/static/flowdeck.css") as response:
        assert response.status_code == 200


def test_every_state_changing_route_needs_csrf(site):
    """Is every non-GET request without a CSRF token refused with 400, even from an admin?"""
    app, values = site["app"], site["values"]
    client = app.test_client()
    login(client, "root")
    before = _snapshot(site["db"])
    rules = _rules(app, "POST", "PUT", "PATCH", "DELETE")
    for rule in rules:
        url = _url(rule, values)
        for method in sorted(rule.methods - SAFE_METHODS):
            refused = (401, 403, 404) if rule.endpoint in TOKEN_POST else (400,)
            assert client.open(url, method=method, data={"lang": "zh"}).status_code in refused, (
                f"{method} {url} ({rule.endpoint}) without CSRF token"
            )
    assert _snapshot(site["db"]) == before
    assert {"auth.login", "auth.logout", "auth.set_language", "admin.user_roles"} <= {r.endpoint for r in rules}


def test_no_route_changes_anything_on_get(site):
    """Does no GET (signed in as an admin, or anonymous) change the database?"""
    app, values, db = site["app"], site["values"], site["db"]
    admin_client, anonymous = app.test_client(), app.test_client()
    login(admin_client, "root")
    before = _snapshot(db)
    walked = []
    for rule in _rules(app, "GET"):
        url = _url(rule, values)
        query = EXTRA_QUERY.get(rule.endpoint, {})
        for client in (admin_client, anonymous):
            response = client.get(url, query_string=query)
            assert response.status_code < 500, f"GET {url} ({rule.endpoint}) answered {response.status_code}"
            assert _snapshot(db) == before, f"GET {url} ({rule.endpoint}) changed the database"
        walked.append(rule.endpoint)
    both = {r.endpoint for r in _rules(app, "GET") if "POST" in r.methods}
    assert {"auth.login", "admin.user_new", "admin.user_edit"} <= both <= set(walked)


def test_requests_have_a_size_limit_by_default(app):
    """Is there a request size limit even when none is configured (Flask's default is none)?"""
    assert app.config["MAX_CONTENT_LENGTH"] == 100 * 1024 * 1024
