"""What the operator and the auditor see in the browser: readiness, the audit log (admins
only, never editable), passwords changed by their owner or reset by an admin, and the
bundled apps' upgrade page."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from alembic import command

from flowdeck.engine import apps, audit, bundled_apps, models
from flowdeck.engine.messages import M
from flowdeck.engine.system import alembic_config
from tests.support.documents import minimal_app, with_task_field, with_task_name_label
from tests.support.web import csrf_token, login, text


def _entries(db) -> list[tuple[str, str | None]]:
    a = models.audit
    return db.read(lambda c: [(r.action, r.actor_name) for r in c.execute(sa.select(a.c.action, a.c.actor_name).order_by(a.c.id))])


# -- readiness ----------------------------------------------------------------------------


def test_readyz_is_ready_on_a_current_database(client, install):
    """Does /readyz answer 200 with the loaded apps when everything is in place?"""
    install(minimal_app())
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["apps"] == ["demo"]


def test_readyz_reports_a_missing_system_migration_with_503(client, db):
    """Does /readyz answer 503 naming the pending migrations and flowdeck upgrade, while /healthz (liveness) stays 200?"""
    db.run(lambda conn: command.downgrade(alembic_config(conn), "0003"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["pending_migrations"] == ["0005", "0006", "0007", "0008", "0009", "0010", "0011"]
    assert "run flowdeck upgrade" in response.json["reason"]
    assert client.get("/healthz").status_code == 200


# -- audit log ----------------------------------------------------------------------------


@pytest.fixture
def admin(client, make_user):
    make_user("root", is_admin=True)
    assert login(client, "root").status_code == 302
    return client


def test_sign_ins_sign_outs_and_user_changes_are_audited(app, admin, db, make_user):
    """Are a failed and a successful sign-in, a user created, changed and given roles, and a sign-out each in the log?"""
    other = app.test_client()
    login(other, "root", "wrong-password")
    token = csrf_token(admin, "/admin/users/new")
    form = {"username": "li.lei", "display_name": "Li Lei", "email": "", "password": "password123", "csrf_token": token}
    created = admin.post("/admin/users/new", data=form)
    user_id = int(created.headers["Location"].rsplit("/", 1)[-1])
    admin.post(
        f"/admin/users/{user_id}", data={"display_name": "Li Lei", "email": "li@example.test", "is_active": "1", "csrf_token": token}
    )
    admin.post("/logout", data={"csrf_token": token})
    actions = _entries(db)
    assert ("signin", "root") in actions and ("signin.failed", "root") in actions
    assert ("user.created", "root") in actions and ("user.changed", "root") in actions and ("signout", "root") in actions
    page = _audit_page(app, make_user)
    assert "failed sign-in as root" in page and "created user li.lei" in page and "changed user li.lei: email" in page


def _audit_page(app, make_user, query: str = "") -> str:
    make_user("auditor", is_admin=True)
    client = app.test_client()
    login(client, "auditor")
    return text(client.get("/admin/audit/" + query))


def test_schema_applies_and_csv_exports_are_audited(app, db, install, make_user, system):
    """Are an applied document and a CSV export of a list in the log, and can the log be filtered and exported as CSV?"""
    install(minimal_app())
    make_user("lea", {"demo": ["lead"]})
    client = app.test_client()
    login(client, "lea")
    assert client.get("/a/demo/task/export.csv").status_code == 200
    actions = _entries(db)
    assert ("schema.applied", None) in actions and ("records.exported", "lea") in actions
    make_user("auditor", is_admin=True)
    auditor = app.test_client()
    login(auditor, "auditor")
    only = text(auditor.get("/admin/audit/?action=records.exported"))
    assert "exported" in only and "applied version 1 of app demo" not in only
    exported = auditor.get("/admin/audit/export.csv?who=lea")
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:3] == ["id", "time_utc", "action"]
    assert {row[2] for row in rows[1:]} == {"records.exported", "signin"}


def test_an_ordinary_user_cannot_read_the_audit_log(app, db, make_user):
    """Is the audit log (page and CSV) refused to a signed-in user who is not an admin, and to anonymous visitors?"""
    make_user("lea")
    client = app.test_client()
    assert client.get("/admin/audit/").status_code == 302
    login(client, "lea")
    assert client.get("/admin/audit/").status_code == 403
    assert client.get("/admin/audit/export.csv").status_code == 403


def test_audit_entries_cannot_be_changed_or_removed(db):
    """Does the database itself refuse to change or delete an audit entry, whoever asks?"""
    db.run(lambda c: audit.record(c, "signout", M("signed out"), actor_name="lea"))
    a = models.audit
    with pytest.raises(sa.exc.DatabaseError):
        db.run(lambda c: c.execute(a.update().values(actor_name="mallory")))
    with pytest.raises(sa.exc.DatabaseError):
        db.run(lambda c: c.execute(a.delete()))
    assert _entries(db) == [("signout", "lea")]


def test_no_route_writes_to_the_audit_log_directly(app):
    """Does the audit log offer only GET routes (no edit or delete through the app)?"""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("audit_log.")]
    assert rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in rules)


# -- passwords ----------------------------------------------------------------------------


def test_a_user_changes_their_own_password(app, db, make_user):
    """Can a user change their password (with the current one), the old one then failing and the change audited?"""
    make_user("lea")
    client = app.test_client()
    login(client, "lea")
    token = csrf_token(client, "/account/password")
    wrong = client.post(
        "/account/password", data={"current": "nope", "new": "another-pass", "confirm": "another-pass", "csrf_token": token}
    )
    assert wrong.status_code == 422 and "is not your current password" in text(wrong)
    done = client.post(
        "/account/password", data={"current": "password123", "new": "another-pass", "confirm": "another-pass", "csrf_token": token}
    )
    assert done.status_code == 303
    assert login(app.test_client(), "lea", "password123").status_code == 200
    assert login(app.test_client(), "lea", "another-pass").status_code == 302
    assert ("password.changed", "lea") in _entries(db)


def test_a_temporary_password_must_be_changed_at_the_next_sign_in(app, admin, db, make_user):
    """After an admin sets a temporary password, does signing in with it lead only to the change-password page until it is changed?"""
    lea = make_user("lea")
    token = csrf_token(admin, f"/admin/users/{lea.user_id}")
    page = text(admin.post(f"/admin/users/{lea.user_id}/password-reset", data={"how": "temporary", "csrf_token": token}))
    temporary = page.split('id="temporary-password"')[1].split("<code>")[1].split("</code>")[0]
    client = app.test_client()
    signed = login(client, "lea", temporary)
    assert signed.status_code == 302 and "/account/password" in signed.headers["Location"]
    assert "/account/password" in client.get("/").headers["Location"]
    token = csrf_token(client, "/account/password")
    client.post("/account/password", data={"current": temporary, "new": "my-own-pass", "confirm": "my-own-pass", "csrf_token": token})
    assert client.get("/").status_code == 200
    assert ("password.reset", "root") in _entries(db)


def test_a_one_time_link_sets_a_new_password_once(app, admin, db, make_user):
    """Does an admin's one-time link let the user set a password once, and then stop working?"""
    lea = make_user("lea")
    token = csrf_token(admin, f"/admin/users/{lea.user_id}")
    page = text(admin.post(f"/admin/users/{lea.user_id}/password-reset", data={"how": "link", "csrf_token": token}))
    link = page.split('id="reset-link"')[1].split("<code>")[1].split("</code>")[0]
    path = link.split("localhost", 1)[1]
    visitor = app.test_client()
    form_token = csrf_token(visitor, path)
    done = visitor.post(path, data={"new": "fresh-pass-1", "confirm": "fresh-pass-1", "csrf_token": form_token})
    assert done.status_code == 303
    assert login(app.test_client(), "lea", "fresh-pass-1").status_code == 302
    assert visitor.get(path).status_code == 404


