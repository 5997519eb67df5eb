"""Signing in, the generated form with a show-if field, the language switcher, and hostile
record titles, in a real browser against the live server."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from flowdeck.demo import DEMO_PASSWORD, MARKER_PROJECT

pytestmark = pytest.mark.browser

PAYLOAD = "<img src=x onerror=alert(1)>"
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_login_shows_start_page(browser: Any, live_server: Any) -> None:
    """Does signing in through the form (after being sent there from the start page) land on the start page with the user's apps?"""
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/login"))
        page.fill("#username", "alice")
        page.fill("#password", DEMO_PASSWORD)
        page.click("form.login button[type=submit]")

        expect(page).to_have_url(live_server.url + "/")
        expect(page.locator("main h1")).to_have_text("Welcome, Alice Chen")
        expect(page.locator(".userbox .who")).to_have_text("Alice Chen")
        expect(page.locator(".appgrid .panel h2")).to_have_text(["Operations", "Projects"])
        expect(page.locator("#sidebar").get_by_role("link", name="Tasks", exact=True)).to_be_visible()
    finally:
        context.close()


def test_create_record_with_show_if_field(live_server: Any, open_as: Any) -> None:
    """Does the task form show "Blocked because" only while Blocked is ticked, and does the saved task show every value on its page?"""
    name = f"Label the racks {uuid.uuid4().hex[:8]}"
    page = open_as("li.na")
    page.goto("/a/project/task/new")
    form = page.locator("form#record-form")
    reason = form.locator('[data-field="blocked_reason"]')
    expect(reason).to_be_hidden()

    form.locator("#f-name").fill(name)
    form.locator("#f-project").fill("WMS")
    form.locator("#f-project-results .lookup-option", has_text=MARKER_PROJECT).click()
    expect(form.locator('[data-field="project"] .chips')).to_contain_text(MARKER_PROJECT)
    form.locator("#f-priority").select_option("high")

    form.locator("#f-blocked").check()
    expect(reason).to_be_visible()
    expect(reason.locator(".req")).to_be_visible()  # required_if: blocked
    form.locator("#f-blocked").uncheck()
    expect(reason).to_be_hidden()
    form.locator("#f-blocked").check()
    expect(reason).to_be_visible()
    form.locator("#f-blocked_reason").fill("Waiting for the label printer")

    with page.expect_navigation():
        form.locator(".form-actions button[type=submit].primary").click()

    expect(page).to_have_url(re.compile(r"/a/project/task/\d+$"))
    expect(page.locator(".record-head h1")).to_have_text(name)
    expect(page.locator('[data-field="project"] dd')).to_have_text(MARKER_PROJECT)
    expect(page.locator('[data-field="priority"] dd')).to_have_text("High")
    expect(page.locator('[data-field="blocked"] dd')).to_have_text(re.compile("Yes"))
    expect(page.locator('[data-field="blocked_reason"] dd')).to_have_text("Waiting for the label printer")
    record_id = int(page.url.rsplit("/", 1)[1])
    record = live_server.record("project", "task", record_id)
    assert (record.values["name"], record.values["blocked"], record.values["blocked_reason"]) == (
        name,
        True,
        "Waiting for the label printer",
    )


def test_language_switcher_shows_chinese(open_as: Any) -> None:
    """Does the 中文 button switch the pages to Chinese (schema labels and UI words) and keep it on the next page?"""
    page = open_as("alice")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with page.expect_navigation():
        page.locator(".langswitch button[value=zh]").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".langswitch button[value=zh]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".appgrid .panel h2")).to_have_text(["运营管理", "项目管理"])
    page.goto("/a/project/task/new")  # the choice is remembered
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("main h1")).to_contain_text("任务")
    expect(page.locator('label[for="f-name"]')).to_contain_text("任务名称")
    expect(page.locator('label[for="f-project"]')).to_contain_text("所属项目")
    expect(page.locator("#f-priority option[value=high]")).to_have_text("高")
    for words in (page.locator("form.userbox button"), page.locator(".toplinks a").first, page.locator("form#record-form button.primary")):
        expect(words).to_have_text(CJK)  # the UI's own words, from the Chinese catalog


def test_hostile_title_runs_no_script_on_any_page(live_server: Any, open_as: Any) -> None:
    """Does a change request titled <img src=x onerror=alert(1)> show as text, with no dialog, on every page that lists it?"""
    project = live_server.record_id("project", "project", name=MARKER_PROJECT)
    requester = "li.na"
    record = live_server.create(
        "project",
        "change_request",
        {
            "title": PAYLOAD,
            "project": project,
            "requested_by": live_server.user_id(requester),
            "impact_areas": ["scope"],
            "description": "Adds a bay.\n\n<script>alert(2)</script><img src=y onerror=alert(3)>",
            "scope_impact": PAYLOAD,
        },
        by=requester,
    )
    live_server.transition("project", "change_request", record.id, "submit", by=requester, reason=PAYLOAD)
    live_server.ask_approval("project", "change_request", record.id, "approve", by=requester)

    pages = {
        "wang.fang": [
            "/a/project/change_request/",
            "/a/project/change_request/v/board",
            f"/a/project/change_request/{record.id}",
            "/search?q=onerror",
            "/approvals",
        ],
        requester: ["/my", "/approvals?tab=mine"],
    }
    dialogs: list[str] = []
    visiting = [""]

    def seen(dialog: Any) -> None:
        dialogs.append(f"{visiting[0]}: {dialog.message}")
        dialog.dismiss()

    for username, paths in pages.items():
        page = open_as(username, bypass_csp=True)  # an injected handler would run despite the CSP
        page.on("dialog", seen)
        for path in paths:
            visiting[0] = f"{username} {path}"
            page.goto(path)
            page.wait_for_load_state("load")
            expect(page.get_by_text(PAYLOAD, exact=True).first, f"{path} shows the title as text").to_be_visible()
            expect(page.locator('img[src="x"], img[src="y"], main script'), f"{path} has no injected element").to_have_count(0)
    assert dialogs == []
