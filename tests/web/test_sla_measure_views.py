"""The measures of `sla` fields on the web: list cells, the list's URL filters and filter bar,
board card values and the record page, at 13:45 on Monday 7 December 2026 (Shanghai), when
the desk's tickets stand in each tone (`tests/support/sla_views.py`)."""

from __future__ import annotations

import re

import pytest

from flowdeck.engine import clock
from tests.support.sla_views import CHECKED_AT, desk_with_views, make_tickets
from tests.support.web import signed_in, text


def document():
    doc = desk_with_views()
    ticket = doc["entities"]["ticket"]
    for key, measure in (("res_state", "status"), ("res_left", "remaining"), ("res_used", "elapsed"), ("res_late", "breached")):
        ticket["fields"][key] = {"type": "sla", "sla": "resolution", "measure": measure, "label": key.replace("_", " ").title()}
    ticket["views"]["m"] = {"type": "list", "columns": ["title", "res_state", "res_left", "res_used", "res_late"]}
    ticket["views"]["mb"] = {"type": "board", "group_by": "state", "card": ["res_state", "res_left", "res_late"]}
    return doc


@pytest.fixture
def tickets(db, install, make_user):
    agent = make_user("ann", {"desk": ["agent"]})
    et = install(document()).entity("desk", "ticket")
    found = make_tickets(db, et, assignee=agent.user_id)
    clock.set_now(CHECKED_AT)
    yield found
    clock.set_now(None)


def _titles(html: str) -> list[str]:
    return sorted(re.findall(r'<a class="title" href="/a/desk/ticket/\d+">([^<]*)</a>', html))


def _row(html: str, record_id: int) -> str:
    match = re.search(rf'<tr[^>]*>(?:(?!</tr>).)*href="/a/desk/ticket/{record_id}".*?</tr>', html, re.S)
    assert match, record_id
    return match.group(0)


def test_list_filters_by_status_and_time_left(client, tickets):
    """Do `res_state=breached`, `res_left__lte=3600` (an hour of working time) and `res_late=1` keep the right
    tickets, in the list's URL like any filter?"""
    signed_in(client, "ann")
    assert _titles(text(client.get("/a/desk/ticket/v/m?res_state=breached"))) == ["Server down since Friday"]
    assert _titles(text(client.get("/a/desk/ticket/v/m?res_left__lte=3600"))) == ["Mail bounces", "Server down since Friday"]
    assert _titles(text(client.get("/a/desk/ticket/v/m?res_late=1"))) == ["Server down since Friday"]
    assert _titles(text(client.get("/a/desk/ticket/v/m?res_state=paused&res_state=met"))) == ["Password reset", "Printer jam"]


def test_list_cells_show_each_measure(client, tickets):
    """Is the status its label, the time left a badge in the SLA's tone ("45m", amber), the time used in hours and
    minutes, and is the time used offered to the filter bar as "empty" only (no range it could answer exactly)?"""
    signed_in(client, "ann")
    html = text(client.get("/a/desk/ticket/v/m?sort=res_left"))
    amber = _row(html, tickets["amber"])
    assert "Running" in amber and '<span class="badge sla sla-amber">45m</span>' in amber and "3h 15m" in amber
    red = _row(html, tickets["red"])
    assert "Breached" in red and re.search(r'<span class="badge sla sla-red">-\d+h( \d+m)?</span>', red)
    assert "Met" in _row(html, tickets["met"]) and "Paused" in _row(html, tickets["paused"])
    assert 'name="res_left__lte"' in html and 'name="res_used__lte"' not in html and 'name="res_used__empty"' in html
    order = [int(i) for i in re.findall(r'<a class="title" href="/a/desk/ticket/(\d+)"', html)]
    assert order.index(tickets["red"]) < order.index(tickets["amber"]) < order.index(tickets["green"])


def test_board_cards_and_the_record_page_show_the_measures(client, tickets):
    """Does a card carry the status, the time left and a "breached" flag when true, and the record page the same?"""
    signed_in(client, "ann")
    html = text(client.get("/a/desk/ticket/v/mb"))
    amber = re.search(rf'<li id="k{tickets["amber"]}".*?</li>', html, re.S).group(0)
    assert "Running" in amber and "45m" in amber and "Res Late" not in amber
    red = re.search(rf'<li id="k{tickets["red"]}".*?</li>', html, re.S).group(0)
    assert "Breached" in red and "Res Late" in red
    assert "res_state__lte" not in html  # the "within the hour" quick filter is the due time's alone
    page = text(client.get(f"/a/desk/ticket/{tickets['amber']}"))
    assert '<span class="badge sla sla-amber">45m</span>' in page and "3h 15m" in page


def test_status_labels_in_chinese(client, tickets):
    """Does a Chinese reader see the status in Chinese, in the SLA badges' colours (超时 in red)?"""
    signed_in(client, "ann")
    html = text(client.get("/a/desk/ticket/v/m?res_state=breached", headers={"Accept-Language": "zh"}))
    assert '<span class="badge bc-b91c1c">超时</span>' in html
