"""The admin pages: who may use them, the user directory and its search, creating and
editing users (validation, self-protection, sessions ending), and the roles matrix."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flowdeck.engine import models, users
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login

ADMIN_GET = ["/admin/", "/admin/users", "/admin/users/new", "/admin/users/{lea}"]


@pytest.fixture
def people(install, make_user):
    """The demo app installed, an admin ("root") and a lead of the demo app ("lea")."""
    install(minimal_app())
    return {"root": make_user("root", is_admin=True), "lea": make_user("lea", {"demo": ["lead"]})}


@pytest.fixture
def admin(client, people):
    """The test client, signed in as the admin."""
    assert login(client, "root").status_code == 302
    return client


def _post(client, path, data, **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, "/admin/users"), **data}, **kwargs)


def _user(db, username):
    return db.read(lambda c: users.find_user(c, username))


def _roles(db, user_id):
    return db.read(lambda c: users.roles_of(c, user_id))


def _sessions(db, user_id):
    s = models.login_sessions
    return db.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(s).where(s.c.user_id == user_id)).scalar_one())


def _edit_data(user, **changes):
    data = {"display_name": user.display_name, "email": user.email or "", "password": ""}
    if user.is_active:
        data["is_active"] = "1"
    if user.is_admin:
        data["is_admin"] = "1"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- who may use the admin pages --------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, people):
    """Is an anonymous visitor to every admin page sent to the sign-in page?"""
    for path in ADMIN_GET:
        response = client.get(path.format(lea=people["lea"].user_id))
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/admin")


def test_non_admins_get_the_403_page(client, people):
    """Does a signed-in user who is not an admin get the 403 page on every admin page and POST?"""
    login(client, "lea")
    lea = people["lea"].user_id
    for path in ADMIN_GET:
        response = client.get(path.format(lea=lea))
        assert response.status_code == 403
        assert "You may not see or do this." in response.get_data(as_text=True)
    token = csrf_token(client, "/")
    for path, data in [
        ("/admin/users/new", {"username": "eve", "password": "password123"}),
        (f"/admin/users/{lea}", {"display_name": "Lea", "is_active": "1", "is_admin": "1"}),
        (f"/admin/users/{lea}/roles", {"role": "demo:viewer"}),
        (f"/admin/users/{lea}/sessions/end", {}),
    ]:
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403
    assert client.get("/").get_data(as_text=True).count('href="/admin/users"') == 0


def test_admin_sees_the_admin_link_and_pages(admin, people):
    """Does an admin get the Admin link and every admin page?"""
    assert 'href="/admin/users"' in admin.get("/").get_data(as_text=True)
    assert admin.get("/admin/").headers["Location"] == "/admin/users"
    for path in ADMIN_GET[1:]:
        assert admin.get(path.format(lea=people["lea"].user_id)).status_code == 200


def test_admin_posts_need_the_csrf_token(admin, people, db):
    """Is every admin form refused with 400 without its CSRF token, and nothing changed?"""
    lea = people["lea"].user_id
    assert admin.post("/admin/users/new", data={"username": "eve", "password": "password123"}).status_code == 400
    assert admin.post(f"/admin/users/{lea}", data={"display_name": "Hacked", "is_active": "1"}).status_code == 400
    assert admin.post(f"/admin/users/{lea}/roles", data={"role": "demo:viewer"}).status_code == 400
    assert admin.post(f"/admin/users/{lea}/sessions/end").status_code == 400
    assert _user(db, "eve") is None
    assert _user(db, "lea").display_name == "Lea"
    assert _roles(db, lea) == {"demo": {"lead"}}


def test_unknown_user_is_404(admin):
    """Is a user id that does not exist a 404 page, for the page and its forms?"""
    assert admin.get("/admin/users/999").status_code == 404
    assert _post(admin, "/admin/users/999", {"display_name": "X"}).status_code == 404
    assert _post(admin, "/admin/users/999/roles", {"role": "demo:lead"}).status_code == 404
    assert _post(admin, "/admin/users/999/sessions/end", {}).status_code == 404


# --- the directory --------------------------------------------------------------------------------


def test_directory_lists_users_with_status_and_roles(admin, people, db):
    """Does the list show each user's name, email, admin and active status, and roles per app with labels?"""
    db.run(lambda c: c.execute(models.users.update().where(models.users.c.username == "lea").values(email="lea@example.com")))
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "lea@example.com" in page and "Lea" in page
    assert '<span class="appname">Demo</span>: Lead' in page
    assert 'class="tag admin"' in page and 'class="tag active"' in page
    assert "2 users." in page


