"""SLAs on the web: the `sla` field's list cell and sort, badges in each tone on board cards
and in lists, the record page's SLA panel, and the SLA report's counts and permission check.
The clock is held at 13:45 on Monday 7 December 2026 (Shanghai, the `cn` calendar)."""

from __future__ import annotations

import re

import pytest

from flowdeck.engine import clock
from flowdeck.engine.permissions import Actor
from flowdeck.engine.records import update_record
from flowdeck.engine.registry import Catalog
from tests.support.sla_views import CHECKED_AT, desk_with_views, make_tickets
from tests.support.web import signed_in, text


@pytest.fixture
def tickets(db, install, make_user):
    agent = make_user("ann", {"desk": ["agent"]})
    make_user("rex", {"desk": ["requester"]})
    et = install(desk_with_views()).entity("desk", "ticket")
    found = make_tickets(db, et, assignee=agent.user_id)
    clock.set_now(CHECKED_AT)
    yield found
    clock.set_now(None)


def _badges(html: str) -> list[tuple[str, str]]:
    """(tone, "name · time") of each SLA badge ("time" alone for a list cell)."""
    found = re.findall(
        r'<span class="badge sla sla-(\w+)" title="[^"]*">((?:<span class="sla-(?:name|time)">[^<]*</span> ?)+)</span>', html
    )
    return [(tone, " · ".join(re.findall(r">([^<]*)</span>", inner))) for tone, inner in found]


def _card(html: str, record_id: int) -> str:
    match = re.search(rf'<li id="k{record_id}".*?</li>', html, re.S)
    assert match, record_id
    return match.group(0)


def test_board_cards_show_a_badge_per_live_sla_in_its_tone(client, tickets):
    """Does each card show its running, paused or breached SLAs in green, amber or red with the working time left,
    and a met SLA none?"""
    signed_in(client, "ann")
    html = text(client.get("/a/desk/ticket/v/board"))
    assert ("green", "Time to resolution · 12h 45m left") in _badges(_card(html, tickets["green"]))
    assert ("amber", "Time to resolution · 45m left") in _badges(_card(html, tickets["amber"]))
    red = dict((t, s) for t, s in _badges(_card(html, tickets["red"])) if "resolution" in s)
    assert list(red) == ["red"] and re.fullmatch(r"Time to resolution · breached \d+h( \d+m)? ago", red["red"])
    assert ("green", "Time to resolution · paused") in _badges(_card(html, tickets["paused"]))
    assert not [s for _, s in _badges(_card(html, tickets["met"])) if "resolution" in s]


def test_the_board_quick_filter_keeps_what_breaches_within_the_hour(client, tickets):
    """Does the board offer a quick filter per `sla` field, and does it keep only the cards due within the hour
    (the breached one and the one due at 14:30)?"""
    signed_in(client, "ann")
    assert 'name="resolution_due__lte" value="$now+1h"' in text(client.get("/a/desk/ticket/v/board"))
    html = text(client.get("/a/desk/ticket/v/board?resolution_due__lte=%24now%2B1h"))
    shown = {int(i) for i in re.findall(r'<li id="k(\d+)"', html)}
    assert shown == {tickets["red"], tickets["amber"]}
    assert 'value="$now+1h" checked' in html


def test_the_list_shows_the_badge_and_sorts_by_due_time(client, tickets):
    """Is the `sla` column a badge (grey "met" for the resolved ticket), and does sorting by it put the soonest due first?"""
    signed_in(client, "ann")
    html = text(client.get("/a/desk/ticket/v/all?sort=resolution_due"))
    assert ("grey", "met") in _badges(html) and ("amber", "45m left") in _badges(html)
    order = [int(i) for i in re.findall(r'<a class="title" href="/a/desk/ticket/(\d+)"', html)]
    assert order.index(tickets["red"]) < order.index(tickets["amber"]) < order.index(tickets["green"])
    soon = text(client.get("/a/desk/ticket/v/all?resolution_due__lte=%24now%2B1h"))
    titles = re.findall(r'<a class="title" href="/a/desk/ticket/\d+">([^<]*)</a>', soon)
    assert sorted(titles) == ["Mail bounces", "Server down since Friday"]


