"""SLA badges in a real browser: the board's cards show each live SLA in its tone, and on a
phone (390 px) every badge stays inside its card. With FLOWDECK_SLA_SHOTS=<dir> the board, a
ticket page and the SLA report are saved there at 1280x800 and 390x844 in English and Chinese."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from flowdeck.demo import DEMO_PASSWORD
from flowdeck.engine import clock, users
from flowdeck.engine.apps import apply_document
from flowdeck.engine.permissions import Actor
from tests.support.sla_views import CHECKED_AT, desk_with_views, make_tickets

pytestmark = pytest.mark.browser

AGENT = "ann.agent"
SIZES = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LANG_ATTR = {"en": "en", "zh": "zh-CN"}


@pytest.fixture(scope="module")
def desk(live_server: Any) -> Iterator[dict[str, int]]:
    """The SLA desk on the live server with tickets in every tone; the clock held at 13:45 on Monday."""
    db = live_server.db
    apply_document(db, desk_with_views(), actor=Actor.system(), message="SLA browser test")

    def agent(conn: Any) -> int:
        uid = users.create_user(conn, AGENT, password=DEMO_PASSWORD, display_name="Ann Agent")
        users.grant_role(conn, uid, "desk", "agent")
        return uid

    uid = db.run(agent)
    found = make_tickets(db, live_server.tables("desk", "ticket"), assignee=uid)
    clock.set_now(CHECKED_AT)
    yield found
    clock.set_now(None)


def _use_language(page: Any, lang: str) -> None:
    button = page.locator(f".langswitch button[value={lang}]")
    if button.get_attribute("aria-pressed") != "true":
        with page.expect_navigation():
            button.click()
    expect(page.locator("html")).to_have_attribute("lang", LANG_ATTR[lang])


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("FLOWDECK_SLA_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False, animations="disabled", caret="hide")


@pytest.mark.parametrize("size", ["wide", "phone"])
def test_the_board_shows_sla_badges_that_fit(size: str, desk: dict[str, int], open_as: Any) -> None:
    """Does the board show the breached, warned and running SLAs in red, amber and green, the paused one as paused,
    with every badge inside its card's box at this width?"""
    page = open_as(AGENT, viewport=SIZES[size])
    page.goto("/a/desk/ticket/v/board")
    red = page.locator(f"#k{desk['red']} .slas .badge.sla-red").first
    expect(red).to_contain_text("breached")
    expect(page.locator(f"#k{desk['amber']} .slas .badge.sla-amber").first).to_contain_text("45m left")
    expect(page.locator(f"#k{desk['green']} .slas .badge.sla-green").first).to_contain_text("12h 45m left")
    expect(page.locator(f"#k{desk['paused']} .slas .badge", has_text="paused")).to_have_count(1)
    for key in ("red", "amber", "green", "paused"):
        card = page.locator(f"#k{desk[key]}")
        card.scroll_into_view_if_needed()
        box = card.bounding_box()
        for badge in card.locator(".slas .badge").all():
            inner = badge.bounding_box()
            assert inner["x"] >= box["x"] - 0.5 and inner["x"] + inner["width"] <= box["x"] + box["width"] + 0.5, (key, size)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sla_pages_in_both_languages(lang: str, desk: dict[str, int], open_as: Any) -> None:
    """Do the board, a ticket's SLA panel and the report render in this language at both sizes?"""
    for size, viewport in SIZES.items():
        page = open_as(AGENT, lang=lang, viewport=viewport)
        _use_language(page, lang)
        page.goto("/a/desk/ticket/v/board")
        expect(page.locator(".slas .badge.sla-red").first).to_be_visible()
        _shoot(page, f"board-{lang}-{size}")
        page.goto(f"/a/desk/ticket/{desk['amber']}")
        expect(page.locator("#slas .sla-row")).to_have_count(2)
        if size == "phone":
            page.locator("#slas").scroll_into_view_if_needed()
        _shoot(page, f"ticket-{lang}-{size}")
        page.goto("/a/desk/ticket/sla-report?sla=resolution&period=week&by=priority&from=2026-11-30&to=2026-12-07")
        expect(page.locator("table.sla-report tr.group")).to_have_count(2)
        _shoot(page, f"report-{lang}-{size}")
