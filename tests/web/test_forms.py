"""Create and edit forms: a widget per field type, errors beside fields with the input kept,
conflicts, live show-if / required-if, field rules, line items, time zones, lookups, preview."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from flowdeck.engine import models, records, workflow
from flowdeck.forms import webforms
from tests.support.documents import minimal_app, tracker_app
from tests.support.records import create, fetch
from tests.support.web import HX, XSS_TITLE, field_block, signed_in, text, url, value_of


@pytest.fixture
def files_dir(app, tmp_path):
    folder = tmp_path / "files"
    app.config["FLOWDECK_FILES_DIR"] = str(folder)
    return folder


@pytest.fixture
def task(install, files_dir):
    return install(tracker_app()).entity("demo", "task")


@pytest.fixture
def people(make_user):
    return {
        "lead": make_user("lea", {"demo": ["lead"]}),
        "member": make_user("mo", {"demo": ["member"]}),
        "viewer": make_user("vic", {"demo": ["viewer"]}),
    }


def post_new(client, token, data, **kwargs):
    return client.post(url(tail="/new"), data={"csrf_token": token, **data}, **kwargs)


# -- rendering ------------------------------------------------------------------------------------


def test_new_form_has_a_fitting_widget_for_every_field_type(client, task, people):
    """Does the create form render each field type with its widget, label, marker and help?"""
    signed_in(client, "lea")
    response = client.get(url(tail="/new"))
    html = text(response)
    assert response.status_code == 200
    assert '<form id="record-form" class="record-form" method="post"' in html and 'enctype="multipart/form-data"' in html
    assert value_of(html, "csrf_token")
    title = field_block(html, "title")
    assert '<label for="f-title">Title<span class="req"' in title and " required" in title
    assert 'id="h-title">A short summary</p>' in title and 'aria-describedby="h-title"' in title
    assert 'type="email"' in field_block(html, "email")
    assert 'type="url"' in field_block(html, "site")
    assert 'type="tel"' in field_block(html, "phone")
    assert (
        'type="number"' in field_block(html, "count")
        and 'step="1"' in field_block(html, "count")
        and 'min="0"' in field_block(html, "count")
    )
    assert 'step="0.1"' in field_block(html, "estimate")
    budget = field_block(html, "budget")
    assert '<span class="prefix">CNY</span>' in budget and 'step="0.01"' in budget
    assert '<span class="suffix">%</span>' in field_block(html, "progress")
    assert 'type="date"' in field_block(html, "due")
    assert 'type="datetime-local"' in field_block(html, "starts_at") and "Asia/Shanghai" in field_block(html, "starts_at")
    urgent = field_block(html, "urgent")
    assert 'type="hidden" name="urgent" value="false"' in urgent and 'type="checkbox" value="true"' in urgent
    priority = field_block(html, "priority")
    assert '<option value="high">High</option>' in priority
    tags = field_block(html, "tags")
    assert tags.startswith('data-field="tags"') and 'type="checkbox" name="tags" value="ui"' in tags and "<legend>" in tags
    owner = field_block(html, "owner")
    assert "<select" in owner and "Lea (@lea)" in owner and "Mo (@mo)" in owner
    assert "multiple" in field_block(html, "watchers")
    parent = field_block(html, "parent")
    assert 'data-lookup="/a/demo/task/lookup"' in parent and 'class="ref-search"' in parent and 'name="parent" value=""' in parent
    assert 'data-many="true"' in field_block(html, "related")
    spec = field_block(html, "spec")
    assert 'type="file"' in spec and 'accept=".pdf,.txt"' in spec and "0.01 MB" in spec
    assert "multiple" in field_block(html, "files")
    notes = field_block(html, "notes")
    assert "<textarea" in notes and 'hx-post="/preview/markdown?field=notes"' in notes and "Preview" in notes
    assert "Assigned when saved" in field_block(html, "number") and "Calculated when saved" in field_block(html, "total")
    items = field_block(html, "items")
    assert "data-add-row" in items and "<template data-row-template>" in items and 'name="items.__i__.qty"' in items
    assert 'name="items.__i__.id"' in items
    assert html.index(">Basics<") < html.index('data-field="title"') < html.index(">Planning<") < html.index('data-field="due"')
    assert html.index('data-field="due"') < html.index('data-field="email"')
    assert 'data-conditions="/a/demo/task/conditions"' in html
    assert field_block(html, "severity").split(">")[0].endswith(" hidden")  # show_if kind == "bug": hidden at first


def test_defaults_fill_the_new_form(client, install, files_dir, people):
    """Are the schema's defaults (select, the user "me") filled in on the create form?"""
    doc = minimal_app()
    doc["entities"]["task"]["fields"]["owner"] = {"type": "user", "default": "me"}
    install(doc)
    signed_in(client, "lea")
    html = text(client.get(url(tail="/new")))
    assert '<option value="normal" selected>' in html
    assert re.search(r'<option value="1" selected>Lea', html)


