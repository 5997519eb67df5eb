"""The demo's tickets show live SLAs: the Operations ticket board and a ticket's SLA panel
over the demo data, in English and Chinese, at 1280x800 and on a phone (390x844). With
FLOWDECK_SLA_SHOTS=<dir> the pages are saved there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MANAGER = "sun.li"  # operations manager: reads every ticket
SIZES = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
LANG_ATTR = {"en": "en", "zh": "zh-CN"}


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("FLOWDECK_SLA_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False, animations="disabled", caret="hide")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_demo_tickets_show_live_slas(lang: str, demo_server: Any, open_as: Any) -> None:
    """Do the demo's open tickets carry SLA badges on the board, does a ticket page have its SLA panel, and does the
    report count the demo's cycles?"""
    for size, viewport in SIZES.items():
        page = open_as(MANAGER, lang=lang, server=demo_server, viewport=viewport)
        button = page.locator(f".langswitch button[value={lang}]")
        if button.get_attribute("aria-pressed") != "true":
            with page.expect_navigation():
                button.click()
        expect(page.locator("html")).to_have_attribute("lang", LANG_ATTR[lang])
        page.goto("/a/operations/ticket/v/board")
        badges = page.locator(".cards .slas .badge.sla")
        expect(badges.first).to_be_visible()
        assert badges.count() >= 3
        _shoot(page, f"demo-board-{lang}-{size}")
        page.locator(".cards > li:has(.slas) > a").first.click()
        expect(page.locator("#slas .sla-row").first).to_be_visible()
        _shoot(page, f"demo-ticket-{lang}-{size}")
        page.goto("/a/operations/ticket/sla-report?period=month&by=assignee")
        expect(page.locator("table.sla-report")).to_be_visible()
        _shoot(page, f"demo-report-{lang}-{size}")
