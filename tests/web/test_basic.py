"""The first web pages: health, sign-in, the app/entity/record listing."""

from flowdeck.engine import records
from tests.support.documents import minimal_app
from tests.support.web import csrf_token, login


def test_healthz_reports_the_database(client):
    """Does /healthz answer 200 with the database kind when the database is reachable?"""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["database"] in ("sqlite", "postgresql")


def test_pages_need_a_signed_in_user(client):
    """Is an anonymous visitor sent to the sign-in page?"""
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_login_with_a_wrong_password_is_refused(client, make_user):
    """Does a wrong password keep the user out with a clear message?"""
    make_user("lea")
    response = login(client, "lea", "wrong-password")
    assert response.status_code == 200
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_csrf_token_is_refused(client, make_user):
    """Is a POST without the CSRF token refused?"""
    make_user("lea")
    response = client.post("/login", data={"username": "lea", "password": "password123"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_signed_in_user_sees_apps_entities_and_records(client, install, make_user, db):
    """Does a member see the app, its entities and their records, escaped?"""
    registry = install(minimal_app())
    lead = make_user("lea", {"demo": ["lead"]})
    et = registry.entity("demo", "task")
    db.run(lambda c: records.create_record(c, et, {"title": "<img src=x onerror=alert(1)>"}, actor=lead))
    assert login(client, "lea").status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "/a/demo/task" in home
    page = client.get("/a/demo/task").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<img src=x" not in page


def test_user_without_role_sees_no_records(client, install, make_user):
    """Is a user holding no role in an app refused its record list?"""
    install(minimal_app())
    make_user("outsider")
    login(client, "outsider")
    assert client.get("/a/demo/task").status_code == 403


def test_unknown_entity_is_404(client, install, make_user):
    """Does an unknown entity give a 404 page, not a traceback?"""
    install(minimal_app())
    make_user("lea", {"demo": ["lead"]})
    login(client, "lea")
    response = client.get("/a/demo/nope")
    assert response.status_code == 404
    assert "has no entity" in response.get_data(as_text=True)


def test_logout_needs_post_with_token(client, make_user):
    """Does sign-out refuse GET and a missing token, and work with the token?"""
    make_user("lea")
    login(client, "lea")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_security_headers_are_set(client):
    """Do responses carry a Content Security Policy and the usual headers?"""
    response = client.get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