# -- bundled apps -------------------------------------------------------------------------


def test_the_bundled_upgrade_page_shows_the_plan_and_applies_the_picked_side(app, admin, db, system, monkeypatch):
    """Does the admin page offer the newer bundled document, show the conflict with the local side chosen, and apply the side picked?"""
    bundled_apps.install_missing(db, actor=system, only=["project"])
    shipped = bundled_apps.documents()
    apps.apply_document(db, with_task_name_label(shipped["project"], "Work item"), actor=system, message="admin edit")
    newer = with_task_name_label(with_task_field(shipped["project"], "upstream_note", "Upstream note"), "Activity")
    monkeypatch.setattr(bundled_apps, "documents", lambda: {**shipped, "project": newer})
    listing = text(admin.get("/admin/bundled/"))
    assert "Review the upgrade" in listing
    plan = text(admin.get("/admin/bundled/project"))
    path = "entities.task.fields.name.label.en"
    assert path in plan and 'value="local" checked' in plan and "upstream_note" in plan
    token = csrf_token(admin, "/admin/bundled/project")
    done = admin.post("/admin/bundled/project", data={f"resolve:{path}": "incoming", "csrf_token": token})
    assert done.status_code == 303
    document = db.read(lambda c: bundled_apps._installed(c, "project"))[2]
    assert document["entities"]["task"]["fields"]["name"]["label"]["en"] == "Activity"
    assert "upstream_note" in document["entities"]["task"]["fields"]


def test_the_bundled_apps_page_is_for_admins(app, make_user):
    """Is the bundled apps page refused to a user who is not an admin?"""
    make_user("lea")
    client = app.test_client()
    login(client, "lea")
    assert client.get("/admin/bundled/").status_code == 403


def test_bundle_exports_and_department_changes_are_audited(admin, db, install):
    """Are a bundle download and a saved department recorded with the admin who did them?"""
    install(minimal_app())
    token = csrf_token(admin, "/admin/users/")
    assert admin.post("/admin/apps/demo/export", data={"csrf_token": token}).status_code == 200
    saved = admin.post("/admin/org/departments", data={"key": "ops", "name": "Operations", "csrf_token": token})
    assert saved.status_code == 303
    actions = _entries(db)
    assert ("bundle.exported", "root") in actions and ("department.changed", "root") in actions
