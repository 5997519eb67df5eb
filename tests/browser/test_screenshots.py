"""The README's screenshots: a board, a form, a list, a record page and the approvals inbox,
in English and Chinese, at 1280x800, over the demo data alone (what `make run` shows).

The pages are visited and checked on every run; the PNGs are written to docs/screenshots/
only with FLOWDECK_SCREENSHOTS=1 (`make screenshots`), so a normal test run never
touches the committed images.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from flowdeck.demo import MARKER_PROJECT
from tests.support.browser import save_screenshot

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}
PLANNER = "li.na"  # a project manager with tasks, projects and a full sidebar
APPROVER = "sun.li"  # operations manager with several requests waiting in the inbox
RECORD_TASK = "ERP 接口开发 ERP interface"  # a demo task in progress, blocked, with history
NEW_TASK = "上线演练 Cut-over rehearsal"
LANG_ATTR = {"en": "en", "zh": "zh-CN"}


def _use_language(page: Any, lang: str) -> None:
    """Choose the language with the switcher (as a user does) unless it is already on."""
    button = page.locator(f".langswitch button[value={lang}]")
    if button.get_attribute("aria-pressed") != "true":
        with page.expect_navigation():
            button.click()
    expect(page.locator("html")).to_have_attribute("lang", LANG_ATTR[lang])


def _settle(page: Any) -> None:
    """Nothing loading, fonts in, no focus ring: a stable picture."""
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => document.activeElement && document.activeElement.blur())")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshots(lang: str, demo_server: Any, open_as: Any) -> None:
    """Do the board, form, list, record page and approvals inbox render with the demo data in this language?"""
    page = open_as(PLANNER, lang=lang, server=demo_server, viewport=VIEWPORT)
    _use_language(page, lang)

    page.goto("/a/project/task/v/by_priority")
    expect(page.locator("#board .lane").first).to_be_visible()
    assert page.locator("#board ul.cards > li").count() >= 8
    _settle(page)
    save_screenshot(page, f"board-{lang}")

    page.goto("/a/project/task/new")
    form = page.locator("form#record-form")
    form.locator("#f-name").fill(NEW_TASK)
    form.locator("#f-project").fill("WMS")
    form.locator("#f-project-results .lookup-option", has_text=MARKER_PROJECT).click()
    expect(form.locator('[data-field="project"] .chips')).to_contain_text(MARKER_PROJECT)
    page.wait_for_load_state("networkidle")
    page.locator("main h1").click()  # a click outside closes the picker's result list
    expect(form.locator("#f-project-results")).to_be_hidden()
    form.locator("#f-task_type").select_option("deployment")
    form.locator("#f-priority").select_option("high")
    _settle(page)
    save_screenshot(page, f"form-{lang}")

    page.goto("/a/project/project/v/all")
    expect(page.locator("main table tbody tr").first).to_be_visible()
    assert page.locator("main table tbody tr").count() >= 5
    _settle(page)
    save_screenshot(page, f"list-{lang}")

    task = demo_server.record_id("project", "task", name=RECORD_TASK)
    page.goto(f"/a/project/task/{task}")
    expect(page.locator(".record-head h1")).to_have_text(RECORD_TASK)
    expect(page.locator("#history .event").first).to_be_visible()
    _settle(page)
    save_screenshot(page, f"record-{lang}")

    inbox = open_as(APPROVER, lang=lang, server=demo_server, viewport=VIEWPORT)
    _use_language(inbox, lang)
    inbox.goto("/approvals")
    assert inbox.locator("#inbox article.approval-item").count() >= 2
    _settle(inbox)
    save_screenshot(inbox, f"approvals-{lang}")
