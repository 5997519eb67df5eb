"""Admins change apps in the browser: the editor and its live checks, the visual builder's
edits of the JSON, the preview, the review of the migration plan with its questions,
applying, versions and rollback, and configuration bundles (download, upload, import)."""

from __future__ import annotations

import copy
import html
import io
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.engine import bundles, models, records, users, versions, workflow
from flowdeck.engine.apps import apply_document
from flowdeck.engine.permissions import Actor
from flowdeck.engine.registry import Catalog
from flowdeck.engine.schema import authoring, writing
from tests.support.documents import builder_app
from tests.support.web import csrf_token, login

DOC = builder_app()
BASE = "/admin/apps"


@pytest.fixture
def demo(install: Any, make_user: Any) -> SimpleNamespace:
    registry = install(DOC)
    return SimpleNamespace(registry=registry, admin=make_user("boss", is_admin=True), member=make_user("mia", {"demo": ["member", "lead"]}))


@pytest.fixture
def admin(client: Any, demo: SimpleNamespace) -> Any:
    login(client, "boss")
    return client


def token(client: Any) -> str:
    return csrf_token(client, f"{BASE}/")


def text_of(db: Any, version: int | None = None) -> str:
    def read(conn: sa.Connection) -> dict[str, Any]:
        number = version or conn.execute(sa.select(models.apps.c.version).where(models.apps.c.key == "demo")).scalar_one()
        return versions.get_document(conn, "demo", number)

    return writing.dumps(db.read(read)) + "\n"


def editor_text(response: Any) -> str:
    body = response.get_data(as_text=True)
    match = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', body, re.DOTALL)
    assert match, body[:2000]
    return html.unescape(match.group(1)).replace("\r\n", "\n")


