"""Admin pages of the time features on a phone (390 px): nothing wider than the screen."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from flowdeck.demo import DEMO_PASSWORD
from flowdeck.engine import users
from tests.support.browser import SITE_ADMIN

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def site_admin(live_server: Any) -> str:
    def work(conn: sa.Connection) -> None:
        if users.find_user(conn, SITE_ADMIN) is None:
            users.create_user(conn, SITE_ADMIN, password=DEMO_PASSWORD, display_name="Site Admin", is_admin=True)

    live_server.db.run(work)
    return SITE_ADMIN


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_calendar_page_fits_a_phone(open_as: Any, site_admin: str, lang: str) -> None:
    """Does the China mainland calendar page (its days table, the ICS import's long choices)
    stay within 390 px, and its days' dates and weekdays stay on one line?"""
    page = open_as(site_admin, lang=lang, viewport=PHONE)
    page.goto("/admin/calendars/cn?year=2026")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    lines = page.evaluate(
        """() => [...document.querySelectorAll('table.calendar-days tbody tr')].flatMap(tr =>
            [0, 1, 2, 4].map(i => { const tops = new Set(), walk = document.createTreeWalker(tr.cells[i], NodeFilter.SHOW_TEXT);
                                    for (let t = walk.nextNode(); t; t = walk.nextNode()) { if (!t.data.trim()) continue;
                                        const r = document.createRange(); r.selectNodeContents(t);
                                        for (const b of r.getClientRects()) tops.add(Math.round(b.top)); }
                                    return tops.size; }))"""
    )
    assert lines and max(lines) == 1, lines


@pytest.mark.parametrize("path", ["/admin/automations/", "/admin/jobs/"])
def test_filters_with_long_choices_fit_a_phone(open_as: Any, site_admin: str, path: str) -> None:
    """Do the automation runs' and background jobs' filters (a rule's or a job kind's long
    name among the choices) stay within 390 px?"""
    page = open_as(site_admin, lang="en", viewport=PHONE)
    page.goto(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
