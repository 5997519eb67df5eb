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


def test_a_board_never_shows_or_groups_by_a_field_hidden_from_the_reader(app, client, db, install, make_user):
    """Do cards and lanes leave out fields hidden from the viewer (everywhere or in a state), a board grouped by one not offered?"""
    doc = hiding_app()
    fields = doc["entities"]["task"]["fields"]
    fields["level"] = {"type": "select", "options": ["low", "high"]}
    doc["entities"]["task"]["workflow"]["rules"][0]["hidden"].append("level")
    views = doc["entities"]["task"]["views"]
    views["cards"] = {"type": "board", "group_by": "state", "card": ["rank", "cost"], "swimlanes": "watcher"}
    views["levels"] = {"type": "board", "group_by": "level"}
    et = install(doc).entity("demo", "task")
    lead = make_user("lea", {"demo": ["lead"]})
    make_user("vic", {"demo": ["viewer"]})
    todo = db.run(
        lambda conn: records.create_record(conn, et, {"title": "Alpha", "rank": 4242, "cost": 5151, "watcher": lead.user_id}, actor=lead)
    )
    doing = db.run(lambda conn: records.create_record(conn, et, {"title": "Bravo", "cost": 6161}, actor=lead))
    db.run(lambda conn: workflow.transition_record(conn, et, doing.id, "start", actor=lead))
    assert todo.id
    lead_client = app.test_client()
    login(lead_client, "lea")
    seen = lead_client.get("/a/demo/task/v/cards").get_data(as_text=True)
    assert "4,242" in seen and "5,151" in seen and "6,161" in seen and 'class="lane' in seen
    assert lead_client.get("/a/demo/task/v/levels").status_code == 200
    login(client, "vic")
    html = client.get("/a/demo/task/v/cards").get_data(as_text=True)
    assert "Alpha" in html and "Bravo" in html
    assert "4,242" not in html and "6,161" not in html and "5,151" in html
    assert 'class="lane' not in html and "Lea" not in html
    assert client.get("/a/demo/task/v/levels").status_code == 404
    assert client.get("/a/demo/task/v/levels/column/low").status_code == 404