def page_text(response: Any) -> str:
    """The visible words of a page's main part, for checking what it says."""
    body = response.get_data(as_text=True)
    main = body[body.find("<main") :]
    main = re.sub(r"<textarea[^>]*hidden[^>]*>.*?</textarea>", " ", main, flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def count_rows(db: Any) -> dict[str, int]:
    def read(conn: sa.Connection) -> dict[str, int]:
        names = ["fd_app_versions", "fd_history", "demo__task", "fd_archived", "fd_meta"]
        return {name: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one() for name in names}

    return db.read(read)


def current_version(db: Any, app: str = "demo") -> int:
    return db.read(lambda conn: conn.execute(sa.select(models.apps.c.version).where(models.apps.c.key == app)).scalar_one())


def tasks_in_review(db: Any, demo: SimpleNamespace, n: int = 2) -> list[int]:
    """`n` tasks with priority "high", moved to the state "review"."""
    et = Catalog(db).current().entity("demo", "task")
    actor = users_actor(db, "mia")
    ids = []
    for i in range(n):
        record = db.run(lambda conn, i=i: records.create_record(conn, et, {"title": f"Review me {i}", "priority": "high"}, actor=actor))
        for key in ("start", "submit"):
            db.run(lambda conn, key=key, rid=record.id: workflow.transition_record(conn, et, rid, key, actor=actor))
        ids.append(record.id)
    return ids


def users_actor(db: Any, username: str) -> Actor:
    def read(conn: sa.Connection) -> Actor:
        user = users.find_user(conn, username)
        assert user is not None
        return users.actor_for(conn, user.id)

    return db.read(read)


def without_review(text: str) -> str:
    """The demo document without the state "review" and without the option "high"."""
    document = json.loads(text)
    document = authoring.remove_state(document, entity="task", state="review")
    document = authoring.remove_option(document, entity="task", field="priority", option="high")
    return writing.rewrite(text, document)


# -- who may ----------------------------------------------------------------------------------

GETS = [
    f"{BASE}/",
    f"{BASE}/demo/edit",
    f"{BASE}/demo/versions",
    f"{BASE}/demo/versions/diff?a=1&b=1",
    f"{BASE}/demo/versions/1",
    f"{BASE}/demo/versions/1/rollback",
    f"{BASE}/import",
    f"{BASE}/import/{'0' * 32}",
]
POSTS = [
    f"{BASE}/demo/edit",
    f"{BASE}/demo/check",
    f"{BASE}/demo/hints",
    f"{BASE}/demo/builder",
    f"{BASE}/demo/preview",
    f"{BASE}/demo/review",
    f"{BASE}/demo/apply",
    f"{BASE}/demo/export",
    f"{BASE}/import",
    f"{BASE}/import/{'0' * 32}",
]


@pytest.mark.parametrize("path", GETS)
def test_pages_are_for_admins_only(client, demo, path):
    """Does a member get 403 on every page of app editing, and a visitor the sign-in page?"""
    assert client.get(path).status_code == 302
    login(client, "mia")
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", POSTS)
def test_posts_are_for_admins_only(client, demo, db, path):
    """Does a member's POST (with a valid CSRF token) get 403 and change nothing?"""
    login(client, "mia")
    before = count_rows(db)
    response = client.post(path, data={"csrf_token": csrf_token(client, "/"), "document": text_of(db), "action": "refresh"})
    assert response.status_code == 403
    assert count_rows(db) == before


@pytest.mark.parametrize("path", [f"{BASE}/demo/check", f"{BASE}/demo/apply", f"{BASE}/demo/export", f"{BASE}/import"])
def test_posts_without_csrf_token_are_refused(admin, db, path):
    """Is a POST without the CSRF token refused with 400?"""
    assert admin.post(path, data={"document": text_of(db)}).status_code == 400


def test_unknown_app_is_not_found(admin):
    """Does an app that is not installed answer 404?"""
    assert admin.get(f"{BASE}/nope/edit").status_code == 404
    assert admin.get(f"{BASE}/demo/versions/9").status_code == 404


# -- the list and the editor ------------------------------------------------------------------


def test_index_lists_the_installed_apps(admin):
    """Does the apps page list each app with its key, label, version and links to edit, versions and export?"""
    response = admin.get(f"{BASE}/")
    assert response.status_code == 200
    words = page_text(response)
    assert "Demo" in words and "demo" in words and "Import a bundle" in words
    body = response.get_data(as_text=True)
    for link in (f"{BASE}/demo/edit", f"{BASE}/demo/versions", f"{BASE}/demo/export"):
        assert link in body


def test_editor_shows_the_current_document(admin, db):
    """Does the editor hold the current document as JSON, with the builder, a JSON tab and a preview tab?"""
    response = admin.get(f"{BASE}/demo/edit")
    assert response.status_code == 200
    assert json.loads(editor_text(response)) == DOC
    body = response.get_data(as_text=True)
    assert 'id="tab-json"' in body and 'id="tab-preview"' in body and 'id="add-field"' in body
    assert "No problems" in body


def test_editor_shows_posted_text_coming_back_from_the_review(admin, db):
    """Does "Back to the editor" show the edited (unapplied) text, not the stored one?"""
    edited = text_of(db).replace('"Demo"', '"Demo edited"')
    response = admin.post(f"{BASE}/demo/edit", data={"csrf_token": token(admin), "document": edited, "tab": "json"})
    assert response.status_code == 200
    assert editor_text(response) == edited
    assert 'data-tab="json"' in response.get_data(as_text=True)


def test_check_answers_problems_with_their_lines(admin, db):
    """Does the live check answer each problem with its path, message and the line it is on (shape and meaning problems)?"""
    text = text_of(db).replace('"estimate": {"type": "decimal"}', '"estimate": {"type": "dec"}')
    response = admin.post(f"{BASE}/demo/check", data={"csrf_token": token(admin), "document": text, "cursor": "0"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["ok"] is False and data["count"] == 1 and data["summary"] == "1 problem"
    problem = data["problems"][0]
    assert problem["path"] == "entities.task.fields.estimate.type" and "did you mean" in problem["message"]
    assert '"dec"' in text.splitlines()[problem["line"] - 1]
    assert f"line {problem['line']}" in data["html"]
    text = text_of(db).replace('"to": "review"', '"to": "reveiw"').replace('"card": ["priority"]', '"card": ["priority", "nope"]')
    data = admin.post(f"{BASE}/demo/check", data={"csrf_token": token(admin), "document": text}).get_json()
    assert data["count"] == 2
    lines = text.splitlines()
    for problem in data["problems"]:
        assert ('"reveiw"' if "transitions" in problem["path"] else '"nope"') in lines[problem["line"] - 1], problem
    assert data["problems"] == sorted(data["problems"], key=lambda p: p["line"])


def test_check_places_a_syntax_error_on_its_line(admin, db):
    """Is a JSON syntax error (a missing comma) reported on the line where reading stopped?"""
    lines = text_of(db).splitlines()
    index = next(i for i, line in enumerate(lines) if '"title": {"type": "text", "required": true},' in line)
    lines[index] = lines[index].rstrip(",")
    data = admin.post(f"{BASE}/demo/check", data={"csrf_token": token(admin), "document": "\n".join(lines)}).get_json()
    assert data["ok"] is False
    assert data["problems"][0]["line"] == index + 2  # the next key is where the comma was expected


def test_check_keeps_the_app_key(admin, db):
    """Is a document whose key names another app refused (this page edits one app)?"""
    text = text_of(db).replace('"key": "demo"', '"key": "other"')
    data = admin.post(f"{BASE}/demo/check", data={"csrf_token": token(admin), "document": text}).get_json()
    assert [p["path"] for p in data["problems"]] == ["key"]
    assert data["problems"][0]["line"] == 2


def test_valid_document_checks_clean(admin, db):
    """Does an unchanged document check without problems?"""
    data = admin.post(f"{BASE}/demo/check", data={"csrf_token": token(admin), "document": text_of(db)}).get_json()
    assert data == {**data, "ok": True, "count": 0, "problems": []}


def test_hints_list_the_keys_and_values_allowed_at_the_cursor(admin, db):
    """Do the hints at a field's type list the field keys and the field types, marking keys already present?"""
    text = text_of(db)
    cursor = text.index('"decimal"') + 2
    data = admin.post(f"{BASE}/demo/hints", data={"csrf_token": token(admin), "document": text, "cursor": str(cursor)}).get_json()
    assert data["path"] == "entities.task.fields.estimate"
    hints = html.unescape(data["hints"])
    for word in ("required", "show_if", "options", "markdown", "multiselect"):
        assert word in hints
    assert 'class="present"' in data["hints"]
    views = admin.post(f"{BASE}/demo/hints", data={"csrf_token": token(admin), "document": text, "cursor": str(text.index('"board"') + 12)})
    assert "group_by" in views.get_json()["hints"]


# -- the builder (through the page) ---------------------------------------------------------


def builder(client: Any, text: str, action: str, **inputs: Any) -> Any:
    data = {"csrf_token": token(client), "document": text, "entity": "task", "action": action}
    data.update({f"{action}:{k}": v for k, v in inputs.items()})
    return client.post(f"{BASE}/demo/builder", data=data)


def test_builder_adds_a_field_and_keeps_the_rest_of_the_text(admin, db):
    """Does "Add field" write the field (and its card) into the JSON, leaving every other line as it was?"""
    text = text_of(db)
    response = builder(admin, text, "add_field", key="due", type="date", label_en="Due", label_zh="截止", boards="board", section="1")
    assert response.status_code == 200
    new = editor_text(response)
    document = json.loads(new)
    fields = document["entities"]["task"]["fields"]
    assert list(fields) == ["title", "priority", "estimate", "due"]
    assert fields["due"] == {"type": "date", "label": {"en": "Due", "zh": "截止"}}
    assert document["entities"]["task"]["views"]["board"]["card"] == ["priority", "due"]
    assert document["entities"]["task"]["sections"][1]["fields"] == ["estimate", "due"]
    old_lines, new_lines = text.splitlines(), new.splitlines()
    changed = [line for line in new_lines if line not in old_lines]
    assert len(changed) == 4  # the new field, the line before it (a comma), the card and the section
    assert "No problems" in response.get_data(as_text=True)


def test_builder_answers_htmx_with_the_editor_block(admin, db):
    """Does an htmx builder action get only the editor block back (not the whole page)?"""
    response = admin.post(
        f"{BASE}/demo/builder",
        data={"csrf_token": token(admin), "document": text_of(db), "entity": "task", "action": "move_field:estimate:up"},
        headers={"HX-Request": "true"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith('<div id="editor"')
    assert list(json.loads(editor_text(response))["entities"]["task"]["fields"]) == ["title", "estimate", "priority"]


def test_builder_refusal_keeps_the_text_and_says_why(admin, db):
    """Does an edit the builder cannot make (a taken key) answer 422 with the reason and the text unchanged?"""
    text = text_of(db)
    response = builder(admin, text, "add_field", key="title", type="text")
    assert response.status_code == 422
    assert editor_text(response) == text
    assert "already has a field" in html.unescape(response.get_data(as_text=True))


def test_builder_needs_readable_json(admin, db):
    """Is the builder refused while the JSON does not parse, with the JSON tab shown?"""
    response = builder(admin, "{ broken", "add_field", key="x", type="text")
    assert response.status_code == 422
    assert "cannot be read" in response.get_data(as_text=True)


def test_builder_rejects_forged_actions(admin, db):
    """Are an unknown action and an unknown input refused with 400?"""
    assert builder(admin, text_of(db), "drop_tables").status_code == 400
    assert builder(admin, text_of(db), "add_state", key="x", category="todo", evil="1").status_code == 400


def test_builder_set_board_through_the_page(admin, db):
    """Do the board's card fields and WIP limits posted from the page land in the view?"""
    data = {
        "csrf_token": token(admin),
        "document": text_of(db),
        "entity": "task",
        "action": "set_board:board",
        "set_board:board:group_by": "state",
        "set_board:board:card": ["estimate", "priority", "state"],
        "set_board:board:wip.doing.max": "5",
        "set_board:board:wip.doing.enforce": "block",
        "set_board:board:wip.review.max": "",
        "set_board:board:wip.review.enforce": "warn",
    }
    response = admin.post(f"{BASE}/demo/builder", data=data)
    view = json.loads(editor_text(response))["entities"]["task"]["views"]["board"]
    assert view["card"] == ["priority", "estimate", "state"]
    assert view["wip"] == {"doing": {"max": 5, "enforce": "block"}}


def test_builder_edits_sections_through_the_page(admin, db):
    """Does the page list the form's sections with their fields ticked, and do "Save section"
    and "Add section" move fields between sections in the JSON?"""
    text = text_of(db)
    page = admin.get(f"{BASE}/demo/edit").get_data(as_text=True)
    assert 'id="b-sections"' in page
    assert '<input type="checkbox" name="set_section:1:fields" value="estimate" checked>' in page
    assert '<input type="checkbox" name="set_section:1:fields" value="title">' in page
    response = builder(admin, text, "set_section:1", label_en="Planning", label_zh="计划", fields=["estimate", "priority"])
    assert response.status_code == 200
    sections = json.loads(editor_text(response))["entities"]["task"]["sections"]
    assert sections == [
        {"label": "Main", "fields": ["title"]},
        {"label": {"en": "Planning", "zh": "计划"}, "fields": ["estimate", "priority"]},
    ]
    added = builder(admin, editor_text(response), "add_section", label_en="Basics", fields=["title"])
    sections = json.loads(editor_text(added))["entities"]["task"]["sections"]
    assert sections == [
        {"label": {"en": "Planning", "zh": "计划"}, "fields": ["estimate", "priority"]},
        {"label": {"en": "Basics"}, "fields": ["title"]},
    ]
    refused = builder(admin, text, "add_section", label_en="Empty")
    assert refused.status_code == 422 and "needs at least one field" in html.unescape(refused.get_data(as_text=True))


def test_builder_edits_list_views_through_the_page(admin, db):
    """Does the page show the list views with their columns and sort, and do "Save list" and
    "Add list" write columns (order kept, new ones last), sort and labels into the JSON?"""
    text = text_of(db)
    page = admin.get(f"{BASE}/demo/edit").get_data(as_text=True)
    assert 'id="b-lists"' in page and 'id="bl-all"' in page
    assert '<input type="checkbox" name="set_list:all:columns" value="priority" checked>' in page
    assert '<input type="checkbox" name="set_list:all:descending" value="1" checked>' in page
    response = builder(admin, text, "set_list:all", label_en="All", columns=["id", "title", "estimate", "state"], sort_by="estimate")
    assert response.status_code == 200
    view = json.loads(editor_text(response))["entities"]["task"]["views"]["all"]
    assert view == {"type": "list", "label": "All", "columns": ["title", "state", "id", "estimate"], "sort": ["estimate"]}
    assert "No problems" in response.get_data(as_text=True)
    added = builder(admin, editor_text(response), "add_list", key="open_items", label_en="Open", columns=["title", "created_at"])
    views = json.loads(editor_text(added))["entities"]["task"]["views"]
    assert views["open_items"] == {"type": "list", "label": {"en": "Open"}, "columns": ["title", "created_at"]}
    assert 'id="bl-open_items"' in added.get_data(as_text=True)
    refused = builder(admin, text, "set_list", columns=["title"])
    assert refused.status_code == 400  # a list is named by the button
    taken = builder(admin, text, "add_list", key="board")
    assert taken.status_code == 422 and 'already has a view "board"' in html.unescape(taken.get_data(as_text=True))


# -- preview --------------------------------------------------------------------------------


def test_preview_renders_form_and_board_without_writing(admin, db, demo):
    """Does the preview draw the create form and the board of the edited document (new field included) and write nothing?"""
    tasks_in_review(db, demo, 1)
    document = authoring.add_field(DOC, entity="task", key="due", type="date", label_en="Due by", label_zh="截止", boards=["board"])
    text = writing.dumps(document)
    before = count_rows(db)
    response = admin.post(f"{BASE}/demo/preview", data={"csrf_token": token(admin), "document": text, "entity": "task"})
    assert response.status_code == 200
    assert count_rows(db) == before
    body = response.get_data(as_text=True)
    assert 'name="due"' in body and "Due by" in body  # on the form
    assert body.count('<ul class="cards">') == 4  # one column per state
    assert body.count("Sample Task") == 4
    assert "Due by" in body[body.index('class="board preview-cards"') :]  # as a card field
    assert "limit 3" in body
    assert 'id="record-form"' not in body and "csrf_token" not in body[body.find('<div class="preview">') :]


def test_preview_of_a_broken_document_lists_its_problems(admin, db):
    """Does the preview of a document with problems say so instead of drawing anything?"""
    text = text_of(db).replace('"type": "decimal"', '"type": "dec"')
    response = admin.post(f"{BASE}/demo/preview", data={"csrf_token": token(admin), "document": text}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "nothing to preview" in response.get_data(as_text=True)


# -- review and apply ---------------------------------------------------------------------------


def test_review_lists_steps_questions_and_differences(admin, db, demo):
    """Does the review show the plan's steps, each question with its count, examples and choices, and the document's differences?"""
    tasks_in_review(db, demo, 2)
    response = admin.post(
        f"{BASE}/demo/review", data={"csrf_token": token(admin), "document": without_review(text_of(db)), "base_version": "1"}
    )
    assert response.status_code == 200
    words = page_text(response)
    assert "removes state review" in words
    assert "removes option high of field task.priority" in words
    assert "2 questions to answer" in words
    assert "2 records" in words and "Review me 0" in words
    body = response.get_data(as_text=True)
    assert 'name="choice:state:task:review" value="doing"' in body
    assert 'name="choice:option:task:priority:high" value="clear"' in body
    assert current_version(db) == 1


def test_review_of_a_document_with_problems_goes_back_to_the_editor(admin, db):
    """Is a document with problems sent back to the editor (422) with its problems, not reviewed?"""
    text = text_of(db).replace('"type": "decimal"', '"type": "dec"')
    response = admin.post(f"{BASE}/demo/review", data={"csrf_token": token(admin), "document": text})
    assert response.status_code == 422
    assert editor_text(response) == text and "fix them before reviewing" in response.get_data(as_text=True)


def test_apply_refuses_unanswered_questions_and_keeps_the_answers(admin, db, demo):
    """Is applying with a question unanswered refused (nothing applied) with the answers given still chosen?"""
    tasks_in_review(db, demo, 2)
    before = count_rows(db)
    data = {"csrf_token": token(admin), "document": without_review(text_of(db)), "base_version": "1", "choice:state:task:review": "done"}
    response = admin.post(f"{BASE}/demo/apply", data={**data, "message": "drop review"})
    assert response.status_code == 422
    assert "1 question has no answer yet" in page_text(response)
    body = response.get_data(as_text=True)
    assert 'name="choice:state:task:review" value="done" checked' in body
    assert 'value="drop review"' in body
    assert current_version(db) == 1 and count_rows(db) == before


def test_apply_with_answers_creates_a_new_version(admin, db, demo):
    """Does applying with every answer make version 2 (author, message), move the records, and land on the new version?"""
    ids = tasks_in_review(db, demo, 2)
    data = {
        "csrf_token": token(admin),
        "document": without_review(text_of(db)),
        "base_version": "1",
        "choice:state:task:review": "done",
        "choice:option:task:priority:high": "normal",
        "message": "no more review",
    }
    response = admin.post(f"{BASE}/demo/apply", data=data)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{BASE}/demo/versions/2")
    listed = db.read(lambda conn: versions.list_versions(conn, "demo"))
    assert [(v.version, v.author_name, v.message) for v in listed][-1] == (2, "Boss", "no more review")
    et = Catalog(db).current().entity("demo", "task")
    rows = db.read(lambda conn: conn.execute(sa.select(et.table.c.state, et.table.c.priority).where(et.table.c.id.in_(ids))).all())
    assert {tuple(r) for r in rows} == {("done", "normal")}
    page = admin.get(response.headers["Location"])
    assert "Applied as version 2" in page.get_data(as_text=True) and "removes state review" in page_text(page)


def test_apply_refuses_an_answer_that_is_no_choice(admin, db, demo):
    """Is an answer that is not one of the question's choices refused, nothing applied?"""
    tasks_in_review(db, demo, 1)
    data = {"csrf_token": token(admin), "document": without_review(text_of(db)), "choice:state:task:review": "nowhere"}
    data["choice:option:task:priority:high"] = "normal"
    response = admin.post(f"{BASE}/demo/apply", data=data)
    assert response.status_code == 422
    assert "not a choice" in page_text(response)
    assert current_version(db) == 1


def test_apply_notices_a_version_applied_meanwhile(admin, db, demo):
    """When someone applied a version after the editing began, is the admin shown the differences again before anything is applied?"""
    edited = text_of(db).replace('"label": "Board"', '"label": "Kanban"')
    changed = copy.deepcopy(DOC)
    changed["label"] = {"en": "Demo 2", "zh": "演示 2"}
    apply_document(db, changed, actor=demo.admin, message="someone else")
    data = {"csrf_token": token(admin), "document": edited, "base_version": "1"}
    response = admin.post(f"{BASE}/demo/apply", data=data)
    assert response.status_code == 409
    assert "Version 2 was applied since you started editing version 1" in page_text(response)
    assert 'name="base_version" value="2"' in response.get_data(as_text=True)
    assert admin.post(f"{BASE}/demo/apply", data={**data, "base_version": "2"}).status_code == 303
    assert current_version(db) == 3


def test_apply_of_an_unchanged_document_applies_nothing(admin, db):
    """Does applying the current document again make no version and say so?"""
    response = admin.post(f"{BASE}/demo/apply", data={"csrf_token": token(admin), "document": text_of(db), "base_version": "1"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/demo/edit")
    assert current_version(db) == 1
    assert "Nothing to apply" in admin.get(response.headers["Location"]).get_data(as_text=True)


# -- versions -------------------------------------------------------------------------------------


def _apply_due_field(admin: Any, db: Any) -> None:
    document = authoring.add_field(DOC, entity="task", key="due", type="date", label_en="Due")
    data = {"csrf_token": token(admin), "document": writing.dumps(document), "base_version": "1", "message": "adds due"}
    assert admin.post(f"{BASE}/demo/apply", data=data).status_code == 303


def test_versions_list_diff_and_document(admin, db):
    """Do the versions page, the diff of two versions and a version's document show who changed what?"""
    _apply_due_field(admin, db)
    listing = page_text(admin.get(f"{BASE}/demo/versions"))
    assert "v2" in listing and "v1" in listing and "adds due" in listing and "Boss" in listing
    diff = admin.get(f"{BASE}/demo/versions/diff?a=1&b=2")
    assert diff.status_code == 200 and "adds field task.due (date)" in page_text(diff)
    backwards = admin.get(f"{BASE}/demo/versions/diff?a=2&b=1")
    assert "removes field task.due" in page_text(backwards)
    first = admin.get(f"{BASE}/demo/versions/1")
    assert "Roll back to this version" in first.get_data(as_text=True) and '"key": "demo"' in html.unescape(first.get_data(as_text=True))
    assert admin.get(f"{BASE}/demo/versions/diff?a=1&b=7").status_code == 404


def test_rollback_goes_through_the_review_and_applies_a_new_version(admin, db):
    """Is a rollback reviewed like any change, then applied as a new version "rollback to v1"?"""
    _apply_due_field(admin, db)
    review = admin.get(f"{BASE}/demo/versions/1/rollback")
    assert review.status_code == 200
    words = page_text(review)
    assert "Roll back Demo to version 1" in words and "removes field task.due" in words
    text = html.unescape(re.search(r'<textarea name="document"[^>]*>(.*?)</textarea>', review.get_data(as_text=True), re.DOTALL).group(1))
    response = admin.post(
        f"{BASE}/demo/apply", data={"csrf_token": token(admin), "document": text, "base_version": "2", "rollback_to": "1"}
    )
    assert response.status_code == 303
    listed = db.read(lambda conn: versions.list_versions(conn, "demo"))
    assert (listed[-1].version, str(listed[-1].message)) == (3, "rollback to v1")
    assert db.read(lambda conn: versions.get_document(conn, "demo", 3)) == DOC


def test_editor_opens_an_earlier_version(admin, db):
    """Does the editor open an earlier version's document to edit from it?"""
    _apply_due_field(admin, db)
    response = admin.get(f"{BASE}/demo/edit?version=1")
    assert json.loads(editor_text(response)) == DOC
    assert "document of version 1" in response.get_data(as_text=True)


# -- bundles ----------------------------------------------------------------------------------------


def export(client: Any, **options: str) -> Any:
    return client.post(f"{BASE}/demo/export", data={"csrf_token": token(client), **options})


def test_export_downloads_a_valid_bundle(admin, db, demo):
    """Does the download button give a bundle file named after the app and version, that reads back with its records?"""
    tasks_in_review(db, demo, 2)
    response = export(admin, records="1")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="demo-v1.flowdeck.zip"'
    assert response.mimetype == "application/zip"
    info = bundles.inspect_bundle(response.data)
    assert info.ok and info.app_key == "demo" and info.record_counts() == {"task": 2}
    assert bundles.inspect_bundle(export(admin).data).record_counts() == {}


def upload(client: Any, data: bytes, **fields: str) -> Any:
    return client.post(
        f"{BASE}/import",
        data={"csrf_token": token(client), "bundle": (io.BytesIO(data), "bundle.flowdeck.zip"), **fields},
        content_type="multipart/form-data",
    )


def test_upload_of_a_damaged_file_shows_the_errors(admin, db):
    """Are a damaged bundle, a file that is no bundle and a missing file refused at upload with what is wrong?"""
    data = export(admin).data
    damaged = data[:600] + bytes([data[600] ^ 0xFF]) + data[601:]
    response = upload(admin, damaged)
    assert response.status_code == 422
    assert "damaged" in page_text(response)
    assert "not a Flowdeck bundle" in page_text(upload(admin, b"hello"))
    empty = admin.post(f"{BASE}/import", data={"csrf_token": token(admin)}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Choose a bundle file" in page_text(empty)


def test_upload_of_a_newer_format_is_refused(admin, db):
    """Is a bundle from a newer Flowdeck refused with a clear message?"""
    info = bundles.inspect_bundle(export(admin).data)
    newer = _rebuilt(info, manifest={"format_version": 2})
    assert "newer Flowdeck" in page_text(upload(admin, newer))


def _rebuilt(info: bundles.BundleInfo, manifest: dict[str, Any]) -> bytes:
    """The bundle's entries again with manifest fields replaced (checksums recomputed)."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(io.BytesIO(info.data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist() if name != bundles.MANIFEST}
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in entries.items()}
    lines = "".join(f"{sums[name]}  {name}\n" for name in sorted(sums))
    head = {**info.manifest, **manifest, "entries": sums, "checksum": hashlib.sha256(lines.encode()).hexdigest()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(bundles.MANIFEST, json.dumps(head))
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_upload_larger_than_the_limit_is_refused(admin, app):
    """Is an upload above the bundle size limit refused with 413, before anything is read from it?"""
    app.config["FLOWDECK_BUNDLE_UPLOAD_LIMIT"] = 1000
    response = upload(admin, b"x" * 2000)
    assert response.status_code == 413 and "larger than a bundle may be" in page_text(response)


def _plan_url(response: Any) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def test_upload_plan_for_a_copy_then_import(admin, db, demo):
    """Does an upload with a new key plan a copy (with its records), and importing it install the copy?"""
    tasks_in_review(db, demo, 2)
    location = _plan_url(upload(admin, export(admin, records="1").data, as_key="demo_copy"))
    plan = admin.get(location)
    assert plan.status_code == 200
    words = page_text(plan)
    assert "A copy of demo as the new app demo_copy" in words and "2 task" in words
    post = {"csrf_token": token(admin), "as_key": "demo_copy", "role:lead": "mia", "do": "import"}
    response = admin.post(location.split("?")[0], data=post)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"{BASE}/demo_copy/versions")
    copy_et = Catalog(db).current().entity("demo_copy", "task")
    assert db.read(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(copy_et.table)).scalar_one()) == 2
    assert "lead" in users_actor(db, "mia").roles_for("demo_copy")
    assert admin.get(location).status_code == 404  # the upload is gone once imported


def test_upload_of_an_apps_own_bundle_plans_an_upgrade(admin, db):
    """Does uploading an app's own bundle again plan an upgrade from the same source that changes no table?"""
    location = _plan_url(upload(admin, export(admin).data))
    words = page_text(admin.get(location))
    assert "An upgrade of demo (now version 1), keeping your own edits" in words and "No change to the tables" in words


@pytest.fixture
def other_db(databases: Any) -> Any:
    """A second, separate instance's database (another team)."""
    database = databases.fresh(databases.template("empty", lambda db: None))
    yield database
    databases.drop(database)


SHARED = {
    "key": "shared",
    "source": "team.shared",
    "label": "Shared",
    "roles": {"maker": {"label": "Maker"}},
    "entities": {
        "item": {
            "fields": {"title": {"type": "text", "label": "Title"}},
            "workflow": {
                "states": {"open": {"category": "todo"}, "closed": {"category": "done"}},
                "transitions": [
                    {
                        "key": "close",
                        "from": "open",
                        "to": "closed",
                        "approval": {"steps": [{"key": "erin_ok", "approvers": {"users": ["erin"]}}]},
                    }
                ],
            },
        }
    },
}


def _other_team(other_db: Any, document: dict[str, Any]) -> bytes:
    def work(conn: sa.Connection) -> None:
        if users.find_user(conn, "erin") is None:
            users.create_user(conn, "erin", password="password123", display_name="Erin Elsewhere", email="erin@elsewhere.example")

    other_db.run(work)
    apply_document(other_db, copy.deepcopy(document), actor=Actor.system())
    return bundles.export_app(other_db, "shared")


def test_import_with_user_mapping(admin, db, other_db):
    """Does a bundle naming an unknown user ask for a mapping, import nothing without it, and then name the local user in the step?"""
    location = _plan_url(upload(admin, _other_team(other_db, SHARED)))
    plan = admin.get(location)
    words = page_text(plan)
    assert "A new app: shared" in words and "erin" in words and "Erin Elsewhere" in words
    assert 'name="user:erin"' in plan.get_data(as_text=True)
    refused = admin.post(location, data={"csrf_token": token(admin), "do": "import"})
    assert refused.status_code == 422 and "choose a local user (or create) for erin" in page_text(refused)
    assert db.read(lambda conn: conn.execute(sa.select(models.apps.c.key).where(models.apps.c.key == "shared")).first()) is None
    checked = admin.post(location, data={"csrf_token": token(admin), "user:erin": "mia", "do": "check"})
    assert 'value="mia" selected' in checked.get_data(as_text=True)
    response = admin.post(location, data={"csrf_token": token(admin), "user:erin": "mia", "do": "import"})
    assert response.status_code == 303
    document = db.read(lambda conn: versions.get_document(conn, "shared", 1))
    assert document["entities"]["item"]["workflow"]["transitions"][0]["approval"]["steps"][0]["approvers"] == {"users": ["mia"]}


def test_upgrade_conflicts_are_shown_side_by_side_and_resolved(admin, db, other_db, demo):
    """Does an upgrade that collides with a local edit show base, local and incoming side by side, and import the side chosen?"""
    shared = copy.deepcopy(SHARED)
    del shared["entities"]["item"]["workflow"]["transitions"][0]["approval"]
    location = _plan_url(upload(admin, _other_team(other_db, shared)))
    assert admin.post(location, data={"csrf_token": token(admin), "do": "import"}).status_code == 303
    local = copy.deepcopy(shared)
    local["entities"]["item"]["fields"]["title"]["label"] = "Our title"
    apply_document(db, local, actor=demo.admin, message="local edit")
    upstream = copy.deepcopy(shared)
    upstream["entities"]["item"]["fields"]["title"]["label"] = "Their title"
    location = _plan_url(upload(admin, _other_team(other_db, upstream)))
    plan = admin.get(location)
    body = html.unescape(plan.get_data(as_text=True))
    assert "An upgrade of shared" in page_text(plan)
    path = re.search(r'name="resolve:([^"]+)" value="incoming"', body).group(1)
    assert path.startswith("entities.item.fields.title.label")
    assert "Our title" in body and "Their title" in body and '"Title"' in body
    unresolved = admin.post(location, data={"csrf_token": token(admin), "do": "import"})
    assert unresolved.status_code == 422 and "choose a side for every conflict" in page_text(unresolved)
    response = admin.post(location, data={"csrf_token": token(admin), f"resolve:{path}": "incoming", "do": "import"})
    assert response.status_code == 303
    document = db.read(lambda conn: versions.get_document(conn, "shared", current_version(db, "shared")))
    assert document["entities"]["item"]["fields"]["title"]["label"] == "Their title"


def test_uploads_belong_to_their_admin(client, db, demo, make_user):
    """Can another admin not open an upload that is not theirs (404)?"""
    make_user("ops", is_admin=True)
    login(client, "boss")
    location = _plan_url(upload(client, export(client).data))
    client.post("/logout", data={"csrf_token": token(client)})
    login(client, "ops")
    assert client.get(location).status_code == 404
    assert client.get(f"{BASE}/import/not-a-token").status_code == 404


def test_type_change_question_lists_the_values_and_stop_applies_nothing(admin, db, demo):
    """Does a type change with values that cannot be kept list them with stop and clear, and does "stop" apply nothing?"""
    et = Catalog(db).current().entity("demo", "task")
    actor = users_actor(db, "mia")
    db.run(lambda conn: records.create_record(conn, et, {"title": "Half", "estimate": "1.5"}, actor=actor))
    text = text_of(db).replace('"estimate": {"type": "decimal"}', '"estimate": {"type": "integer"}')
    review = admin.post(f"{BASE}/demo/review", data={"csrf_token": token(admin), "document": text})
    body = html.unescape(review.get_data(as_text=True))
    assert 'name="choice:type:task:estimate" value="stop"' in body and 'name="choice:type:task:estimate" value="clear"' in body
    assert "1.5" in page_text(review)
    stopped = admin.post(f"{BASE}/demo/apply", data={"csrf_token": token(admin), "document": text, "choice:type:task:estimate": "stop"})
    assert stopped.status_code == 422 and "Nothing was applied" in page_text(stopped)
    assert 'value="stop" checked' in stopped.get_data(as_text=True)
    assert current_version(db) == 1


def test_editor_shows_the_transition_and_field_settings(admin):
    """Does the builder show each transition's label, sources, target, roles and comment rule, and each
    field's help and conditions, filled in with what the document says?"""
    document = copy.deepcopy(DOC)
    document["entities"]["task"]["fields"]["estimate"]["show_if"] = "priority == 'high'"
    document["entities"]["task"]["workflow"]["transitions"][2]["comment"] = "required"
    response = builder(admin, writing.dumps(document), "refresh")
    body = html.unescape(response.get_data(as_text=True))
    assert 'name="edit_transition:reopen:sources" value="review" checked' in body
    assert 'name="edit_transition:reopen:sources" value="done" checked' in body
    assert 'name="edit_transition:reopen:sources" value="todo">' in body
    assert 'name="edit_transition:approve:roles" value="lead" checked' in body
    assert re.search(r'name="edit_transition:approve:comment">.*?<option value="required" selected>', body, re.DOTALL)
    assert "Comment required" in body
    assert 'name="set_field:estimate:show_if" value="priority == \'high\'"' in body
    assert 'name="set_field:estimate:help_zh"' in body


def test_builder_edits_a_transition_through_the_page(admin, db):
    """Does "Save transition" posted from the page (boxes ticked or none) change the transition and
    leave every other line of the text as it was?"""
    text = text_of(db)
    data = {
        "csrf_token": token(admin),
        "document": text,
        "entity": "task",
        "action": "edit_transition:approve",
        "edit_transition:approve:label_en": "Approve",
        "edit_transition:approve:label_zh": "",
        "edit_transition:approve:sources": ["", "review", "doing"],
        "edit_transition:approve:to": "done",
        "edit_transition:approve:roles": [""],
        "edit_transition:approve:comment": "optional",
    }
    response = admin.post(f"{BASE}/demo/builder", data=data)
    assert response.status_code == 200
    new = editor_text(response)
    edited = json.loads(new)["entities"]["task"]["workflow"]["transitions"][2]
    assert edited == {"key": "approve", "label": {"en": "Approve"}, "from": ["review", "doing"], "to": "done", "comment": "optional"}
    removed = [line.strip() for line in text.splitlines() if line not in new.splitlines()]
    assert removed == ['{"key": "approve", "from": "review", "to": "done", "roles": ["lead"]},']  # only that transition was rewritten
    assert "No problems" in response.get_data(as_text=True)
    refused = admin.post(f"{BASE}/demo/builder", data={**data, "edit_transition:approve:sources": [""]})
    assert refused.status_code == 422 and editor_text(refused) == text
    assert "Choose the states the transition starts from." in html.unescape(refused.get_data(as_text=True))


def test_builder_field_conditions_go_through_the_normal_checks(admin, db):
    """Is a condition that names an unknown field written, then reported by the checks next to its
    input and in the problem list (in Chinese for a Chinese browser)?"""
    data = {
        "csrf_token": token(admin),
        "document": text_of(db),
        "entity": "task",
        "action": "set_field:estimate",
        "set_field:estimate:label_en": "",
        "set_field:estimate:label_zh": "",
        "set_field:estimate:help_en": "Hours",
        "set_field:estimate:help_zh": "",
        "set_field:estimate:show_if": "priorty == 'high'",
        "set_field:estimate:required_if": "",
    }
    response = admin.post(f"{BASE}/demo/builder", data=data)
    assert response.status_code == 200
    spec = json.loads(editor_text(response))["entities"]["task"]["fields"]["estimate"]
    assert spec == {"type": "decimal", "help": {"en": "Hours"}, "show_if": "priorty == 'high'"}
    body = html.unescape(response.get_data(as_text=True))
    assert '"path": "entities.task.fields.estimate.show_if"' in body
    assert re.search(r'field has-error">.*?name="set_field:estimate:show_if".*?unknown name “priorty”', body, re.DOTALL)
    chinese = admin.post(f"{BASE}/demo/builder", data=data, headers={"Accept-Language": "zh-CN"})
    assert "未知名称“priorty”（是不是想写“priority”？）" in html.unescape(chinese.get_data(as_text=True))


def test_builder_transition_edit_is_for_admins_with_the_csrf_token(client, demo, db):
    """Is "Save transition" refused to a member (403) and without the CSRF token (400), changing nothing?"""
    data = {"document": text_of(db), "entity": "task", "action": "edit_transition:start", "edit_transition:start:comment": "required"}
    login(client, "boss")
    assert client.post(f"{BASE}/demo/builder", data=data).status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "mia")
    assert client.post(f"{BASE}/demo/builder", data={**data, "csrf_token": csrf_token(client, "/")}).status_code == 403


def test_preview_draws_swimlanes(admin, db):
    """Does the preview of a board with swimlanes draw one lane per sample value (select options, yes and no),
    each with a card in every column, and write nothing?"""
    document = copy.deepcopy(DOC)
    document["entities"]["task"]["views"]["board"]["swimlanes"] = "priority"
    before = count_rows(db)
    response = admin.post(f"{BASE}/demo/preview", data={"csrf_token": token(admin), "document": writing.dumps(document)})
    assert response.status_code == 200 and count_rows(db) == before
    body = response.get_data(as_text=True)
    board = body[body.index('class="board preview-cards has-lanes"') :]
    assert board.count('<section class="lane"') == 3
    assert [m for m in re.findall(r'class="lanehead"[^>]*>([^<]+)<', board)] == ["Low ", "Normal ", "High "]
    assert board.count('<ul class="cards">') == 12 and board.count("Sample Task") == 12  # 4 columns, 3 lanes
    flagged = copy.deepcopy(DOC)
    flagged["entities"]["task"]["fields"]["blocked"] = {"type": "boolean"}
    flagged["entities"]["task"]["views"]["board"]["swimlanes"] = "blocked"
    lanes = admin.post(f"{BASE}/demo/preview", data={"csrf_token": token(admin), "document": writing.dumps(flagged)})
    assert re.findall(r'class="lanehead"[^>]*>([^<]+)<', lanes.get_data(as_text=True)) == ["Yes ", "No "]
    plain = admin.post(f"{BASE}/demo/preview", data={"csrf_token": token(admin), "document": text_of(db)})
    assert '<section class="lane"' not in plain.get_data(as_text=True)
