"""Guest access (FLOWDECK_GUEST_USER): requests without a session act as one named, non-admin
user with that user's roles; off unless set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import history, models, records, users
from flowdeck.engine.db import Database
from flowdeck.views.auth import GuestUserRefused
from tests.support.documents import minimal_app
from tests.support.web import CSRF_PATTERN, csrf_token, login


def _app(db: Database, tmp_path: Path, guest: str | None) -> Any:
    from flowdeck.app import create_app

    overrides = {"FLOWDECK_DATABASE_URL": db.url, "FLOWDECK_INSTANCE": str(tmp_path / "instance"), "SECRET_KEY": "test-secret"}
    if guest is not None:
        overrides["FLOWDECK_GUEST_USER"] = guest
    application = create_app(overrides)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def guest_app(db: Database, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Makes the Flask app with FLOWDECK_GUEST_USER set to the given username."""
    made: list[Any] = []

    def make(guest: str | None = "guest") -> Any:
        application = _app(db, tmp_path, guest)
        made.append(application)
        return application

    yield make
    for application in made:
        application.extensions["flowdeck"].db.dispose()


def _demo(install: Any, **entity: Any) -> Any:
    return install(minimal_app(**entity)).entity("demo", "task")


def _form_token(html: str, form_id: str) -> str:
    start = html.index(f'id="{form_id}"')
    at = html.index(CSRF_PATTERN, start) + len(CSRF_PATTERN)
    return html[at : html.index('"', at)]


def test_off_by_default(client, install, make_user):
    """Without FLOWDECK_GUEST_USER, does a request without a session still go to the sign-in page?"""
    _demo(install)
    make_user("guest", {"demo": ["member"]})
    response = client.get("/a/demo/task")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.application.config["FLOWDECK_GUEST_USER"] is None


def test_guest_reads_lists_and_records(guest_app, install, make_user, db):
    """With a guest user set, does a visitor read the list and a record, shown as "Guest" with a sign-in link?"""
    et = _demo(install)
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("guest", {"demo": ["viewer"]})
    made = db.run(lambda c: records.create_record(c, et, {"title": "Printer on fire"}, actor=lead))
    client = guest_app().test_client()
    page = client.get("/a/demo/task")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Printer on fire" in html
    assert '<span class="who">Guest</span>' in html
    assert "/login?next=" in html
    assert "Sign out" not in html
    record = client.get(f"/a/demo/task/{made.id}")
    assert record.status_code == 200
    assert "Printer on fire" in record.get_data(as_text=True)


def test_guest_creates_as_the_guest_user(guest_app, install, make_user, db):
    """Does a guest create a record through the form (303), recorded as done by the guest user?"""
    et = _demo(install)
    guest = make_user("guest", {"demo": ["member"]})
    client = guest_app().test_client()
    form = client.get("/a/demo/task/new")
    assert form.status_code == 200
    token = _form_token(form.get_data(as_text=True), "record-form")
    response = client.post("/a/demo/task/new", data={"csrf_token": token, "title": "From a guest", "priority": "high"})
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    stored = db.read(lambda c: records.fetch_record(c, et, record_id))
    assert stored.values["title"] == "From a guest"
    assert stored.created_by == guest.user_id


def test_guest_roles_decide_what_it_may_do(guest_app, install, make_user, db):
    """Is a guest whose role may only read refused the create form and a transition (403)?"""
    et = _demo(install, permissions={"create": ["lead", "member"], "update": ["lead", "member"]})
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("guest", {"demo": ["viewer"]})
    made = db.run(lambda c: records.create_record(c, et, {"title": "Read me"}, actor=lead))
    client = guest_app().test_client()
    assert client.get("/a/demo/task/new").status_code == 403
    page = client.get(f"/a/demo/task/{made.id}").get_data(as_text=True)
    assert 'id="transition-form"' not in page
    token = csrf_token(client, f"/a/demo/task/{made.id}")
    moved = client.post(f"/a/demo/task/{made.id}/transition", data={"csrf_token": token, "transition": "start", "version": "1"})
    assert moved.status_code == 403


