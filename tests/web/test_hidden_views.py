"""A view whose filter or sort reads a field hidden from the reader: shown without them, and
saying so; the same for filters and sorts in the URL, the CSV export and boards."""

from __future__ import annotations

import csv
import io
import re

import pytest

from flowdeck.engine import records, workflow
from tests.support.hiding import hiding_app
from tests.support.web import login

LIST = "/a/demo/task/v/ranked"
NOTICE = "This view is shown without its filter or sort on fields you cannot see: Rank."


@pytest.fixture
def world(db, install, make_user):
    et = install(hiding_app()).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("vic", {"demo": ["viewer"]})
    for title, rank, doing in (("Alpha", 1, False), ("Bravo", 9, False), ("Charlie", 3, True), ("Delta", 7, True)):
        rec = db.run(lambda conn, t=title, r=rank: records.create_record(conn, et, {"title": t, "rank": r}, actor=lead))
        if doing:
            db.run(lambda conn, r=rec: workflow.transition_record(conn, et, r.id, "start", actor=lead))
    return et


def shown(html: str) -> list[str]:
    return re.findall(r">(Alpha|Bravo|Charlie|Delta)<", html)


def csv_titles(response) -> list[str]:
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return [row[0] for row in rows[1:]]


def test_a_view_on_a_hidden_field_is_shown_without_it_and_says_so(client, world):
    """Does the viewer get the view unfiltered and unsorted by the hidden field, with a notice, the lead filtered and sorted?"""
    login(client, "lea")
    html = client.get(LIST).get_data(as_text=True)
    assert shown(html) == ["Bravo", "Delta"] and NOTICE not in html
    client.post("/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)})
    login(client, "vic")
    html = client.get(LIST).get_data(as_text=True)
    assert sorted(shown(html)) == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert NOTICE in html and ">9<" not in html


def test_url_filters_sorts_and_the_export_never_read_a_hidden_field(client, world):
    """Are a filter and a sort on a hidden field in the URL refused, and the CSV of the view unfiltered by it, for the viewer?"""
    login(client, "vic")
    html = client.get(f"{LIST}?rank__gte=5&sort=-rank").get_data(as_text=True)
    assert sorted(shown(html)) == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert "This list has no field “rank” to filter by." in html and "This list cannot be sorted by “-rank”." in html
    exported = client.get("/a/demo/task/export.csv?view=ranked&rank__gte=5")
    assert exported.status_code == 200 and sorted(csv_titles(exported)) == ["Alpha", "Bravo", "Charlie", "Delta"]


def test_a_board_on_a_hidden_field_shows_every_card_and_says_so(app, client, world):
    """Does the board filtering and sorting by a hidden field show the viewer every card, with the notice, the lead the filtered ones?"""
    lead = app.test_client()
    login(lead, "lea")
    html = lead.get("/a/demo/task/v/board").get_data(as_text=True)
    assert shown(html) == ["Bravo", "Delta"] and NOTICE not in html
    login(client, "vic")
    html = client.get("/a/demo/task/v/board").get_data(as_text=True)
    assert sorted(shown(html)) == ["Alpha", "Bravo", "Charlie", "Delta"] and NOTICE in html