def test_the_record_page_has_an_sla_panel(client, tickets):
    """Does the record page list each SLA with its goal, due time, elapsed and remaining time and calendar?"""
    signed_in(client, "ann")
    html = text(client.get(f"/a/desk/ticket/{tickets['amber']}"))
    panel = re.search(r'<section class="panel slas-panel".*?</section>', html, re.S)
    assert panel
    body = panel.group(0)
    assert "Time to resolution" in body and "Time to first response" in body
    assert "<dd>4 working hours</dd>" in body and "3h 15m" in body and "45m" in body and "China mainland" in body
    assert "Running, warned" in body


def test_a_met_sla_has_no_time_remaining(client, tickets):
    """Does the panel of a met SLA say "Met" with no time remaining (its leftover goal is not time still to go)?"""
    signed_in(client, "ann")
    html = text(client.get(f"/a/desk/ticket/{tickets['met']}"))
    body = re.search(r'<section class="panel slas-panel".*?</section>', html, re.S).group(0)
    met = next(row for row in body.split('<div class="sla-row">') if "Time to resolution" in row)
    assert "<dd>Met</dd>" in met
    assert "<dt>Remaining</dt><dd>—</dd>" in met


def test_the_report_counts_met_and_breached_per_period_and_priority(client, tickets):
    """Does the report count Friday's breach in the week of 30 November and the met ticket in the week of 7 December,
    per priority, with the share met?"""
    signed_in(client, "ann")
    response = client.get("/a/desk/ticket/sla-report?sla=resolution&period=week&by=priority&from=2026-11-30&to=2026-12-07")
    assert response.status_code == 200
    html = text(response)
    groups = re.findall(r'<tr class="group"><th scope="rowgroup">([^<]*)</th>((?:<td class="num">[^<]*</td>)+)</tr>', html)
    counts = [(head, re.findall(r'<td class="num">([^<]*)</td>', cells)) for head, cells in groups]
    assert [c for _, c in counts] == [["0", "1", "1", "0%"], ["1", "0", "1", "100%"]]
    rows = re.findall(r'<tr><td class="sub">(.*?)</td>((?:<td class="num">[^<]*</td>)+)</tr>', html)
    assert [(re.sub("<[^>]+>", "", label), re.findall(r">([^<]*)</td>", cells)) for label, cells in rows] == [
        ("P1", ["0", "1", "1", "0%"]),
        ("P3", ["1", "0", "1", "100%"]),
    ]


def test_the_report_is_for_readers_only(client, tickets):
    """Is a user who may not read tickets refused the report (and shown no counts), and is the link on the list?"""
    signed_in(client, "rex")
    refused = client.get("/a/desk/ticket/sla-report")
    assert refused.status_code == 403 and "Met" not in text(refused)
    signed_in(client, "ann")
    assert "/a/desk/ticket/sla-report" in text(client.get("/a/desk/ticket/v/all"))
    assert client.get("/a/desk/ticket/sla-report?sla=nope").status_code == 404


@pytest.mark.parametrize(("lang", "word"), [("en", "Unassigned"), ("zh", "未分配")])
def test_the_report_by_a_person_names_the_group_without_one_unassigned(client, db, tickets, lang, word):
    """Grouped by assignee, are the breached ticket nobody holds counted under "Unassigned" (未分配), not "No value"?"""
    et = Catalog(db).current().entity("desk", "ticket")
    db.run(lambda c: update_record(c, et, tickets["red"], {"assignee": None}, actor=Actor.system(), expected_version=None))
    signed_in(client, "ann")
    path = "/a/desk/ticket/sla-report?sla=resolution&period=week&by=assignee&from=2026-11-30&to=2026-12-07"
    html = text(client.get(path, headers={"Accept-Language": lang}))
    rows = re.findall(r'<tr><td class="sub">(.*?)</td>((?:<td class="num">[^<]*</td>)+)</tr>', html)
    labels = [(re.sub("<[^>]+>", "", label), re.findall(r">([^<]*)</td>", cells)[:2]) for label, cells in rows]
    assert (word, ["0", "1"]) in labels and ("Ann", ["1", "0"]) in labels
    assert "No value" not in html and "无值" not in html
