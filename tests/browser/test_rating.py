"""A rating is set with the keyboard alone: the stars are a radio group, so Tab reaches it,
the arrow keys choose a star, the focused star is visibly outlined, and the form saves it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REQUESTER = "sam.requester"


def test_a_rating_is_chosen_with_the_arrow_keys_and_saved(open_as: Any, live_server: Any):
    """Do Tab and the arrow keys choose 3 stars, with a visible focus ring, and does saving store 3?"""
    page = open_as(REQUESTER)
    page.goto("/a/signoff/request/new")
    page.fill("#f-title", "Rated by keyboard")
    page.focus("#f-title")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "satisfaction":
            break
    assert page.evaluate("document.activeElement.name") == "satisfaction"
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#f-satisfaction-3")).to_be_checked()
    focused_label = page.locator('label[for="f-satisfaction-3"]')
    assert focused_label.evaluate("label => getComputedStyle(label).outlineStyle") != "none"
    dimmed = page.locator('label[for="f-satisfaction-4"]').evaluate("label => getComputedStyle(label).color")
    lit = page.locator('label[for="f-satisfaction-3"]').evaluate("label => getComputedStyle(label).color")
    assert dimmed != lit
    with page.expect_navigation():
        page.locator("#record-form").evaluate("form => form.requestSubmit()")
    record_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert live_server.record("signoff", "request", record_id).values["satisfaction"] == 3
    expect(page.locator(".stars").first).to_have_attribute("title", "3/5")
