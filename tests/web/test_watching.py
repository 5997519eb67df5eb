"""The follow button on the record page (htmx and plain form, CSRF, read permission) and
the mail choice on the notifications page."""

from __future__ import annotations

from flowdeck.engine import records, users
from tests.support.documents import minimal_app
from tests.support.web import HX, csrf_token, login, text


def test_following_from_the_record_page(app, db, install, make_user):
    """Does the record page load a follow button that toggles with htmx and says how many follow?"""
    task = install(minimal_app()).entity("demo", "task")
    mo = make_user("mo", {"demo": ["member"]})
    make_user("lea", {"demo": ["member"]})
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=mo))
    client = app.test_client()
    login(client, "lea")
    page = client.get(f"/a/demo/task/{rec.id}").get_data(as_text=True)
    assert f'hx-get="/a/demo/task/{rec.id}/watch"' in page
    button = client.get(f"/a/demo/task/{rec.id}/watch", headers=HX).get_data(as_text=True)
    assert 'aria-pressed="false"' in button and ">Follow <" in button and ">1</span>" in button
    token = csrf_token(client, f"/a/demo/task/{rec.id}")
    assert client.post(f"/a/demo/task/{rec.id}/watch", data={"follow": "1"}, headers=HX).status_code == 400
    after = client.post(f"/a/demo/task/{rec.id}/watch", data={"follow": "1", "csrf_token": token}, headers=HX).get_data(as_text=True)
    assert 'aria-pressed="true"' in after and "Following" in after and ">2</span>" in after
    plain = client.post(f"/a/demo/task/{rec.id}/watch", data={"follow": "0", "csrf_token": token})
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/a/demo/task/{rec.id}")
    assert 'aria-pressed="false"' in client.get(f"/a/demo/task/{rec.id}/watch", headers=HX).get_data(as_text=True)


def test_a_user_without_read_access_cannot_follow(app, db, install, make_user):
    """Is the follow endpoint closed to a user who may not read the entity?"""
    task = install(minimal_app()).entity("demo", "task")
    mo = make_user("mo", {"demo": ["member"]})
    make_user("xu")
    rec = db.run(lambda c: records.create_record(c, task, {"title": "t"}, actor=mo))
    client = app.test_client()
    login(client, "xu")
    token = csrf_token(client, "/account/password")
    assert client.get(f"/a/demo/task/{rec.id}/watch").status_code == 403
    assert client.post(f"/a/demo/task/{rec.id}/watch", data={"follow": "1", "csrf_token": token}).status_code == 403


def test_the_mail_choice_is_saved_from_the_notifications_page(app, db, make_user):
    """Can a user turn notification mail off and on from the notifications page (CSRF required)?"""
    lea = make_user("lea")
    client = app.test_client()
    login(client, "lea")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'name="delivery" value="immediate" checked' in page
    token = csrf_token(client, "/notifications")
    assert client.post("/account/notifications", data={}).status_code == 400
    response = client.post("/account/notifications", data={"csrf_token": token})
    assert response.status_code == 303 and db.read(lambda c: users.mail_notifications(c, lea.user_id)) is False
    assert "Notifications stay in the app; no mail." in text(client.get(response.headers["Location"]))
    client.post("/account/notifications", data={"csrf_token": token, "mail": "1"})
    assert db.read(lambda c: users.mail_notifications(c, lea.user_id)) is True
