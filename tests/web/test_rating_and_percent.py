"""Rating and percent on the web: the star widget posts a rating, lists and board cards show
stars and a percent bar, the filter bar has a number range for both, the record page reads
"3/5", and the builder adds a rating field."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from flowdeck.engine.permissions import Actor
from flowdeck.engine.schema import writing
from flowdeck.engine.storage.tables import EntityTables
from tests.support.documents import builder_app, minimal_app
from tests.support.records import create, fetch
from tests.support.web import csrf_token, field_block, login, signed_in, text, url


def scored_app() -> dict[str, Any]:
    doc = minimal_app()
    task = doc["entities"]["task"]
    task["fields"].update(
        {
            "score": {"type": "rating", "label": {"en": "Satisfaction", "zh": "满意度"}},
            "done": {"type": "percent", "min": 0, "max": 100, "label": {"en": "Done", "zh": "完成度"}},
        }
    )
    task["views"] = {
        "all": {"type": "list", "columns": ["title", "score", "done"]},
        "board": {"type": "board", "group_by": "state", "card": ["score", "done"]},
    }
    return doc


@pytest.fixture
def task(install) -> EntityTables:
    return install(scored_app()).entity("demo", "task")


@pytest.fixture
def lead(make_user) -> Actor:
    return make_user("lea", {"demo": ["lead"]})


def test_the_form_draws_a_star_radio_group(client, task, lead):
    """Is a rating edited with one radio per star plus "no rating", in a fieldset named by the field?"""
    signed_in(client, "lea")
    block = field_block(text(client.get(url(tail="/new"))), "score")
    assert block.startswith('data-field="score"') and "<legend>Satisfaction" in block
    radios = re.findall(r'<input type="radio"[^>]*name="score" value="(\d*)"', block)
    assert radios == ["", "1", "2", "3", "4", "5"]
    assert re.search(r'<input type="radio"[^>]*value=""[^>]* checked', block)
    assert '<span class="visually-hidden">3/5</span>' in block


def test_posting_a_rating_and_a_percent_stores_them(client, db, task, lead):
    """Does the form's post store 4 stars and 62.5 %, and is 6 stars refused next to the field?"""
    token = signed_in(client, "lea")
    response = client.post(url(tail="/new"), data={"csrf_token": token, "title": "Rated", "score": "4", "done": "62.5"})
    assert response.status_code == 303
    record_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert fetch(db, task, record_id).values["score"] == 4
    assert str(fetch(db, task, record_id).values["done"]) == "62.50"
    refused = client.post(url(tail="/new"), data={"csrf_token": token, "title": "Too many", "score": "6"})
    assert refused.status_code == 422
    assert "must be a rating from 1 to 5" in field_block(text(refused), "score")


def test_the_edit_form_checks_the_stored_star(client, db, task, lead):
    """Does the edit form come back with the stored rating's radio checked?"""
    record = create(db, task, lead, title="Kept", score=2)
    signed_in(client, "lea")
    block = field_block(text(client.get(url(record.id, "/edit"))), "score")
    assert re.search(r'<input type="radio"[^>]*value="2"[^>]* checked', block)
    assert not re.search(r'<input type="radio"[^>]*value=""[^>]* checked', block)


def test_list_cells_show_stars_and_a_percent_bar(client, db, task, lead):
    """Does a list cell show ★★★☆☆ read out as 3/5, and a percent as a bar with the number?"""
    create(db, task, lead, title="Good", score=3, done="40")
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/all"))
    assert '<span aria-hidden="true">★★★☆☆</span><span class="visually-hidden"> 3/5</span>' in page
    assert '<meter min="0" max="100" value="40" aria-hidden="true"></meter><span class="num">40%</span>' in page


def test_board_cards_show_stars_and_a_percent_bar(client, db, task, lead):
    """Does a board card show the rating's stars and the percent's bar?"""
    create(db, task, lead, title="Card", score=5, done="100")
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/board"))
    card = page[page.index("Card") :]
    assert "★★★★★" in card and "5/5" in card
    assert '<meter min="0" max="100" value="100"' in card


def test_the_record_page_reads_the_rating_out(client, db, task, lead):
    """Does the record page show the stars with "4/5" for screen readers?"""
    record = create(db, task, lead, title="Shown", score=4)
    signed_in(client, "lea")
    page = text(client.get(url(record.id)))
    assert '<span class="stars" title="4/5"><span aria-hidden="true">★★★★☆</span>' in page


@pytest.mark.parametrize(("query", "expected"), [("score__gte=4", ["High", "Top"]), ("done__lte=30", ["Low"])])
def test_the_filter_bar_has_number_ranges(client, db, task, lead, query, expected):
    """Does the filter bar offer a range for rating and percent, and do the ranges filter?"""
    for title, score, done in (("Low", 1, "20"), ("High", 4, "70"), ("Top", 5, "90")):
        create(db, task, lead, title=title, score=score, done=done)
    signed_in(client, "lea")
    page = text(client.get("/a/demo/task/v/all"))
    assert 'name="score__gte"' in page and 'name="done__lte"' in page
    filtered = text(client.get(f"/a/demo/task/v/all?{query}"))
    titles = re.findall(r'<a class="title" href="[^"]*">([^<]+)</a>', filtered)
    assert sorted(titles) == expected


def test_a_viewer_without_create_rights_cannot_post_a_rating(client, task, make_user):
    """Is posting a rating refused (403) to someone who may not create records?"""
    make_user("otto")
    token = signed_in(client, "otto")
    response = client.post(url(tail="/new"), data={"csrf_token": token, "title": "x", "score": "3"})
    assert response.status_code in (403, 404)


def test_the_builder_adds_a_rating_field(client, install, make_user):
    """Does the builder offer rating by its translated name and add it to the document?"""
    doc = builder_app()
    install(doc)
    make_user("boss", is_admin=True)
    login(client, "boss")
    page = text(client.get("/admin/apps/demo/edit", headers={"Accept-Language": "zh-CN"}))
    assert '<option value="rating">评分（星级）</option>' in page
    data = {
        "csrf_token": csrf_token(client, "/admin/apps/"),
        "document": writing.dumps(doc),
        "entity": "task",
        "action": "add_field",
        "add_field:key": "score",
        "add_field:type": "rating",
    }
    response = client.post("/admin/apps/demo/builder", data=data)
    assert response.status_code == 200
    match = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', text(response), re.DOTALL)
    assert match
    edited = json.loads(html.unescape(match.group(1)))["entities"]["task"]["fields"]
    assert edited["score"]["type"] == "rating"
