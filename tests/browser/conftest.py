"""Browser tests: a live Flowdeck server and Debian's Chromium driven by Playwright.

The server runs in a background thread (werkzeug, threaded) on 127.0.0.1 and a free port,
over a fresh database (SQLite, or PostgreSQL with `FLOWDECK_TEST_DB=postgresql`) holding
the bundled apps, the demo data and a small `signoff` app for the approval flow test.
Tests add the records they need through the engine (`live.create(...)`), so they never
depend on one another's moves.

Chromium is the system one (`/usr/bin/chromium`); Playwright never downloads a browser.
Without it the tests are skipped locally and fail when `CI` is set (CI must run them).
Screenshots are written only with `FLOWDECK_SCREENSHOTS=1` (`make screenshots`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.demo import DEMO_PASSWORD, load_demo
from flowdeck.engine import approvals, users
from flowdeck.engine.apps import apply_document, install_bundled
from flowdeck.engine.db import Database
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import Record, create_record, fetch_record
from flowdeck.engine.registry import Catalog
from flowdeck.engine.storage.tables import EntityTables
from flowdeck.engine.workflow import transition_record
from tests.support.browser import SITE_ADMIN
from tests.support.databases import DatabaseFactory

CHROMIUM = Path(os.environ.get("FLOWDECK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TIMEOUT_MS = 15_000

# A two-step flow for the approvals test: the lead signs first (或签, `any`), then the lead
# and the auditor countersign (会签, `all`); the lead's second approval is automatic (an
# approver who approved an earlier step of the round), so the auditor decides the end.
SIGNOFF_USERS = {
    "sam.requester": ("Sam Requester", "requester"),
    "ann.lead": ("Ann Lead", "approver"),
    "ben.audit": ("Ben Audit", "approver"),
}
SIGNOFF_APP: dict[str, Any] = {
    "key": "signoff",
    "label": {"en": "Sign-off", "zh": "签核"},
    "roles": {
        "requester": {"label": {"en": "Requester", "zh": "申请人"}},
        "approver": {"label": {"en": "Approver", "zh": "审批人"}},
    },
    "entities": {
        "request": {
            "label": {"en": "Sign-off request", "zh": "签核申请"},
            "plural": {"en": "Sign-off requests", "zh": "签核申请"},
            "fields": {
                "title": {"type": "text", "required": True, "max_length": 200, "label": {"en": "Title", "zh": "标题"}},
                "amount": {"type": "decimal", "scale": 2, "label": {"en": "Amount", "zh": "金额"}},
                "satisfaction": {"type": "rating", "label": {"en": "Satisfaction", "zh": "满意度"}},
            },
            "permissions": {"create": ["requester"], "update": ["requester"], "delete": []},
            "workflow": {
                "states": {
                    "draft": {"label": {"en": "Draft", "zh": "草稿"}, "category": "todo"},
                    "approved": {"label": {"en": "Approved", "zh": "已批准"}, "category": "done"},
                },
                "transitions": [
                    {
                        "key": "submit",
                        "label": {"en": "Submit", "zh": "提交"},
                        "from": "draft",
                        "to": "approved",
                        "roles": ["requester"],
                        "approval": {
                            "steps": [
                                {"key": "lead", "label": {"en": "Lead sign-off", "zh": "组长签核"}, "approvers": {"users": ["ann.lead"]}},
                                {
                                    "key": "countersign",
                                    "label": {"en": "Countersign", "zh": "会签"},
                                    "approvers": {"users": ["ann.lead", "ben.audit"]},
                                    "mode": "all",
                                },
                            ],
                            "reject_to": "draft",
                        },
                    }
                ],
            },
            "views": {
                "all": {"type": "list", "label": {"en": "All requests", "zh": "全部申请"}, "columns": ["title", "amount", "state"]},
                "board": {"type": "board", "label": {"en": "Board", "zh": "看板"}, "group_by": "state", "card": ["amount"]},
            },
        }
    },
}


def _demo_setup(db: Database) -> None:
    install_bundled(db, actor=Actor.system())
    load_demo(db, actor=Actor.system(), password=DEMO_PASSWORD)


def _live_setup(db: Database) -> None:
    _demo_setup(db)
    apply_document(db, SIGNOFF_APP, actor=Actor.system(), message="browser tests")

    def work(conn: sa.Connection) -> None:
        for username, (name, role) in SIGNOFF_USERS.items():
            uid = users.create_user(conn, username, password=DEMO_PASSWORD, display_name=name)
            users.grant_role(conn, uid, "signoff", role)

    db.run(work)


@dataclass
class LiveServer:
    """A running Flowdeck and the database behind it, with engine helpers for test data."""

    url: str
    db: Database
    _actors: dict[str, Actor] = field(default_factory=dict)
    _catalog: Catalog | None = None

    def tables(self, app: str, entity: str) -> EntityTables:
        if self._catalog is None:
            self._catalog = Catalog(self.db)
        return self._catalog.current().entity(app, entity)

    def actor(self, username: str) -> Actor:
        if username not in self._actors:

            def find(conn: sa.Connection) -> Actor:
                user = users.find_user(conn, username)
                assert user is not None, f"no user {username!r} in the live database"
                return users.actor_for(conn, user.id)

            self._actors[username] = self.db.read(find)
        return self._actors[username]

    def user_id(self, username: str) -> int:
        user_id = self.actor(username).user_id
        assert user_id is not None
        return user_id

    def create(self, app: str, entity: str, values: Mapping[str, Any], *, by: str) -> Record:
        et, actor = self.tables(app, entity), self.actor(by)
        return self.db.run(lambda conn: create_record(conn, et, values, actor=actor))

    def transition(self, app: str, entity: str, record_id: int, key: str, *, by: str, **values: Any) -> Record:
        et, actor = self.tables(app, entity), self.actor(by)
        return self.db.run(lambda conn: transition_record(conn, et, record_id, key, actor=actor, values=values or None))

    def ask_approval(self, app: str, entity: str, record_id: int, key: str, *, by: str) -> int:
        et, actor = self.tables(app, entity), self.actor(by)
        outcome = self.db.run(lambda conn: approvals.request_approval(conn, et, record_id, key, actor=actor))
        assert outcome.request_id is not None
        return outcome.request_id

    def record(self, app: str, entity: str, record_id: int) -> Record:
        et = self.tables(app, entity)
        return self.db.read(lambda conn: fetch_record(conn, et, record_id))

    def record_id(self, app: str, entity: str, **where: Any) -> int:
        """The id of the one record whose columns equal `where`."""
        table = self.tables(app, entity).table
        query = sa.select(table.c.id).where(*(table.c[k] == v for k, v in where.items()))
        return self.db.read(lambda conn: conn.execute(query).scalar_one())


@contextmanager
def serve(db: Database, instance: Path) -> Iterator[str]:
    """Serve the Flask app on `db` from a background thread; yields the base URL."""
    from werkzeug.serving import make_server

    from flowdeck.app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(
        {
            "FLOWDECK_DATABASE_URL": db.url,
            "FLOWDECK_INSTANCE": str(instance),
            "FLOWDECK_FILES_DIR": str(instance / "files"),
            "SECRET_KEY": "browser-tests",
            "FLOWDECK_SECURE_COOKIES": False,  # plain http on 127.0.0.1
            "FLOWDECK_GUEST_USER": None,  # whatever the shell says: sign-in is what these tests drive
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="flowdeck-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        stop_jobs = app.extensions.get("flowdeck_jobs_stop")  # the embedded job worker, if a request started it
        if stop_jobs is not None:
            stop_jobs.set()
        app.extensions["flowdeck"].db.dispose()


@pytest.fixture(scope="package")  # stopped (its job worker too) when the browser tests end, not at the session's end
def live_server(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Flowdeck with the bundled apps, the demo data and the signoff app, for the session."""
    db = databases.fresh(databases.template("browser-live", _live_setup))
    with serve(db, tmp_path_factory.mktemp("live-instance")) as url:
        yield LiveServer(url, db)
    databases.drop(db)


