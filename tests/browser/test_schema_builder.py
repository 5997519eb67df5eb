"""An admin changes an app in the browser (issue 5): adds a field with the visual builder,
reviews the migration plan, applies it, and finds the field on the entity's form and as a
card field on its board; the JSON editor marks a problem on its line, and the review asks
where the records of a removed state go.

Runs over the demo data on a server of its own (`demo_server`), so the changes made here
never reach the other browser tests. With FLOWDECK_SCREENSHOTS=1 it saves the admin
guide's pictures: the builder, the JSON editor with a problem, the review with a question
and the differences between two versions.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from flowdeck.demo import MARKER_PROJECT
from tests.support.browser import SITE_ADMIN, save_screenshot

pytestmark = pytest.mark.browser

ADMIN = SITE_ADMIN
VIEWPORT = {"width": 1280, "height": 800}
EDITOR = "/admin/apps/project/edit?entity=task"


def _settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => document.activeElement && document.activeElement.blur())")


def _status(page: Any) -> Any:
    return page.locator("#check-status")


def test_add_a_field_in_the_builder_apply_it_and_see_it_on_the_form_and_board(admin_server: Any, open_as: Any) -> None:
    """Can an admin add a field in the visual builder, review and apply it, and see it on the task form and on the board's cards?"""
    page = open_as(ADMIN, server=admin_server, viewport=VIEWPORT)
    page.goto(EDITOR)
    expect(page.locator("#tab-builder")).to_have_attribute("aria-selected", "true")

    add = page.locator("#add-field")
    add.locator("input[name='add_field:key']").fill("risk_level")
    add.locator("select[name='add_field:type']").select_option("select")
    options = add.locator("textarea[name='add_field:options']")
    expect(options).to_be_visible()  # shown for select fields only
    add.locator("input[name='add_field:label_en']").fill("Risk level")
    add.locator("input[name='add_field:label_zh']").fill("风险等级")
    options.fill("low | Low | 低 | #2ca02c\nhigh | High | 高 | #d62728")
    add.locator("input[name='add_field:boards'][value='board']").check()
    add.locator("button[value='add_field']").click()

    added = page.locator("#bf-risk_level")
    expect(added).to_be_visible()
    expect(page.locator(".alert.ok")).to_contain_text("nothing is applied until you review")
    expect(_status(page)).to_have_class("check-status ok")
    expect(added.locator("details")).to_have_attribute("open", "")
    expect(added.locator("input[name='edit_option:risk_level:high:label_en']")).to_have_value("High")
    added.scroll_into_view_if_needed()
    _settle(page)
    save_screenshot(page, "schema-builder")

    page.locator("#tab-json").click()
    assert '"risk_level": {' in page.locator("textarea#document").input_value()

    page.locator("#tab-preview").click()
    preview = page.locator("#preview")
    expect(preview.locator("#f-risk_level")).to_be_attached()
    expect(preview.locator(".preview-cards .cards > li").first).to_contain_text("Low")

    page.locator("#review-button").click()
    expect(page.locator("h1")).to_contain_text("Review changes to Projects")
    expect(page.locator(".plan-steps")).to_contain_text("adds field risk_level to task")
    expect(page.locator(".changes")).to_contain_text("adds field task.risk_level (select)")
    page.fill("#message", "risk level on tasks")
    page.locator("#apply-button").click()
    expect(page.locator(".alert.ok")).to_contain_text("Applied as version 2")

    page.goto("/a/project/task/new")
    field = page.locator("[data-field='risk_level']")
    expect(field).to_be_visible()
    expect(field.locator("label")).to_contain_text("Risk level")
    expect(field.locator("option[value='high']")).to_have_text("High")

    token = f"rk{uuid.uuid4().hex[:8]}"
    project = admin_server.record_id("project", "project", name=MARKER_PROJECT)
    record = admin_server.create("project", "task", {"name": f"Risky {token}", "project": project, "risk_level": "high"}, by="li.na")
    page.goto(f"/a/project/task/v/board?q={token}")
    card = page.locator(f"#k{record.id}")
    expect(card).to_be_visible()
    expect(card.locator(".badge", has_text="High")).to_be_visible()

    page.goto("/admin/apps/project/versions/diff?a=1&b=2")
    expect(page.locator(".changes")).to_contain_text("adds field task.risk_level (select)")
    expect(page.locator(".changes")).to_contain_text("changes the card of view task.board")
    page.locator(".change.changed details").last.locator("summary").click()
    _settle(page)
    save_screenshot(page, "schema-versions-diff")