def test_create_answers_303_to_the_new_record(client, db, task, people):
    """Does a valid create post store the values and redirect (303) to the record page?"""
    token = signed_in(client, "mo")
    data = MultiDict(
        [
            ("title", "New thing"),
            ("priority", "high"),
            ("estimate", "2.5"),
            ("budget", "1200.50"),
            ("urgent", "false"),
            ("urgent", "true"),
            ("tags", ""),
            ("tags", "api"),
            ("owner", str(people["lead"].user_id)),
            ("watchers", ""),
            ("watchers", str(people["lead"].user_id)),
            ("watchers", str(people["member"].user_id)),
            ("due", "2030-01-31"),
            ("items", ""),
            ("items.0.id", ""),
            ("items.0.name", "Bolt"),
            ("items.0.qty", "3"),
            ("items.0.price", "2.50"),
            ("csrf_token", token),
        ]
    )
    response = client.post(url(tail="/new"), data=data)
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    stored = fetch(db, task, record_id).values
    assert stored["title"] == "New thing" and stored["urgent"] is True and stored["tags"] == ["api"]
    assert stored["budget"] == Decimal("1200.50") and stored["due"] == dt.date(2030, 1, 31)
    assert stored["watchers"] == [people["lead"].user_id, people["member"].user_id]
    assert [(i["name"], i["qty"], i["amount"]) for i in stored["items"]] == [("Bolt", 3, Decimal("7.50"))]
    assert stored["total"] == Decimal("7.50") and stored["number"] == "T-0001"


# -- errors and kept input ---------------------------------------------------------------------------


def test_validation_errors_appear_next_to_their_fields_with_the_input_kept(client, db, task, people):
    """Does a failed create show each error beside its field and keep everything the user typed?"""
    token = signed_in(client, "lea")
    data = {
        "title": "",
        "count": "-3",
        "email": "not-an-email",
        "estimate": "abc",
        "notes": "my *long* notes",
        "priority": "high",
        "urgent": "true",
    }
    response = post_new(client, token, data)
    assert response.status_code == 422
    html = text(response)
    assert "The record was not saved" in html
    assert "is required" in field_block(html, "title") and "has-error" in field_block(html, "title")
    assert "must be at least 0" in field_block(html, "count") and value_of(html, "count") == "-3"
    assert "is not a valid email address" in field_block(html, "email") and value_of(html, "email") == "not-an-email"
    assert "must be a number" in field_block(html, "estimate") and value_of(html, "estimate") == "abc"
    assert "my *long* notes</textarea>" in field_block(html, "notes")
    assert '<option value="high" selected>' in field_block(html, "priority")
    assert " checked" in field_block(html, "urgent")
    assert 'aria-invalid="true"' in field_block(html, "email") and 'aria-describedby="e-email"' in field_block(html, "email")
    assert db.read(lambda conn: conn.execute(task.table.select()).first()) is None