def test_directory_search(admin, people, make_user):
    """Does the search box narrow the list, and answer htmx with only the results?"""
    make_user("bob")
    page = admin.get("/admin/users?q=bo").get_data(as_text=True)
    assert ">bob</a>" in page and ">lea</a>" not in page
    fragment = admin.get("/admin/users?q=lea", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="user-results">') and "<html" not in body
    assert ">lea</a>" in body and ">bob</a>" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_directory_escapes_user_data(admin, db, people):
    """Is a display name holding HTML shown as text?"""
    db.run(
        lambda c: c.execute(
            models.users.update().where(models.users.c.username == "lea").values(display_name="<img src=x onerror=alert(1)>")
        )
    )
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_directory_pages(admin, make_user, people):
    """Does a long directory come in pages, keeping the search in the page links?"""
    for n in range(55):
        make_user(f"member{n:02d}")
    first = admin.get("/admin/users?q=member").get_data(as_text=True)
    assert "Page 1 of 2" in first and "/admin/users?q=member&amp;page=2" in first
    second = admin.get("/admin/users?q=member&page=2").get_data(as_text=True)
    assert ">member54</a>" in second and ">member00</a>" not in second


# --- creating users -----------------------------------------------------------------------------


def test_create_user(admin, db):
    """Does a valid new user get created and land on their edit page?"""
    response = _post(
        admin,
        "/admin/users/new",
        {"username": "Chen.Wei", "display_name": "Chen Wei", "email": "chen@example.com", "password": "long-enough", "is_admin": "1"},
    )
    assert response.status_code == 303
    created = _user(db, "chen.wei")
    assert response.headers["Location"] == f"/admin/users/{created.id}"
    assert (created.display_name, created.email, created.is_admin, created.is_active) == ("Chen Wei", "chen@example.com", True, True)
    assert "User created." in admin.get(response.headers["Location"]).get_data(as_text=True)
    fresh = admin.application.test_client()
    assert login(fresh, "chen.wei", "long-enough").status_code == 302


def test_create_user_shows_errors_next_to_fields_and_keeps_input(admin, db, people):
    """Are a taken username, a bad email and a short password shown by their fields, with the input kept?"""
    response = _post(
        admin, "/admin/users/new", {"username": "lea", "display_name": "Other Lea", "email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "&#34;lea&#34; is taken" in page and "is not a valid email address" in page and "must be at least 8 characters" in page
    assert 'value="Other Lea"' in page and 'value="not-an-email"' in page
    assert 'value="short"' not in page
    assert page.count('class="field has-error"') == 3
    assert 'aria-invalid="true"' in page
    assert db.read(lambda c: len(users.list_users(c))) == 2


def test_create_user_needs_a_password(admin, db):
    """Is a new user without a password refused?"""
    response = _post(admin, "/admin/users/new", {"username": "nopass", "password": ""})
    assert response.status_code == 422
    assert _user(db, "nopass") is None


# --- editing users -----------------------------------------------------------------------------


def test_edit_user_profile(admin, db, people):
    """Can an admin change a user's display name, email and admin flag?"""
    lea = _user(db, "lea")
    response = _post(admin, f"/admin/users/{lea.id}", _edit_data(lea, display_name="Lea Chen", email="lea@corp.example", is_admin="1"))
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{lea.id}"
    changed = _user(db, "lea")
    assert (changed.display_name, changed.email, changed.is_admin) == ("Lea Chen", "lea@corp.example", True)
    assert "Saved." in admin.get(f"/admin/users/{lea.id}").get_data(as_text=True)


def test_edit_user_errors_keep_input(admin, db, people, make_user):
    """Is a taken email or an empty name shown next to its field with the input kept and nothing saved?"""
    make_user("bob")
    bob = _user(db, "bob")
    db.run(
        lambda c: users.update_user(
            c, bob.id, display_name="Bob", email="bob@example.com", is_active=True, is_admin=False, actor=people["root"]
        )
    )
    lea = _user(db, "lea")
    response = _post(admin, f"/admin/users/{lea.id}", _edit_data(lea, display_name="", email="bob@example.com"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "&#34;bob@example.com&#34; is used by another user" in page and "is required" in page
    assert 'value="bob@example.com"' in page
    assert _user(db, "lea").email is None


def test_admin_cannot_deactivate_themself(admin, db, people):
    """Is an admin's own deactivation refused, with the reason, and are they still active and signed in?"""
    root = _user(db, "root")
    page = admin.get(f"/admin/users/{root.id}").get_data(as_text=True)
    assert 'id="f-is_active" type="checkbox" disabled' in page and 'id="f-is_admin" type="checkbox" disabled' in page
    data = _edit_data(root)
    data.pop("is_active")
    response = _post(admin, f"/admin/users/{root.id}", data)
    assert response.status_code == 422
    assert "you cannot deactivate yourself" in response.get_data(as_text=True)
    assert _user(db, "root").is_active
    assert admin.get("/admin/users").status_code == 200


def test_admin_cannot_unadmin_themself(admin, db, people):
    """Is an admin's removal of their own admin flag refused?"""
    root = _user(db, "root")
    data = _edit_data(root)
    data.pop("is_admin")
    response = _post(admin, f"/admin/users/{root.id}", data)
    assert response.status_code == 422
    assert "you cannot take away your own admin rights" in response.get_data(as_text=True)
    assert _user(db, "root").is_admin


def test_admin_can_unadmin_another_admin(admin, db, make_user):
    """Can an admin take admin rights away from another admin?"""
    make_user("second", is_admin=True)
    second = _user(db, "second")
    data = _edit_data(second)
    data.pop("is_admin")
    assert _post(admin, f"/admin/users/{second.id}", data).status_code == 303
    assert not _user(db, "second").is_admin


def test_deactivating_signs_the_user_out_everywhere(admin, app, db, people):
    """Does deactivating a user end their sessions at once, and keep them from signing in?"""
    lea_browser = app.test_client()
    login(lea_browser, "lea")
    assert lea_browser.get("/").status_code == 200
    lea = _user(db, "lea")
    data = _edit_data(lea)
    data.pop("is_active")
    response = _post(admin, f"/admin/users/{lea.id}", data)
    assert response.status_code == 303
    assert _sessions(db, lea.id) == 0
    assert lea_browser.get("/").status_code == 302
    assert login(lea_browser, "lea").status_code == 200
    assert "Their sessions have ended" in admin.get(f"/admin/users/{lea.id}").get_data(as_text=True)
    assert 'class="tag off"' in admin.get("/admin/users").get_data(as_text=True)


def test_password_reset_signs_the_user_out(admin, app, db, people):
    """Does resetting a password end the user's sessions and make the new password the one that works?"""
    lea_browser = app.test_client()
    login(lea_browser, "lea")
    lea = _user(db, "lea")
    assert _post(admin, f"/admin/users/{lea.id}", _edit_data(lea, password="a-fresh-password")).status_code == 303
    assert _sessions(db, lea.id) == 0
    assert lea_browser.get("/").status_code == 302
    assert login(lea_browser, "lea", "password123").status_code == 200
    assert login(lea_browser, "lea", "a-fresh-password").status_code == 302


def test_short_new_password_is_refused(admin, db, people, app):
    """Is a too-short new password shown as an error, leaving sessions alone?"""
    lea_browser = app.test_client()
    login(lea_browser, "lea")
    lea = _user(db, "lea")
    response = _post(admin, f"/admin/users/{lea.id}", _edit_data(lea, password="short"))
    assert response.status_code == 422 and "must be at least 8 characters" in response.get_data(as_text=True)
    assert lea_browser.get("/").status_code == 200


def test_own_password_change_keeps_this_browser(admin, app, db, people):
    """Does an admin changing their own password stay signed in here but not elsewhere?"""
    elsewhere = app.test_client()
    login(elsewhere, "root")
    root = _user(db, "root")
    assert _post(admin, f"/admin/users/{root.id}", _edit_data(root, password="new-root-password")).status_code == 303
    assert admin.get("/admin/users").status_code == 200
    assert elsewhere.get("/").status_code == 302


def test_end_all_sessions_button(admin, app, db, people):
    """Does "Sign out everywhere" end the user's sessions?"""
    lea_browser = app.test_client()
    login(lea_browser, "lea")
    lea = _user(db, "lea")
    assert "Signed in on 1 browser." in admin.get(f"/admin/users/{lea.id}").get_data(as_text=True)
    assert _post(admin, f"/admin/users/{lea.id}/sessions/end", {}).status_code == 303
    assert lea_browser.get("/").status_code == 302


# --- roles matrix ---------------------------------------------------------------------------------


def test_roles_matrix_shows_every_app_and_role(admin, db, people, install):
    """Does the matrix list every installed app with its roles, ticked where held, with labels?"""
    doc = minimal_app()
    doc["key"] = "other"
    doc["label"] = {"en": "Other app", "zh": "另一个"}
    install(doc)
    page = admin.get(f"/admin/users/{people['lea'].user_id}").get_data(as_text=True)
    assert '<th scope="row">Demo</th>' in page and '<th scope="row">Other app</th>' in page
    assert 'value="demo:lead" checked' in page
    assert 'value="demo:member">' in page and 'value="other:lead">' in page
    assert "<span>Viewer</span>" in page


def test_roles_matrix_grants_and_revokes(admin, db, people):
    """Does saving the matrix grant the ticked roles and take away the unticked ones?"""
    lea = people["lea"].user_id
    response = _post(admin, f"/admin/users/{lea}/roles", {"role": ["demo:member", "demo:viewer"]})
    assert response.status_code == 303 and response.headers["Location"] == f"/admin/users/{lea}#roles"
    assert _roles(db, lea) == {"demo": {"member", "viewer"}}
    assert "Roles saved: 2 granted, 1 taken away." in admin.get(f"/admin/users/{lea}").get_data(as_text=True)
    _post(admin, f"/admin/users/{lea}/roles", {})
    assert _roles(db, lea) == {}


def test_roles_take_effect_for_the_user(admin, app, db, people, make_user):
    """Does a role granted in the matrix let the user into the app on their next request?"""
    make_user("newbie")
    newbie = _user(db, "newbie")
    browser = app.test_client()
    login(browser, "newbie")
    assert "/a/demo/task/" not in browser.get("/").get_data(as_text=True)
    _post(admin, f"/admin/users/{newbie.id}/roles", {"role": "demo:member"})
    assert "/a/demo/task/" in browser.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("demo:boss", "app &#34;demo&#34; has no role &#34;boss&#34;"),
        ("nope:lead", "there is no app &#34;nope&#34;"),
        ("garbage", "Unknown role"),
    ],
)
def test_forged_roles_are_refused(admin, db, people, value, message):
    """Is an unknown app or role in a forged POST a 400 with a clear message, and nothing changed?"""
    lea = people["lea"].user_id
    response = _post(admin, f"/admin/users/{lea}/roles", {"role": ["demo:member", value]})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _roles(db, lea) == {"demo": {"lead"}}


def test_grants_no_longer_defined_can_be_removed(admin, db, people):
    """Is a grant for a role the app no longer defines shown, and removable?"""
    lea = people["lea"].user_id
    db.run(lambda c: users.grant_role(c, lea, "demo", "retired"))
    page = admin.get(f"/admin/users/{lea}").get_data(as_text=True)
    assert 'value="demo:retired" checked' in page and "no longer defined" in page
    assert _post(admin, f"/admin/users/{lea}/roles", {"role": ["demo:lead", "demo:retired"]}).status_code == 303
    assert _roles(db, lea) == {"demo": {"lead", "retired"}}
    _post(admin, f"/admin/users/{lea}/roles", {"role": ["demo:lead"]})
    assert _roles(db, lea) == {"demo": {"lead"}}


def test_admin_pages_in_chinese_show_chinese_labels(admin, people):
    """Do schema labels in the matrix follow the chosen language?"""
    _post(admin, "/prefs/lang", {"lang": "zh"})
    page = admin.get(f"/admin/users/{people['lea'].user_id}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and '<th scope="row">演示</th>' in page