def test_the_json_editor_marks_problems_and_the_review_asks_questions(admin_server: Any, open_as: Any) -> None:
    """Is a JSON typo shown on its line (a click on it moving the cursor there), and does removing a used state ask where its records go?"""
    page = open_as(ADMIN, server=admin_server, viewport=VIEWPORT)
    page.goto(EDITOR + "&tab=json")
    textarea = page.locator("textarea#document")
    expect(textarea).to_be_visible()
    text = textarea.input_value()
    start = text.index('"due_date": {', text.index('    "task": {'))
    at = text.index('"date"', start) + len('"dat')
    line = text.count("\n", 0, at) + 1
    page.evaluate("([at]) => { const t = document.querySelector('textarea#document'); t.focus(); t.setSelectionRange(at, at + 1); }", [at])
    page.keyboard.press("Backspace")

    expect(_status(page)).to_have_text("1 problem")
    problem = page.locator(".problem-link").first
    expect(problem).to_have_text(f"line {line}")
    expect(page.locator(".problem-list")).to_contain_text('unknown field type "dat" (did you mean “date”?)')
    expect(page.locator(f".gutter-lines div.bad[data-line='{line}']")).to_be_attached()

    page.evaluate("document.querySelector('textarea#document').setSelectionRange(0, 0)")
    problem.click()
    cursor_line = page.evaluate(
        "(() => { const t = document.querySelector('textarea#document'); return t.value.slice(0, t.selectionStart); })()"
    )
    cursor_line = cursor_line.count("\n") + 1
    assert cursor_line == line
    expect(page.locator("#hints")).to_contain_text("Values for type")
    expect(page.locator("#hints .hint-values")).to_contain_text("datetime")
    _settle(page)
    page.locator("textarea#document").focus()  # the caret on the problem's line, as the admin sees it
    save_screenshot(page, "schema-json-problem")

    page.evaluate("([at]) => document.querySelector('textarea#document').setSelectionRange(at, at)", [at])
    page.keyboard.type("e")
    expect(_status(page)).to_contain_text("No problems")

    page.locator("#tab-builder").click()
    page.wait_for_load_state("networkidle")
    state = page.locator("#bs-in_review")
    state.locator("summary").click()
    state.locator("button[value='remove_state:in_review']").click()
    expect(page.locator(".alert.ok")).to_be_visible()
    expect(page.locator("#bs-in_review")).to_have_count(0)
    page.locator("#review-button").click()

    question = page.locator("fieldset.question").first
    expect(question).to_contain_text("state:task:in_review")
    expect(question.locator("input[type=radio]").first).to_be_visible()
    page.locator("#apply-button").click()  # no answer yet: refused, nothing applied
    expect(page.locator("#review-error")).to_contain_text("has no answer yet")
    question = page.locator("fieldset.question").first
    question.locator("input[value='in_progress']").check()
    question.scroll_into_view_if_needed()
    _settle(page)
    save_screenshot(page, "schema-review")


def test_move_fields_into_a_new_form_section_in_the_builder(admin_server: Any, open_as: Any) -> None:
    """Can an admin add a form section with the builder, taking fields out of the sections
    they were in, and see it in the JSON and in the form's preview (nothing applied)?"""
    page = open_as(ADMIN, server=admin_server, viewport=VIEWPORT)
    page.goto(EDITOR)
    sections = page.locator("#b-sections").locator("xpath=..")
    expect(sections.locator("#bs-1 summary")).to_contain_text("People")

    add = sections.locator("fieldset.addform")
    add.locator("input[name='add_section:label_en']").fill("Responsibility")
    add.locator("input[name='add_section:label_zh']").fill("职责")
    add.locator("input[name='add_section:fields'][value='owner']").check()
    add.locator("input[name='add_section:fields'][value='priority']").check()
    add.locator("button[value='add_section']").click()

    expect(page.locator(".alert.ok")).to_contain_text("nothing is applied until you review")
    expect(_status(page)).to_have_class("check-status ok")
    sections = page.locator("#b-sections").locator("xpath=..")
    expect(sections.locator("#bs-4 summary")).to_contain_text("Responsibility")
    expect(sections.locator("#bs-4 summary")).to_contain_text("priority, owner")
    expect(sections.locator("#bs-1 summary")).to_contain_text("assignees")
    expect(sections.locator("#bs-1 summary")).not_to_contain_text("owner")
    sections.locator("#bs-4 summary").click()
    sections.locator("#bs-4").scroll_into_view_if_needed()
    _settle(page)
    save_screenshot(page, "schema-sections")

    page.locator("#tab-json").click()
    text = page.locator("textarea#document").input_value()
    assert '"Responsibility"' in text and '"职责"' in text

    page.locator("#tab-preview").click()
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Responsibility")).to_be_visible()
    expect(preview.locator("#f-owner")).to_be_attached()


def test_set_a_lists_columns_and_sort_in_the_builder(admin_server: Any, open_as: Any) -> None:
    """Can an admin change a list view's columns and sort with the builder and see them in
    the JSON (nothing applied)?"""
    page = open_as(ADMIN, server=admin_server, viewport=VIEWPORT)
    page.goto(EDITOR)
    lists = page.locator("#b-lists").locator("xpath=..")
    item = lists.locator("li.bitem").first
    key = item.get_attribute("id").removeprefix("bl-")
    item.locator("summary").click()
    prefix = f"set_list:{key}"
    for box in item.locator(f"input[name='{prefix}:columns']").all():
        box.uncheck()
    item.locator(f"input[name='{prefix}:columns'][value='name']").check()
    item.locator(f"input[name='{prefix}:columns'][value='due_date']").check()
    item.locator(f"select[name='{prefix}:sort_by']").select_option("due_date")
    item.locator(f"input[name='{prefix}:descending']").uncheck()
    item.locator(f"button[value='{prefix}']").click()

    expect(page.locator(".alert.ok")).to_contain_text("nothing is applied until you review")
    expect(_status(page)).to_have_class("check-status ok")
    saved = page.locator(f"#bl-{key}")
    expect(saved.locator("summary")).to_contain_text("name, due_date")
    saved.scroll_into_view_if_needed()
    _settle(page)
    save_screenshot(page, "schema-lists")
    page.locator("#tab-json").click()
    view = json.loads(page.locator("textarea#document").input_value())["entities"]["task"]["views"][key]
    assert view["columns"] == ["name", "due_date"] and view["sort"][0] == "due_date"