@pytest.fixture(scope="module")
def demo_server(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Flowdeck with only the bundled apps and the demo data (what `make run` shows)."""
    db = databases.fresh(databases.template("browser-demo", _demo_setup))
    with serve(db, tmp_path_factory.mktemp("demo-instance")) as url:
        yield LiveServer(url, db)
    databases.drop(db)


@pytest.fixture(scope="module")
def admin_server(demo_server: LiveServer) -> LiveServer:
    """The demo server with an administrator (`SITE_ADMIN`) to sign in as."""

    def work(conn: sa.Connection) -> None:
        if users.find_user(conn, SITE_ADMIN) is None:
            users.create_user(conn, SITE_ADMIN, password=DEMO_PASSWORD, display_name="Site Admin", is_admin=True)

    demo_server.db.run(work)
    return demo_server


# -- the browser ------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs Chromium with apt-get)", pytrace=False)
    pytest.skip(f"{reason} (install Debian's chromium to run the browser tests)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system; skipped locally without it, a failure under CI."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def login(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login form and wait for the signed-in page."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    page.locator("form.userbox .who").wait_for()  # signed in (a guest's box is no form)


@dataclass
class Session:
    """One user's browser context and page; JavaScript errors are collected."""

    context: Any
    page: Any
    errors: list[str]


@pytest.fixture
def open_as(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """`open_as(username, lang="en", ...)`: a new browser context signed in as the user;
    returns its page. Every test that uses it fails on an uncaught JavaScript error."""
    sessions: list[Session] = []

    def open_(username: str, *, lang: str = "en", server: LiveServer | None = None, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1440, "height": 900})
        context = browser.new_context(base_url=(server or live_server).url, locale="zh-CN" if lang == "zh" else "en-US", **options)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sessions.append(Session(context, page, errors))
        login(page, username)
        return page

    yield open_
    errors = [error for s in sessions for error in s.errors]
    for s in sessions:
        s.context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