def test_guest_moves_a_record_through_the_transition_form(guest_app, install, make_user, db):
    """Does a member guest perform a transition from the record page's form, logged as the guest user?"""
    et = _demo(install)
    lead = make_user("lea", {"demo": ["lead"]})
    guest = make_user("guest", {"demo": ["member"]})
    made = db.run(lambda c: records.create_record(c, et, {"title": "Move me"}, actor=lead))
    client = guest_app().test_client()
    page = client.get(f"/a/demo/task/{made.id}").get_data(as_text=True)
    assert 'value="start"' in page
    assert 'value="approve"' not in page  # approve needs the lead role
    token = _form_token(page, "transition-form")
    data = {"csrf_token": token, "transition": "start", "version": "1", "from_state": "todo"}
    assert client.post(f"/a/demo/task/{made.id}/transition", data=data).status_code == 303
    entries = db.read(lambda c: history.list_entries(c, "demo", "task", made.id))
    assert (entries[-1].transition, entries[-1].actor_id) == ("start", guest.user_id)


def test_guest_cannot_reach_admin_pages(guest_app, install, make_user):
    """Is a guest sent to the sign-in page from the admin pages, even for a user whose roles are broad?"""
    _demo(install)
    make_user("guest", {"demo": ["lead", "member"]})
    client = guest_app().test_client()
    for path in ("/admin/users", "/admin/users/new", "/admin/org/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"]
    assert "Admin</a>" not in client.get("/").get_data(as_text=True)


def test_guest_posts_still_need_the_csrf_token(guest_app, install, make_user, db):
    """Is a guest's create or transition POST without the CSRF token refused (400) and nothing written?"""
    et = _demo(install)
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("guest", {"demo": ["member"]})
    made = db.run(lambda c: records.create_record(c, et, {"title": "Keep me"}, actor=lead))
    client = guest_app().test_client()
    client.get("/a/demo/task/new")
    assert client.post("/a/demo/task/new", data={"title": "No token"}).status_code == 400
    moved = client.post(f"/a/demo/task/{made.id}/transition", data={"transition": "start", "version": "1"})
    assert moved.status_code == 400
    count = db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(et.table)).scalar_one())
    assert count == 1
    assert db.read(lambda c: records.fetch_record(c, et, made.id)).state == "todo"


@pytest.mark.parametrize("problem", ["admin", "missing", "inactive"])
def test_app_refuses_to_start_with_an_unfit_guest_user(guest_app, make_user, db, problem):
    """Does the app refuse to start when the guest user is an admin, does not exist or is deactivated?"""
    if problem == "admin":
        make_user("guest", is_admin=True)
    elif problem == "inactive":
        uid = make_user("guest").user_id
        db.run(lambda c: c.execute(models.users.update().where(models.users.c.id == uid).values(is_active=False)))
    with pytest.raises(GuestUserRefused, match="guest"):
        guest_app("guest")


def test_guest_made_admin_later_gets_no_guest_access(guest_app, install, make_user, db):
    """Once the guest user is made an admin, are visitors without a session sent to sign in again?"""
    _demo(install)
    uid = make_user("guest", {"demo": ["member"]}).user_id
    client = guest_app().test_client()
    assert client.get("/a/demo/task").status_code == 200
    db.run(lambda c: c.execute(models.users.update().where(models.users.c.id == uid).values(is_admin=True)))
    response = client.get("/a/demo/task")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.get("/admin/users").status_code == 302


def test_signing_in_replaces_the_guest(guest_app, install, make_user):
    """Does a user who signs in act as themself, with sign-out, instead of the guest?"""
    _demo(install)
    make_user("guest", {"demo": ["viewer"]})
    make_user("lea", {"demo": ["lead"]})
    client = guest_app().test_client()
    assert login(client, "lea").status_code == 302
    html = client.get("/a/demo/task").get_data(as_text=True)
    assert "Lea" in html
    assert "Sign out" in html
    assert '<span class="who">Guest</span>' not in html


def test_guest_language_choice_stays_in_its_cookie(guest_app, install, make_user, db):
    """Does a guest's language choice apply to its own pages without changing the shared guest user?"""
    _demo(install)
    uid = make_user("guest", {"demo": ["viewer"]}).user_id
    client = guest_app().test_client()
    token = csrf_token(client, "/a/demo/task")
    assert client.post("/prefs/lang", data={"csrf_token": token, "lang": "zh", "next": "/a/demo/task"}).status_code == 302
    assert client.get("/a/demo/task").get_data(as_text=True).startswith('<!doctype html>\n<html lang="zh-CN"')
    assert db.read(lambda c: users.get_user(c, uid)).locale is None
