"""Regression tests of the defects found by probing a running instance (issue #11), through
the web: input that used to answer 500 (on PostgreSQL, or on both databases)."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.engine import models
from tests.support.records import create, fetch
from tests.support.web import csrf_token, field_block, signed_in, text, url

NUL = "a\x00b"


def post_new(client, token, data):
    return client.post(url(tail="/new"), data={"csrf_token": token, **data})


# -- control characters ---------------------------------------------------------------------------


def test_a_nul_in_the_sign_in_form_is_a_failed_sign_in(client, people):
    """Does a username holding NUL fail like a wrong one instead of a server error?"""
    response = client.post("/login", data={"username": "lea\x00", "password": "password123", "csrf_token": csrf_token(client)})
    assert response.status_code in (200, 401, 422) and 'name="username"' in text(response)


def test_a_nul_in_a_search_or_a_lookup_finds_nothing_instead_of_failing(client, db, task, people):
    """Do the global search, a list's search and filter, a picker's lookup and the user
    directory answer a query holding NUL?"""
    create(db, task, people["lead"], title="ab")
    signed_in(client, "lea")
    assert client.get("/search", query_string={"q": NUL}).status_code == 200
    assert client.get(url(tail="/lookup"), query_string={"q": NUL}).status_code == 200
    listed = client.get(url(tail="/"), query_string={"q": NUL})
    assert listed.status_code == 200
    filtered = client.get(url(tail="/"), query_string={"title": NUL})
    assert filtered.status_code == 200


def test_a_nul_in_the_admin_searches_finds_nothing_instead_of_failing(client, make_user):
    """Do the user directory and the audit log answer a search holding NUL?"""
    make_user("ada", is_admin=True)
    signed_in(client, "ada")
    assert client.get("/admin/users", query_string={"q": NUL}).status_code == 200
    assert client.get("/admin/audit/", query_string={"q": NUL}).status_code == 200


def test_control_characters_in_text_are_refused_next_to_the_field(client, db, task, people):
    """Is a NUL or another C0 control in a single-line text refused with a field message,
    while tabs and line breaks stay allowed in a multi-line text?"""
    token = signed_in(client, "lea")
    response = post_new(client, token, {"title": NUL, "email": "a\x07@b.cn", "notes": "x\x00y"})
    assert response.status_code == 422
    html = text(response)
    for key in ("title", "email", "notes"):
        assert "must not contain control characters" in field_block(html, key), key
    assert db.read(lambda conn: conn.execute(task.table.select()).first()) is None
    response = post_new(client, token, {"title": "t", "notes": "one\ttwo\r\nthree"})
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert fetch(db, task, record_id).values["notes"] == "one\ttwo\r\nthree"
    line = post_new(client, token, {"title": "t", "items": "", "items.0.name": "tab\there"})
    assert line.status_code == 422 and "must not contain control characters" in field_block(text(line), "items")


def test_a_comment_holding_nul_is_refused(client, db, task, people):
    """Is a comment with a NUL refused with a message, and nothing stored?"""
    rec = create(db, task, people["lead"], title="t")
    token = signed_in(client, "lea")
    response = client.post(url(rec.id, "/comments"), data={"csrf_token": token, "body": "hi\x00there"})
    assert response.status_code in (200, 303, 400, 422)
    stored = db.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(models.comments)).scalar())
    assert stored == 0