def test_required_if_and_line_item_errors_are_shown_in_place(client, db, task, people):
    """Are a required-if error and an error inside a line item shown where they belong?"""
    token = signed_in(client, "lea")
    data = {"title": "t", "kind": "bug", "severity": "major", "items": "", "items.4.name": "", "items.4.qty": "x", "items.9.name": "ok"}
    html = text(post_new(client, token, data))
    assert "is required" in field_block(html, "repro")
    items = field_block(html, "items")
    assert value_of(items, "items.0.qty") == "x" and value_of(items, "items.1.name") == "ok"
    assert "must be a whole number" in items and "is required" in items


def test_stale_edit_shows_the_conflict_and_keeps_the_input(client, db, task, people):
    """Does saving over someone else's newer save show a conflict, keep the input and allow a deliberate resave?"""
    rec = create(db, task, people["lead"], title="Original", estimate="1")
    token = signed_in(client, "mo")
    form = text(client.get(url(rec.id, "/edit")))
    assert 'name="version" value="1"' in form and 'value="Original"' in form
    db.run(lambda conn: records.update_record(conn, task, rec.id, {"title": "Theirs"}, actor=people["lead"], expected_version=1))
    response = client.post(url(rec.id, "/edit"), data={"csrf_token": token, "version": "1", "title": "Mine", "estimate": "5"})
    assert response.status_code == 409
    html = text(response)
    assert "Someone else saved this record while you were editing it." in html
    assert value_of(html, "title") == "Mine" and value_of(html, "estimate") == "5"
    assert 'name="version" value="2"' in html
    assert fetch(db, task, rec.id).values["title"] == "Theirs"
    again = client.post(url(rec.id, "/edit"), data={"csrf_token": token, "version": "2", "title": "Mine", "estimate": "5"})
    assert again.status_code == 303 and fetch(db, task, rec.id).values["title"] == "Mine"


