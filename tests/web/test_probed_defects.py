"""Regression tests of the defects found by probing a running instance (issue #11), through
the web: input that used to answer 500 (on PostgreSQL, or on both databases)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from flowdeck.engine import models
from tests.support.documents import tracker_app
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


# -- dates and times out of range -------------------------------------------------------------------


def test_a_moment_before_year_one_in_utc_is_a_field_error(client, db, task, people):
    """Is 0001-01-01T00:00 in Asia/Shanghai (year 0 in UTC) refused next to the field, on a
    new record, a line item's neighbour fields kept, and the conditions endpoint?"""
    token = signed_in(client, "lea")
    response = post_new(client, token, {"title": "t", "starts_at": "0001-01-01T00:00"})
    assert response.status_code == 422
    assert "must be a date and time from year 1 to 9999" in field_block(text(response), "starts_at")
    late = post_new(client, token, {"title": "t", "starts_at": "9999-12-31T23:59+00:00"})
    assert late.status_code == 422 and "from year 1 to 9999" in field_block(text(late), "starts_at")
    conditions = client.post(url(tail="/conditions"), data={"csrf_token": token, "title": "t", "starts_at": "0001-01-01T00:00"})
    assert conditions.status_code == 200
    assert db.read(lambda conn: conn.execute(task.table.select()).first()) is None


def test_a_moment_out_of_range_in_a_list_filter_is_a_message(client, db, task, people):
    """Do list filters on a date-time field out of range answer the list with a message
    (and, signed out, the sign-in redirect) instead of 500?"""
    for query in ({"starts_at__gte": "0001-01-01T00:00"}, {"starts_at__gte": "0001-01-01"}, {"starts_at__lte": "9999-12-31"}):
        assert client.get(url(tail="/"), query_string=query).status_code == 302
    signed_in(client, "lea")
    for query in ({"starts_at__gte": "0001-01-01T00:00"}, {"starts_at__gte": "0001-01-01"}, {"starts_at__lte": "9999-12-31"}):
        listed = client.get(url(tail="/"), query_string=query)
        assert listed.status_code == 200, query


def test_an_audit_day_out_of_range_is_ignored(client, make_user):
    """Does the audit log answer a from-day whose start is before year 1 in UTC?"""
    make_user("ada", is_admin=True)
    signed_in(client, "ada")
    assert client.get("/admin/audit/", query_string={"from": "0001-01-01", "to": "9999-12-31"}).status_code == 200


# -- ids ------------------------------------------------------------------------------------------------


def test_a_line_item_user_nobody_has_is_refused_in_place(client, db, install, files_dir, people):
    """Does the form answer 422 with the message beside the line item's user column?"""
    doc = tracker_app()
    doc["entities"]["task"]["fields"]["items"]["fields"]["by"] = {"type": "user"}
    task = install(doc).entity("demo", "task")
    token = signed_in(client, "lea")
    response = post_new(client, token, {"title": "t", "items": "", "items.0.name": "x", "items.0.by": "99999"})
    assert response.status_code == 422
    assert "no user with id" in field_block(text(response), "items")
    digits = post_new(client, token, {"title": "t", "owner": "١٢"})
    assert digits.status_code == 422 and "must be a user" in field_block(text(digits), "owner")
    assert db.read(lambda conn: conn.execute(task.table.select()).first()) is None


# -- documents ------------------------------------------------------------------------------------------


def test_the_editor_reports_a_huge_number_and_a_lone_surrogate_in_place(client, task, make_user):
    """Do the editor's live check, the editor page and apply answer a 5,000-digit number or a
    lone surrogate escape with a problem at its path instead of 500?"""
    make_user("ada", is_admin=True)
    token = signed_in(client, "ada")
    base = json.dumps(tracker_app(), indent=1)
    huge = base.replace('"min": 0', '"min": ' + "1" * 5000, 1)
    lone = base.replace('"help": "A short summary"', '"help": "A short \\ud800 summary"', 1)
    for text_, path in ((huge, "entities.task.fields.count.min"), (lone, "entities.task.fields.title.help")):
        checked = client.post("/admin/apps/demo/check", data={"csrf_token": token, "document": text_, "cursor": "0"})
        assert checked.status_code == 200 and [p["path"] for p in checked.get_json()["problems"]] == [path]
        assert client.post("/admin/apps/demo/edit", data={"csrf_token": token, "document": text_}).status_code == 200
        applied = client.post("/admin/apps/demo/apply", data={"csrf_token": token, "document": text_})
        assert applied.status_code in (200, 422)