def test_edit_saves_and_redirects(client, db, task, people):
    """Does a valid edit save only what changed and answer 303 to the record page?"""
    rec = create(db, task, people["lead"], title="Before", urgent=True, tags=["ui", "api"])
    token = signed_in(client, "mo")
    response = client.post(
        url(rec.id, "/edit"), data={"csrf_token": token, "version": "1", "title": "After", "urgent": "false", "tags": ""}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(url(rec.id))
    stored = fetch(db, task, rec.id)
    assert (stored.values["title"], stored.values["urgent"], stored.values["tags"], stored.version) == ("After", False, [], 2)


def test_user_picker_escapes_names_marks_the_chosen_one_and_keeps_an_inactive_owner(client, db, task, people):
    """Does the user select show names as text, select the record's owner, and still offer
    an owner who has since been deactivated (marked so) while hiding other inactive people?"""
    rec = create(db, task, people["lead"], title="Owned", owner=people["member"].user_id)

    def change(conn):
        conn.execute(models.users.update().where(models.users.c.username == "lea").values(display_name="<b onclick=x>Lea</b>"))
        conn.execute(models.users.update().where(models.users.c.username.in_(["mo", "vic"])).values(is_active=False))

    db.run(change)
    signed_in(client, "lea")
    owner = field_block(text(client.get(url(rec.id, "/edit"))), "owner")
    assert "<b onclick" not in owner and "&lt;b onclick=x&gt;Lea&lt;/b&gt; (@lea)</option>" in owner
    assert f'<option value="{people["member"].user_id}" selected>Mo (@mo) · inactive</option>' in owner
    assert "(@vic)" not in owner


# -- conditions ------------------------------------------------------------------------------------------


def test_conditions_endpoint_applies_show_if_and_required_if(client, task, people):
    """Does the conditions endpoint answer visible/required per field from the form's current values?"""
    token = signed_in(client, "lea")
    path = url(tail="/conditions")
    start = client.post(path, data={"csrf_token": token, "title": "x"}).json
    assert start["severity"] == {"visible": False, "required": False}
    assert start["repro"] == {"visible": True, "required": False}
    assert start["title"] == {"visible": True, "required": True}
    bug = client.post(path, data={"csrf_token": token, "kind": "bug", "severity": "major"}).json
    assert bug["severity"]["visible"] is True and bug["repro"] == {"visible": True, "required": True}
    garbled = client.post(path, data={"csrf_token": token, "kind": "bug", "severity": "major", "estimate": "abc"}, headers=HX)
    assert garbled.status_code == 200 and garbled.json["repro"]["required"] is True


def test_conditions_follow_the_record_state_and_the_users_roles(client, db, task, people):
    """Does the endpoint apply field rules for the record's state and role, and need the right permission?"""
    rec = create(db, task, people["lead"], title="t")
    token = signed_in(client, "mo")
    states = client.post(url(tail="/conditions"), data={"csrf_token": token, "_record": str(rec.id)}).json
    assert states["secret"]["visible"] is False
    client.post("/logout", data={"csrf_token": token})
    token = signed_in(client, "vic")
    assert client.post(url(tail="/conditions"), data={"csrf_token": token}).status_code == 403
    assert client.post(url(tail="/conditions"), data={"csrf_token": token, "_record": str(rec.id)}).status_code == 403


def test_fields_locked_or_hidden_by_rules_are_not_editable_and_refused(client, db, task, people):
    """Are rule-hidden fields left out and rule-locked ones shown as text, and refused when posted anyway?"""
    rec = create(db, task, people["lead"], title="t", estimate="4", secret="s3")
    rec = db.run(lambda conn: workflow.transition_record(conn, task, rec.id, "start", actor=people["lead"]))
    token = signed_in(client, "mo")
    html = text(client.get(url(rec.id, "/edit")))
    assert 'data-field="secret"' not in html and "s3" not in html
    estimate = field_block(html, "estimate")
    assert 'name="estimate"' not in estimate and "4.0" in estimate and 'class="readonly"' in estimate
    response = client.post(url(rec.id, "/edit"), data={"csrf_token": token, "version": str(rec.version), "estimate": "9", "secret": "x"})
    assert response.status_code == 422
    html = text(response)
    assert "cannot be changed in this state" in html
    stored = fetch(db, task, rec.id).values
    assert (stored["estimate"], stored["secret"]) == (Decimal("4.0"), "s3")


# -- widgets round trip ------------------------------------------------------------------------------------


def test_line_items_can_be_added_edited_and_removed(client, db, task, people):
    """Do line items keep their ids when edited, disappear when removed and appear when added?"""
    rec = create(db, task, people["lead"], title="t", items=[{"name": "A", "qty": 1, "price": "1"}, {"name": "B", "qty": 2, "price": "1"}])
    first = rec.values["items"][0]["id"]
    token = signed_in(client, "lea")
    html = text(client.get(url(rec.id, "/edit")))
    assert value_of(html, "items.0.id") == str(first) and value_of(html, "items.1.name") == "B"
    data = {
        "csrf_token": token,
        "version": "1",
        "items": "",
        "items.0.id": str(first),
        "items.0.name": "A2",
        "items.0.qty": "5",
        "items.0.price": "1",
        "items.7.id": "",
        "items.7.name": "C",
        "items.7.qty": "1",
        "items.7.price": "3",
    }
    assert client.post(url(rec.id, "/edit"), data=data).status_code == 303
    items = fetch(db, task, rec.id).values["items"]
    assert [(i["name"], i["qty"]) for i in items] == [("A2", 5), ("C", 1)]
    assert items[0]["id"] == first and items[1]["id"] != first
    assert fetch(db, task, rec.id).values["total"] == Decimal("8.00")
    assert client.post(url(rec.id, "/edit"), data={"csrf_token": token, "version": "2", "items": ""}).status_code == 303
    assert fetch(db, task, rec.id).values["items"] == []


def test_datetimes_are_entered_in_the_instance_time_zone_and_stored_in_utc(client, db, task, people):
    """Is a datetime typed as Shanghai time stored as UTC and shown back as the same local time?"""
    token = signed_in(client, "lea")
    response = post_new(client, token, {"title": "t", "starts_at": "2030-05-01T09:30"})
    record_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert fetch(db, task, record_id).values["starts_at"] == dt.datetime(2030, 5, 1, 1, 30, tzinfo=dt.UTC)
    assert value_of(text(client.get(url(record_id, "/edit"))), "starts_at") == "2030-05-01T09:30"


def test_reference_picker_shows_titles_and_lookup_lists_readable_matches(client, db, task, people):
    """Does the edit form show the chosen reference's title, and the lookup list matching records escaped?"""
    target = create(db, task, people["lead"], title="Parent task")
    create(db, task, people["lead"], title=XSS_TITLE)
    rec = create(db, task, people["lead"], title="Child", parent=target.id, related=[target.id])
    signed_in(client, "mo")
    parent = field_block(text(client.get(url(rec.id, "/edit"))), "parent")
    assert f'name="parent" value="{target.id}"' in parent and "Parent task" in parent
    found = text(client.get(url(tail="/lookup?q=parent"), headers=HX))
    assert f'data-id="{target.id}"' in found and 'data-title="Parent task"' in found and "Child" not in found
    assert "No matching" in text(client.get(url(tail="/lookup?q=zzz"), headers=HX))
    hostile = text(client.get(url(tail="/lookup?q=onerror"), headers=HX))
    assert "&lt;img" in hostile and "<img" not in hostile


def test_lookup_needs_read_permission(client, db, task, people, make_user):
    """Is the lookup refused (403) to a user who may not read the target entity?"""
    make_user("otto")
    signed_in(client, "otto")
    assert client.get(url(tail="/lookup?q=a"), headers=HX).status_code == 403


def test_markdown_preview_is_sanitized_and_htmx_disabled(client, task, people):
    """Does the preview render markdown, drop scripts and hx-* attributes, and sit inside hx-disable?"""
    token = signed_in(client, "lea")
    source = "**Hi** <script>alert(1)</script> [x](javascript:alert(1)) <a hx-get='/logout'>y</a>\n\n[ok](https://example.com)"
    response = client.post("/preview/markdown?field=notes", data={"csrf_token": token, "notes": source}, headers=HX)
    html = text(response)
    assert response.status_code == 200
    assert html.startswith('<div class="markdown" hx-disable>') and "<strong>Hi</strong>" in html
    assert "<script" not in html and 'href="javascript' not in html and "<a hx-get" not in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in html


# -- the form reader on its own ---------------------------------------------------------------------------


def test_read_form_rebuilds_raw_values_from_browser_data(task):
    """Does the form reader turn checkboxes, lists, line items and local datetimes into raw values?"""
    form = MultiDict(
        [
            ("urgent", "false"),
            ("tags", ""),
            ("items", ""),
            ("items.3.name", "x"),
            ("items.3.id", "12"),
            ("items.1.name", "y"),
            ("items.1.id", ""),
            ("starts_at", "2030-01-01T08:00"),
            ("title", "t"),
            ("unknown", "ignored"),
        ]
    )
    read = webforms.read_form(task.entity, form, tz="Asia/Shanghai", input_errors={"items.3.name": ["bad"]})
    assert read.raw["urgent"] == "false" and read.raw["tags"] == []
    assert read.raw["items"] == [{"name": "y"}, {"id": "12", "name": "x"}]
    assert read.raw["starts_at"] == "2030-01-01T00:00:00+00:00"
    assert "unknown" not in read.raw and "owner" not in read.raw
    assert read.refused == {"items[1].name": ["bad"]}
    assert read.errors == {}
